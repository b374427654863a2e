"""`contimg photometry measure` and catalogue-driven source selection on simulated images."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.photometry.sources import (
    measure_catalog_sources,
    query_sources_for_image,
    query_sources_for_mosaic,
)

RA0, DEC0 = 150.0, 37.2


@pytest.fixture
def simulated(tmp_path, isolated_settings):
    """A 1024² image with a NaN border, and its sky (wider than the image) as catalogue 'sim'."""
    sky = make_sky(RA0, DEC0, 0.8, seed=21, n_sources=150, min_flux_jy=0.03, max_flux_jy=0.3)
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    sim = simulate_image(
        tmp_path / "img-image-pb.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=1024,
        noise_jy=1e-3,
        pb=None,
        nan_border_pix=30,
        seed=21,
    )
    catalog = tmp_path / "sky.csv"
    out = Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    )
    out.write(catalog, format="ascii.csv")
    upgrade()
    ingest_catalog(catalog, "sim")
    return sim


def test_sources_cover_the_valid_footprint(simulated):
    truth = simulated.truth
    sources = query_sources_for_image(simulated.path, "sim")
    x, y = np.asarray(truth["x_pix"]), np.asarray(truth["y_pix"])
    on_valid = (x > 29.5) & (x < 993.5) & (y > 29.5) & (y < 993.5)
    in_field = set(np.asarray(sources["name"])[np.asarray(sources["in_field"])])
    assert in_field == set(np.asarray(truth["name"])[on_valid])
    # Sources just off the valid area are kept as neighbours, far ones are not returned.
    assert len(sources) > len(in_field)
    assert len(sources) < len(truth)
    assert len(query_sources_for_mosaic(simulated.path, "sim")) == len(sources)


def test_measure_catalog_sources_recovers_injected_fluxes(simulated):
    table = measure_catalog_sources(simulated.path, "sim")
    truth = simulated.truth
    peak = dict(zip(truth["name"], truth["peak_jyb"]))
    ratio = np.array([row["peak_jyb"] / peak[row["name"]] for row in table if row["flags"] == 0])
    assert ratio.size >= 15
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)
    assert np.all(table["source_id"] > 0)
    assert table.meta["catalog"] == "sim"


def test_cli_measure_with_catalog_writes_csv(simulated, tmp_path):
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app,
        ["photometry", "measure", str(simulated.path), "--catalog", "sim", "--output", str(out)],
    )
    assert result.exit_code == 0, result.output
    table = Table.read(out, format="ascii.csv")
    for column in (
        "name",
        "ra_deg",
        "dec_deg",
        "peak_jyb",
        "peak_err_jyb",
        "local_rms_jyb",
        "snr",
        "chisq",
        "dof",
        "group_id",
        "flags",
        "flag_names",
    ):
        assert column in table.colnames


@pytest.mark.parametrize(
    "fmt, reader", [("csv", "ascii.csv"), ("parquet", "parquet"), ("votable", "votable")]
)
def test_cli_measure_positions_in_input_order(simulated, tmp_path, fmt, reader):
    x, y = np.asarray(simulated.truth["x_pix"]), np.asarray(simulated.truth["y_pix"])
    truth = simulated.truth[(x > 100) & (x < 924) & (y > 100) & (y < 924)][:5]
    positions = tmp_path / "pos.csv"
    lines = ["name,ra_deg,dec_deg,comment"]
    lines += [f"{r['name']},{r['ra_deg']},{r['dec_deg']},x" for r in truth]
    lines.append("offimage,10.0,-20.0,y")
    lines.append("badcoord,10.0,95.0,z")
    positions.write_text("\n".join(lines) + "\n")
    out = tmp_path / f"out.{fmt}"
    result = CliRunner().invoke(
        app,
        [
            "photometry",
            "measure",
            str(simulated.path),
            "--positions",
            str(positions),
            "-o",
            str(out),
            "--format",
            fmt,
        ],
    )
    assert result.exit_code == 0, result.output
    table = Table.read(out, format=reader)
    assert list(table["name"]) == list(truth["name"]) + ["offimage", "badcoord"]
    peaks = np.ma.filled(np.ma.asarray(table["peak_jyb"], dtype=float), np.nan)
    assert np.isnan(peaks[-2:]).all() and np.isfinite(peaks[:5]).all()
    assert "off_image" in str(table["flag_names"][-2])


def test_cli_reports_bad_inputs(simulated, tmp_path):
    runner = CliRunner()
    positions = tmp_path / "pos.csv"
    positions.write_text("name,ra,dec\na,1,2\n")
    result = runner.invoke(
        app, ["photometry", "measure", str(simulated.path), "--positions", str(positions)]
    )
    assert result.exit_code == 2 and "missing column(s) ra_deg, dec_deg" in result.output
    nobeam = simulate_image(
        tmp_path / "nobeam.fits",
        simulated.truth[:3],
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=128,
        pb=None,
        beam_in="none",
        seed=1,
    )
    positions.write_text("ra_deg,dec_deg\n150.0,37.2\n")
    result = runner.invoke(
        app, ["photometry", "measure", str(nobeam.path), "--positions", str(positions)]
    )
    assert result.exit_code == 2 and "no restoring beam" in result.output
    result = runner.invoke(
        app,
        [
            "photometry",
            "measure",
            str(nobeam.path),
            "--positions",
            str(positions),
            "--beam",
            "58,18,110",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["photometry", "measure", str(simulated.path), "--catalog", "unknown"]
    )
    assert result.exit_code == 2 and "unknown catalogue 'unknown'" in result.output
    corrupt = tmp_path / "corrupt.fits"
    corrupt.write_bytes(b"not fits at all")
    result = runner.invoke(
        app, ["photometry", "measure", str(corrupt), "--positions", str(positions)]
    )
    assert result.exit_code == 2 and "not a readable FITS image" in result.output
