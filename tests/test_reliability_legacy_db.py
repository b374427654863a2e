"""Upgrading a products database left by the original DSA-110 code: every old row kept, the
measurements that can be mapped become rows of the new schema, a failed upgrade changes
nothing, a rerun works, ``--dry-run`` changes nothing."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
from astropy.table import Table
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.database.legacy import name_position
from dsa110_contimg.database.migrate import current_revision
from dsa110_contimg.database.products import light_curve
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 150.0, 37.2

#: The original schemas (products database and registry) with every column the issue lists.
ORIGINAL_SCHEMA = """
CREATE TABLE images (id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, ms_path TEXT,
    created_at REAL, type TEXT, beam_major_arcsec REAL, noise_jy REAL);
CREATE TABLE photometry (id INTEGER PRIMARY KEY, source_id TEXT,
    image_path TEXT NOT NULL REFERENCES images(path), ra_deg REAL, dec_deg REAL,
    nvss_flux_mjy REAL, peak_jyb REAL NOT NULL, peak_err_jyb REAL, measured_at REAL NOT NULL,
    snr REAL, mjd REAL, flux_jy REAL, flux_err_jy REAL, normalized_flux_jy REAL,
    normalized_flux_err_jy REAL, mosaic_path TEXT, sep_from_center_deg REAL, local_rms REAL,
    rms_jy REAL, peak_flux_jy REAL, quality_flag TEXT, flags INTEGER);
CREATE TABLE batch_jobs (id INTEGER PRIMARY KEY, type TEXT, created_at REAL, status TEXT,
    total_items INTEGER, completed_items INTEGER, failed_items INTEGER, params TEXT);
CREATE TABLE batch_job_items (id INTEGER PRIMARY KEY, batch_id INTEGER, ms_path TEXT,
    status TEXT, error TEXT, started_at REAL, completed_at REAL, data_id TEXT);
CREATE TABLE data_registry (id INTEGER PRIMARY KEY AUTOINCREMENT, data_type TEXT NOT NULL,
    data_id TEXT NOT NULL UNIQUE, base_path TEXT NOT NULL, status TEXT NOT NULL DEFAULT
    'staging', stage_path TEXT NOT NULL, published_path TEXT, created_at REAL NOT NULL,
    staged_at REAL NOT NULL, published_at REAL, publish_mode TEXT, metadata_json TEXT,
    qa_status TEXT, validation_status TEXT, finalization_status TEXT DEFAULT 'pending',
    auto_publish_enabled INTEGER DEFAULT 1, photometry_status TEXT DEFAULT NULL,
    photometry_job_id TEXT DEFAULT NULL, UNIQUE(data_type, data_id));
CREATE TABLE data_relationships (id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_data_id TEXT NOT NULL, child_data_id TEXT NOT NULL, relationship_type TEXT NOT NULL,
    UNIQUE(parent_data_id, child_data_id, relationship_type));
"""


#: Older files have only the first nine columns of the original ``photometry`` table.
NINE_COLUMNS = (
    "CREATE TABLE photometry (id INTEGER PRIMARY KEY, source_id TEXT, "
    "image_path TEXT NOT NULL REFERENCES images(path), ra_deg REAL, dec_deg REAL, "
    "nvss_flux_mjy REAL, peak_jyb REAL NOT NULL, peak_err_jyb REAL, "
    "measured_at REAL NOT NULL);"
)


def _original_database(tmp_path, url: str, *, bad_job_id: bool = False, nine_columns: bool = False):
    """A products database as the original code left it at ``url``, with rows in every table;
    the sky whose sources the rows measured; the FITS images they name (one of them gone)."""
    sky = make_sky(RA0, DEC0, 0.05, seed=11, n_sources=6, min_flux_jy=0.1, max_flux_jy=0.3)
    images = [
        simulate_image(
            tmp_path / f"old{k}-image-pb.fits",
            sky,
            center_ra_deg=RA0,
            center_dec_deg=DEC0,
            npix=200,
            pb=None,
            seed=k,
            date_obs=f"2025-0{k + 1}-01T00:00:00",
        ).path
        for k in range(2)
    ]
    gone = tmp_path / "deleted-image-pb.fits"
    schema = ORIGINAL_SCHEMA
    if nine_columns:
        start = schema.index("CREATE TABLE photometry")
        schema = schema[:start] + NINE_COLUMNS + schema[schema.index(";", start) + 1 :]
    engine = get_engine(url)
    if engine.dialect.name == "postgresql":  # the same tables in PostgreSQL's types
        schema = (
            schema.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "SERIAL PRIMARY KEY")
            .replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY")
            .replace("REAL", "DOUBLE PRECISION")
        )
    with engine.begin() as conn:
        for statement in filter(str.strip, schema.split(";")):
            conn.execute(text(statement))
        for k, image in enumerate([*images, gone]):
            conn.execute(
                text(
                    "INSERT INTO images (path, ms_path, created_at, type) VALUES "
                    "(:path, :ms, :at, '5min')"
                ),
                {"path": str(image), "ms": f"/old/obs{k}.ms", "at": 1.7e9 + k},
            )
            for j, source in enumerate(sky):
                ra, dec = float(source["ra_deg"]) + 1e-4, float(source["dec_deg"])
                # One row has no position, only its name (truncated coordinates).
                name, known = (
                    (_truncated_name(ra, dec), False)
                    if (k, j) == (1, 0)
                    else (f"J{j:06d}+370000", True)
                )
                conn.execute(
                    text(
                        "INSERT INTO photometry (source_id, image_path, ra_deg, dec_deg, "
                        "nvss_flux_mjy, peak_jyb, peak_err_jyb, measured_at) VALUES (:name, :path, "
                        ":ra, :dec, :nvss, :peak, 0.001, :at)"
                    ),
                    {
                        "name": name,
                        "path": str(image),
                        "ra": ra if known else None,
                        "dec": dec if known else None,
                        "nvss": 1e3 * float(source["flux_jy"]),
                        "peak": float(source["flux_jy"]),
                        "at": 1.7e9 + k,
                    },
                )
        conn.execute(
            text(
                "INSERT INTO photometry (source_id, image_path, ra_deg, dec_deg, "
                "peak_jyb, peak_err_jyb, measured_at) VALUES ('J000000+000000', "
                ":path, 10.0, 0.0, 0.5, 0.01, 1.7e9)"
            ),
            {"path": str(images[0])},
        )  # no source there
        if not nine_columns:  # the later columns: the old mjd is what the new rows keep
            conn.execute(
                text(
                    "UPDATE photometry SET snr = 100.0, mjd = 60676.5 + CASE WHEN "
                    "image_path LIKE '%old1%' THEN 31 ELSE 0 END"
                )
            )
        conn.execute(
            text(
                "INSERT INTO batch_jobs (type, created_at, status, total_items, "
                "completed_items, failed_items, params) VALUES ('photometry', 1.7e9, "
                "'completed', 1, 1, 0, '{\"catalog\": \"nvss\"}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO batch_job_items (batch_id, ms_path, status, data_id) "
                "VALUES (1, :item, 'done', 'image_0')"
            ),
            {"item": f"{images[0]}:150.0:37.2"},
        )
        conn.execute(
            text(
                "INSERT INTO data_registry (data_type, data_id, base_path, stage_path, "
                "created_at, staged_at, photometry_job_id) VALUES ('image', 'image_0', "
                "'/old', '/old/image_0.fits', 0, 0, :job)"
            ),
            {"job": "job-abc" if bad_job_id else "1"},
        )
    engine.dispose()
    catalogue = tmp_path / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(catalogue, format="ascii.csv")
    return catalogue, len(sky)


def _truncated_name(ra_deg: float, dec_deg: float) -> str:
    """The original code's ``Jhhmmss±ddmmss`` name: coordinates truncated, not rounded."""
    seconds = int(ra_deg / 15.0 * 3600.0)
    arcsec = int(abs(dec_deg) * 3600.0)
    return (
        f"J{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
        f"{'-' if dec_deg < 0 else '+'}{arcsec // 3600:02d}{arcsec // 60 % 60:02d}"
        f"{arcsec % 60:02d}"
    )


def test_name_position_decodes_truncated_coordinates():
    ra, dec, within = name_position("J150955+462930")
    assert ra == pytest.approx(15 * (15 + 9 / 60 + 55.5 / 3600))
    assert dec == pytest.approx(46 + 29 / 60 + 30.5 / 3600)
    assert within == pytest.approx(math.hypot(7.5 * math.cos(math.radians(dec)), 0.5))
    assert name_position("J150955.12-002930.5")[1] == pytest.approx(-(29 / 60 + 30.55 / 3600))
    assert name_position("J000000+370000") is not None and name_position("NVSS 1") is None


def _sqlite_file(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _digest(url: str) -> str | None:
    """The SQLite file's hash (None on a server database)."""
    path = _sqlite_file(url)
    return None if path is None else hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(url: str) -> dict[str, int]:
    engine = get_engine(url)
    with engine.connect() as conn:
        counts = {
            name: conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
            for name in inspect(conn).get_table_names()
        }
    engine.dispose()
    return counts


def _query(url: str, sql: str) -> list[tuple]:
    with get_engine(url).connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


@pytest.mark.parametrize("nine_columns", [False, True], ids=["all-columns", "nine-columns"])
def test_original_products_database_is_upgraded_keeping_every_row(
    tmp_path, empty_db_url, nine_columns
):
    url = empty_db_url
    catalogue, n_sources = _original_database(tmp_path, url, nine_columns=nine_columns)
    before = _tables(url)
    old_items = _query(url, "SELECT * FROM batch_job_items ORDER BY id")
    runner = CliRunner()
    digest = _digest(url)
    dry = runner.invoke(app, ["db", "upgrade", "--database-url", url, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    shown = " ".join(dry.output.split())
    assert "dry run" in shown and "photometry → legacy_photometry" in shown
    assert f"photometry: {3 * n_sources + 1} rows" in shown
    unmapped = "dry run: legacy photometry unmapped:"
    assert f"{unmapped} image not registered and its file is missing: {n_sources} rows" in shown
    assert f"then run the upgrade again): {2 * n_sources + 1} rows" in shown  # no source yet
    assert _digest(url) == digest and _tables(url) == before  # nothing changed
    assert current_revision(url) is None

    first = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert first.exit_code == 0, first.output
    assert current_revision(url) is not None
    after = _tables(url)
    for table in ("images", "batch_jobs", "batch_job_items"):
        assert after[table] == before[table]  # every old row kept, under its own name
    assert _query(url, "SELECT * FROM batch_job_items ORDER BY id") == old_items
    # The registry keeps its row and gains the two images of the measurements, registered.
    assert after["data_registry"] == before["data_registry"] + 2
    assert after["legacy_photometry"] == before["photometry"]
    assert after["photometry"] == 0  # no catalogue yet: nothing can be mapped
    assert "no catalogue source within 5″" in " ".join(first.output.split())
    if _sqlite_file(url) is not None:  # the automatic backup
        assert list(tmp_path.glob("empty.sqlite3.pre-upgrade-*.bak"))

    ingest_catalog(catalogue, "old-sky", url=url)
    upgraded = _tables(url)
    preview = runner.invoke(app, ["db", "upgrade", "--database-url", url, "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert f"dry run: legacy photometry migrated: {2 * n_sources} rows" in preview.output
    assert _tables(url) == upgraded  # the preview mapped nothing
    second = runner.invoke(app, ["db", "upgrade", "--database-url", url])  # a rerun works
    assert second.exit_code == 0, second.output
    notes = dict(
        _query(
            url, "SELECT migration_note, COUNT(*) FROM legacy_photometry GROUP BY migration_note"
        )
    )
    migrated = _query(url, "SELECT mjd_mid, peak_jyb FROM photometry")
    assert notes["migrated"] == 2 * n_sources
    assert notes["unmapped: image not registered and its file is missing"] == n_sources
    assert sum(n for note, n in notes.items() if "no catalogue source" in note) == 1
    # The old mjd is kept; without one, the product's mid time from its header is used.
    expected = [60676.0, 60707.0] if nine_columns else [60676.5, 60707.5]
    assert sorted({mjd for mjd, _ in migrated}) == pytest.approx(expected, abs=0.01)
    assert len(migrated) == 2 * n_sources
    curve = light_curve(1, url=url)
    assert len(curve) == 2 and sorted(curve["mjd_mid"]) == pytest.approx(expected, abs=0.01)
    third = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert third.exit_code == 0 and _tables(url)["photometry"] == 2 * n_sources


def test_failed_upgrade_of_an_original_database_changes_nothing(tmp_path, empty_db_url):
    url = empty_db_url
    _original_database(tmp_path, url, bad_job_id=True)
    before = _tables(url)
    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code != 0
    assert "image_0='job-abc'" in " ".join(result.output.split()) + str(result.exception)
    assert _tables(url) == before  # restored from the backup, or rolled back
    assert current_revision(url) is None
    with get_engine(url).begin() as conn:
        conn.execute(text("UPDATE data_registry SET photometry_job_id = '1'"))
    rerun = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url])
    assert rerun.exit_code == 0, rerun.output
    assert "legacy_photometry" in _tables(url)
