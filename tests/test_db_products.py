"""Products database and data registry on SQLite and a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import sqlite3
import time

import numpy as np
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from astropy.table import Table
from astropy.time import Time
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.config import get_settings
from dsa110_contimg.database.data_registry import (
    InvalidTransitionError,
    UnknownDataError,
    finalize_data,
    get_data_lineage,
    get_photometry_status,
    link_data,
    link_photometry_to_data,
    register_data,
    trigger_auto_publish,
    update_photometry_status,
)
from dsa110_contimg.database.migrate import alembic_config, current_revision, upgrade
from dsa110_contimg.database.products import (
    light_curve,
    params_hash,
    photometry_for_product,
    photometry_insert,
    sources_in_cone,
)
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.photometry.sources import measure_catalog_sources

RA0, DEC0 = 150.0, 37.2
DATES = ["2026-03-05T10:00:00", "2026-01-02T03:00:00", "2026-02-10T22:30:00"]


@pytest.fixture
def epochs(tmp_path, db_url):
    """Three simulated epochs of one field (DATE-OBS out of file order) and their catalogue."""
    sky = make_sky(RA0, DEC0, 0.25, seed=5, n_sources=60, min_flux_jy=0.02, max_flux_jy=0.2)
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    catalogue = tmp_path / "sky.csv"
    Table({"name": sky["name"], "ra_deg": sky["ra_deg"], "dec_deg": sky["dec_deg"],
           "flux_mjy": sky["flux_jy"] * 1e3}).write(catalogue, format="ascii.csv")
    ingest_catalog(catalogue, "sim", url=db_url)
    paths = []
    for k, date in enumerate(DATES):
        sim = simulate_image(tmp_path / f"epoch{k}-image-pb.fits", sky, center_ra_deg=RA0,
                             center_dec_deg=DEC0, npix=640, pb=None, date_obs=date, seed=k)
        os.utime(sim.path, (time.time() - 1000 * k, time.time() - 1000 * k))
        paths.append(sim.path)
    return paths


def test_schema_is_created_by_alembic(db_url):
    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert current_revision(db_url) == head
    upgrade(db_url)  # idempotent
    assert current_revision(db_url) == head
    command.check(alembic_config(db_url))  # raises if the models and migrations disagree


def test_register_is_idempotent_and_ids_are_readable(epochs, db_url):
    first = register_data(epochs[0], "image", url=db_url)
    assert first == register_data(epochs[0], "image", url=db_url)
    assert first.startswith("image-20260305T100000-")
    assert register_data(epochs[1], "image", url=db_url) != first
    with pytest.raises(ValueError, match="data_type"):
        register_data(epochs[0], "cube", url=db_url)


def test_photometry_reinsert_replaces_rows(epochs, db_url):
    data_id = register_data(epochs[0], url=db_url)
    table = measure_catalog_sources(epochs[0], "sim", url=db_url)
    phash = params_hash({"catalog": "sim"})
    n = photometry_insert(data_id, table, params_hash=phash, job_id=7, url=db_url)
    assert n == len(table) > 10
    stored = photometry_for_product(data_id, url=db_url)
    assert len(stored) == n
    table["peak_jyb"] *= 2
    assert photometry_insert(data_id, table, params_hash=phash, url=db_url) == n
    again = photometry_for_product(data_id, url=db_url)
    assert len(again) == n
    np.testing.assert_allclose(np.nan_to_num(again["peak_jyb"]),
                               np.nan_to_num(2 * stored["peak_jyb"]), rtol=1e-6)
    photometry_insert(data_id, table, params_hash=params_hash({"catalog": "other"}),
                      url=db_url)
    assert len(photometry_for_product(data_id, url=db_url)) == 2 * n
    with pytest.raises(UnknownDataError):
        photometry_insert("image-nope", table, params_hash=phash, url=db_url)


def test_light_curve_uses_header_times_in_order(epochs, db_url):
    phash = params_hash({"catalog": "sim"})
    for path in epochs:
        data_id = register_data(path, url=db_url)
        photometry_insert(data_id, measure_catalog_sources(path, "sim", url=db_url),
                          params_hash=phash, url=db_url)
    source = int(measure_catalog_sources(epochs[0], "sim", url=db_url)["source_id"][0])
    curve = light_curve(source, url=db_url)
    assert len(curve) == 3
    expected = sorted(Time(d).mjd + 150 / 86400 for d in DATES)  # mid-exposure
    np.testing.assert_allclose(curve["mjd"], expected, atol=1e-6)
    cone = sources_in_cone("sim", RA0, DEC0, 0.2, url=db_url)
    measured = cone[np.isfinite(cone["latest_mjd"])]
    assert len(measured) > 0
    assert np.allclose(measured["latest_mjd"], max(expected))


def test_photometry_status_transitions(epochs, db_url):
    data_id = register_data(epochs[0], url=db_url)
    assert get_photometry_status(data_id, url=db_url).status is None
    with pytest.raises(InvalidTransitionError, match="cannot go from None to 'running'"):
        update_photometry_status(data_id, "running", url=db_url)
    update_photometry_status(data_id, "pending", job_id=3, url=db_url)
    update_photometry_status(data_id, "running", url=db_url)
    with pytest.raises(InvalidTransitionError, match="needs a reason"):
        update_photometry_status(data_id, "failed", url=db_url)
    status = update_photometry_status(data_id, "failed", error="corrupt FITS: bad header",
                                      url=db_url)
    assert status.terminal and status.error == "corrupt FITS: bad header"
    assert get_photometry_status(data_id, url=db_url).job_id == 3
    with pytest.raises(InvalidTransitionError):
        update_photometry_status(data_id, "completed", url=db_url)
    update_photometry_status(data_id, "pending", url=db_url)  # retry after a fix
    update_photometry_status(data_id, "running", url=db_url)
    update_photometry_status(data_id, "pending", url=db_url)  # lease expired
    update_photometry_status(data_id, "running", url=db_url)
    status = update_photometry_status(data_id, "completed", n_measured=20, n_failed=1,
                                      url=db_url)
    assert (status.status, status.error, status.n_measured) == ("completed", None, 20)
    update_photometry_status(data_id, "pending", url=db_url)  # reprocess
    link_photometry_to_data(data_id, 11, url=db_url)
    assert get_photometry_status(data_id, url=db_url).job_id == 11
    with pytest.raises(UnknownDataError):
        get_photometry_status("image-unknown", url=db_url)


def test_publish_waits_for_terminal_photometry(epochs, db_url, tmp_path):
    data_id = register_data(epochs[0], url=db_url)
    update_photometry_status(data_id, "pending", url=db_url)
    assert not finalize_data(data_id, url=db_url)
    assert trigger_auto_publish(data_id, tmp_path / "published", url=db_url) is None
    assert epochs[0].exists()
    assert trigger_auto_publish(data_id, tmp_path / "published", url=db_url,
                                wait_for_photometry=False) is not None
    assert not epochs[0].exists()
    other = register_data(epochs[1], url=db_url)
    update_photometry_status(other, "pending", url=db_url)
    update_photometry_status(other, "running", url=db_url)
    update_photometry_status(other, "completed", n_measured=5, url=db_url)
    target = trigger_auto_publish(other, tmp_path / "published", url=db_url)
    assert target.is_file() and not epochs[1].exists()
    # Publishing changes the path, never the identity.
    assert register_data(target, url=db_url) == other


def test_lineage(epochs, db_url):
    parents = [register_data(p, url=db_url) for p in epochs[:2]]
    child = register_data(epochs[2], "mosaic", url=db_url)
    for parent in parents:
        link_data(parent, child, "mosaic_input", url=db_url)
        link_data(parent, child, "mosaic_input", url=db_url)
    lineage = get_data_lineage(child, url=db_url)
    assert sorted(p["data_id"] for p in lineage["parents"]) == sorted(parents)
    assert get_data_lineage(parents[0], url=db_url)["children"] == [
        {"data_id": child, "relationship": "mosaic_input"}]


def test_old_registry_database_is_upgraded_in_place(tmp_path, monkeypatch):
    """A registry made by the original DSA-110 code (no photometry columns) keeps every row."""
    path = tmp_path / "products.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE data_registry (
            id INTEGER PRIMARY KEY AUTOINCREMENT, data_type TEXT NOT NULL,
            data_id TEXT NOT NULL UNIQUE, base_path TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'staging', stage_path TEXT NOT NULL,
            published_path TEXT, created_at REAL NOT NULL, staged_at REAL NOT NULL,
            published_at REAL, publish_mode TEXT, metadata_json TEXT, qa_status TEXT,
            validation_status TEXT, finalization_status TEXT DEFAULT 'pending',
            auto_publish_enabled INTEGER DEFAULT 1, UNIQUE(data_type, data_id));
        CREATE TABLE data_relationships (
            id INTEGER PRIMARY KEY AUTOINCREMENT, parent_data_id TEXT NOT NULL,
            child_data_id TEXT NOT NULL, relationship_type TEXT NOT NULL,
            FOREIGN KEY (parent_data_id) REFERENCES data_registry(data_id),
            FOREIGN KEY (child_data_id) REFERENCES data_registry(data_id),
            UNIQUE(parent_data_id, child_data_id, relationship_type));
        CREATE INDEX idx_data_registry_status ON data_registry(status);
        CREATE TABLE images (id INTEGER PRIMARY KEY, path TEXT);
    """)
    rows = [(t, f"{t}_{i}", "/stage", "published" if i % 2 else "staging", f"/stage/{t}_{i}",
             f"/data/{t}_{i}" if i % 2 else None, 1.7e9 + i, 1.7e9 + i, json.dumps({"i": i}),
             "passed")
            for i in range(50) for t in ("image", "mosaic")]
    conn.executemany("INSERT INTO data_registry (data_type, data_id, base_path, status, "
                     "stage_path, published_path, created_at, staged_at, metadata_json, "
                     "qa_status) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("INSERT INTO data_relationships (parent_data_id, child_data_id, "
                 "relationship_type) VALUES ('image_0', 'mosaic_0', 'input')")
    conn.execute("INSERT INTO images (path) VALUES ('/stage/x.fits')")
    conn.commit()
    before = conn.execute("SELECT * FROM data_registry ORDER BY id").fetchall()
    conn.close()

    url = f"sqlite:///{path}"
    monkeypatch.setenv("CONTIMG_DATABASE_URL", url)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(data_registry)")]
    assert {"photometry_status", "photometry_job_id", "photometry_error"} <= set(columns)
    after = conn.execute(f"SELECT {', '.join(columns[:16])} FROM data_registry ORDER BY id")
    assert after.fetchall() == before
    assert conn.execute("SELECT COUNT(*) FROM images").fetchone() == (1,)
    conn.close()
    assert get_data_lineage("mosaic_0", url=url)["parents"] == [
        {"data_id": "image_0", "relationship": "input"}]
    update_photometry_status("image_3", "pending", url=url)
    assert get_photometry_status("image_3", url=url).status == "pending"


def test_cli_data_views(epochs, sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CONTIMG_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    ingest_catalog(tmp_path / "sky.csv", "sim", url=sqlite_url)
    data_id = register_data(epochs[0], url=sqlite_url)
    other = register_data(epochs[1], "mosaic", url=sqlite_url)
    update_photometry_status(other, "pending", url=sqlite_url)
    update_photometry_status(other, "failed", error="no beam in header", url=sqlite_url)
    photometry_insert(data_id, measure_catalog_sources(epochs[0], "sim", url=sqlite_url),
                      params_hash="abc", url=sqlite_url)
    runner = CliRunner()
    out = runner.invoke(app, ["data", "list", "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert {r["data_id"] for r in rows} == {data_id, other}
    out = runner.invoke(app, ["data", "list", "--photometry-status", "failed", "--json"])
    failed = [json.loads(line) for line in out.output.splitlines()]
    assert [r["photometry_error"] for r in failed] == ["no beam in header"]
    out = runner.invoke(app, ["data", "show", other, "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["photometry_status"] == "failed"
    assert runner.invoke(app, ["data", "show", "nope"]).exit_code == 2
    target = tmp_path / "phot.votable"
    out = runner.invoke(app, ["data", "photometry", data_id, "--format", "votable", "-o",
                              str(target)])
    assert out.exit_code == 0, out.output
    assert len(Table.read(target, format="votable")) > 10


def test_cli_lightcurve_table_and_plot(epochs, sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CONTIMG_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    ingest_catalog(tmp_path / "sky.csv", "sim", url=sqlite_url)
    for path in epochs:
        data_id = register_data(path, url=sqlite_url)
        photometry_insert(data_id, measure_catalog_sources(path, "sim", url=sqlite_url),
                          params_hash="abc", url=sqlite_url)
    table = measure_catalog_sources(epochs[0], "sim", url=sqlite_url)
    name, source_id = str(table["name"][0]), int(table["source_id"][0])
    runner = CliRunner()
    out = tmp_path / "lc.parquet"
    png = tmp_path / "lc.png"
    result = runner.invoke(app, ["lightcurve", name, "--plot", str(png), "--format", "parquet",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    curve = Table.read(out, format="parquet")
    assert list(curve.colnames[:7]) == ["data_id", "mjd", "peak_jyb", "peak_err_jyb",
                                         "normalized_flux_jy", "normalized_flux_err_jy", "flags"]
    assert len(curve) == 3 and np.all(np.diff(curve["mjd"]) > 0)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    result = runner.invoke(app, ["lightcurve", str(source_id)])
    assert result.exit_code == 0 and result.output.count("\n") == 4
    result = runner.invoke(app, ["lightcurve", "no such source"])
    assert result.exit_code == 2 and "no catalogue source" in result.output


def test_parameter_set_migration_keeps_photometry_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url, "0004")  # photometry keyed by a text params hash
    conn = sqlite3.connect(path)
    conn.executescript("""
        INSERT INTO catalog (id, name, n_sources) VALUES (1, 'c', 2);
        INSERT INTO catalog_source (id, catalog_id, name, ra_deg, dec_deg, zone)
            VALUES (1, 1, 'a', 0, 0, 0), (2, 1, 'b', 0, 0, 0);
        INSERT INTO data_registry (data_type, data_id, base_path, status, stage_path,
            created_at, staged_at) VALUES ('image', 'i1', '/', 'staging', '/1', 0, 0);
        INSERT INTO product (id, data_id, data_type, pb_corrected) VALUES (1, 'i1', 'image', 0);
        INSERT INTO photometry (product_id, source_id, params_hash, ra_deg, dec_deg, flags,
            peak_jyb) VALUES (1, 1, 'aaaa', 0, 0, 0, 0.5), (1, 2, 'bbbb', 0, 0, 0, 0.7);
    """)
    conn.commit()
    conn.close()
    upgrade(url)
    stored = photometry_for_product("i1", url=url)
    assert sorted(zip(stored["params_hash"], stored["peak_jyb"])) == [("aaaa", 0.5),
                                                                       ("bbbb", 0.7)]
    assert len(photometry_for_product("i1", params_hash="aaaa", url=url)) == 1
