"""``contimg data`` and ``contimg lightcurve`` views of the registry and the photometry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.config import get_settings
from dsa110_contimg.database.products import photometry_insert
from dsa110_contimg.database.registry import (
    link_data,
    register_data,
    update_photometry_status,
)
from dsa110_contimg.photometry.sources import measure_catalog_sources


@pytest.fixture
def configured(sim_field, sqlite_url, monkeypatch):
    """The simulated field ingested into the configured (SQLite) database."""
    monkeypatch.setenv("CONTIMG_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    ingest_catalog(sim_field[0], "sim", url=sqlite_url)
    return sim_field[1], sqlite_url


def test_cli_data_views(configured, tmp_path):
    epochs, url = configured
    data_id = register_data(epochs[0], url=url)
    other = register_data(epochs[1], "mosaic", url=url)
    link_data(data_id, other, "mosaic_input", url=url)
    update_photometry_status(other, "pending", url=url)
    update_photometry_status(other, "failed", error="no beam in header", url=url)
    table = measure_catalog_sources(epochs[0], "sim", url=url)
    photometry_insert(data_id, table, params_hash="abc", url=url)
    runner = CliRunner()
    out = runner.invoke(app, ["data", "list", "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert {r["data_id"] for r in rows} == {data_id, other}
    out = runner.invoke(app, ["data", "list", "--photometry-status", "failed", "--json"])
    failed = [json.loads(line) for line in out.output.splitlines()]
    assert [r["photometry_error"] for r in failed] == ["no beam in header"]
    out = runner.invoke(app, ["data", "list", "--type", "image", "--json"])
    assert [json.loads(line)["data_id"] for line in out.output.splitlines()] == [data_id]
    assert runner.invoke(app, ["data", "list", "--type", "cube"]).exit_code == 2
    assert runner.invoke(app, ["data", "list", "--photometry-status", "done"]).exit_code == 2
    assert data_id in runner.invoke(app, ["data", "list"]).output

    out = runner.invoke(app, ["data", "show", other, "--json"])
    shown = json.loads(out.output)
    assert (shown["photometry_status"], shown["photometry_error"]) == (
        "failed",
        "no beam in header",
    )
    assert shown["lineage"]["parents"] == [{"data_id": data_id, "relationship": "mosaic_input"}]
    assert "no beam in header" in runner.invoke(app, ["data", "show", other]).output
    assert runner.invoke(app, ["data", "show", "nope"]).exit_code == 2

    target = tmp_path / "phot.votable"
    out = runner.invoke(
        app, ["data", "photometry", data_id, "--format", "votable", "-o", str(target)]
    )
    assert out.exit_code == 0, out.output
    assert len(Table.read(target, format="votable")) == len(table)
    out = runner.invoke(app, ["data", "photometry", data_id])
    assert out.exit_code == 0 and out.output.count("\n") == len(table) + 1
    assert runner.invoke(app, ["data", "photometry", data_id, "--format", "parquet"]).exit_code == 2
    assert runner.invoke(app, ["data", "photometry", "nope"]).exit_code == 2


def test_cli_lightcurve_table_and_plot(configured, tmp_path):
    epochs, url = configured
    for path in epochs:
        data_id = register_data(path, url=url)
        photometry_insert(
            data_id, measure_catalog_sources(path, "sim", url=url), params_hash="abc", url=url
        )
    table = measure_catalog_sources(epochs[0], "sim", url=url)
    name, source_id = str(table["name"][0]), int(table["source_id"][0])
    runner = CliRunner()
    out = tmp_path / "lc.parquet"
    png = tmp_path / "lc.png"
    result = runner.invoke(
        app, ["lightcurve", name, "--plot", str(png), "--format", "parquet", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    curve = Table.read(out, format="parquet")
    assert list(curve.colnames[:7]) == [
        "data_id",
        "mjd_mid",
        "peak_jyb",
        "peak_err_jyb",
        "peak_norm_jyb",
        "peak_norm_err_jyb",
        "flags",
    ]
    assert len(curve) == 3 and np.all(np.diff(curve["mjd_mid"]) > 0)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    result = runner.invoke(app, ["lightcurve", str(source_id)])
    assert result.exit_code == 0 and result.output.count("\n") == 4
    result = runner.invoke(app, ["lightcurve", "no such source"])
    assert result.exit_code == 2 and "no catalogue source" in result.output

    # Merged over epochs to a target S/N far above one epoch's: one point spanning all three.
    result = runner.invoke(app, ["lightcurve", str(source_id), "--bin-snr", "1e6"])
    assert result.exit_code == 0, result.output
    (point,) = Table.read(result.stdout, format="ascii.csv")
    assert point["n_epochs"] == 3 and point["upper_limit"] in (True, "True")
    assert (point["mjd_first"], point["mjd_last"]) == (curve["mjd_mid"][0], curve["mjd_mid"][-1])
