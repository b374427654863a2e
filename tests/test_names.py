"""One name per quantity: the observation mid-time is ``mjd_mid`` and the normalized peak
``peak_norm_jyb`` (± ``peak_norm_err_jyb``) in the database, light curves, files and the API;
every wall-clock time is a UTC timestamp. An older database is migrated keeping its values,
and the API's earlier names and Unix-second registry times still answer."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import DateTime, inspect, select, text

from dsa110_contimg.api import create_app
from dsa110_contimg.config import Settings
from dsa110_contimg.database.migrate import alembic_config, upgrade
from dsa110_contimg.database.models import Base, DataRegistry, DataRelationship, unix_seconds
from dsa110_contimg.database.products import LIGHTCURVE_COLUMNS, light_curve
from dsa110_contimg.database.registry import (
    get_data,
    get_photometry_status,
    list_data,
    photometry_latency_stats,
    update_photometry_status,
)
from dsa110_contimg.database.session import get_engine, session_scope

MJD, PEAK, NORM, NORM_ERR = 61000.123456789, 0.5, 0.48, 0.02
#: Names before revision 0014, and since (with a registry time before 0015, and since).
OLD = {"mjd": "mjd_obs", "norm": "flux_norm_jyb", "norm_err": "flux_norm_err_jyb", "time": "0"}
NEW = {
    "mjd": "mjd_mid",
    "norm": "peak_norm_jyb",
    "norm_err": "peak_norm_err_jyb",
    "time": "'2026-12-04 19:00:00'",
}


def _seed(url: str, names: dict[str, str]) -> None:
    """One product with one source's measurement and spectral index, columns named ``names``."""
    statements = [
        "INSERT INTO catalog (id, name, n_sources) VALUES (1, 'c', 1)",
        "INSERT INTO catalog_source (id, catalog_id, name, ra_deg, dec_deg, zone) "
        "VALUES (1, 1, 'src', 10.0, 37.0, 254)",
        "INSERT INTO data_registry (data_type, data_id, base_path, status, stage_path, "
        "created_at, staged_at) VALUES ('image', 'i1', '/d', 'staging', '/d/i1.fits', "
        f"{names['time']}, {names['time']})",
        f"INSERT INTO product (id, data_id, data_type, mjd_mid, pb_corrected) "
        f"VALUES (1, 'i1', 'image', {MJD}, false)",
        "INSERT INTO photometry_params (id, params_hash) VALUES (1, 'aaaa')",
        f"INSERT INTO photometry (source_id, product_id, params_id, job_id, {names['mjd']}, "
        f"ra_deg, dec_deg, peak_jyb, peak_err_jyb, flags, {names['norm']}, {names['norm_err']}) "
        f"VALUES (1, 1, 1, 1, {MJD}, 10.0, 37.0, {PEAK}, 0.01, 0, {NORM}, {NORM_ERR})",
        f"INSERT INTO spectral_index (source_id, product_id, params_id, {names['mjd']}, alpha, "
        "alpha_err, n_bins, n_subbands, target_snr, upper_limit) "
        f"VALUES (1, 1, 1, {MJD}, -0.7, 0.1, 2, 16, 5.0, false)",
        "INSERT INTO spectrum_bin (source_id, product_id, params_id, bin, first_subband, "
        "last_subband, freq_hz, flux_jy, flux_err_jy, upper_limit) "
        "VALUES (1, 1, 1, 0, 0, 15, 1.4e9, 0.5, 0.01, false)",
    ]
    with get_engine(url).begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _stored(url: str, names: dict[str, str]) -> tuple:
    with get_engine(url).connect() as conn:
        photometry = conn.execute(
            text(f"SELECT {names['mjd']}, {names['norm']}, {names['norm_err']} FROM photometry")
        ).one()
        spectral = conn.execute(text(f"SELECT {names['mjd']} FROM spectral_index")).scalar_one()
    return (*photometry, spectral)


def test_migration_renames_columns_keeping_values_and_reverses(empty_db_url):
    url = empty_db_url
    upgrade(url, "0013")
    _seed(url, OLD)
    upgrade(url)
    columns = {c["name"] for c in inspect(get_engine(url)).get_columns("photometry")}
    assert {"mjd_mid", "peak_norm_jyb", "peak_norm_err_jyb"} <= columns
    assert not columns & {"mjd_obs", "flux_norm_jyb", "flux_norm_err_jyb"}
    assert _stored(url, NEW) == (MJD, NORM, NORM_ERR, MJD)
    curve = light_curve(1, url=url)
    assert curve.colnames == list(LIGHTCURVE_COLUMNS)
    assert (curve["mjd_mid"][0], curve["peak_norm_jyb"][0]) == (MJD, NORM)

    get_engine(url).dispose()
    command.downgrade(alembic_config(url), "0013")
    assert _stored(url, OLD) == (MJD, NORM, NORM_ERR, MJD)


@pytest.fixture
def client(sqlite_url, tmp_path):
    _seed(sqlite_url, NEW)
    settings = Settings(state_dir=tmp_path / "state", database_url=sqlite_url)
    with TestClient(create_app(settings)) as client:
        yield client


#: Per endpoint: the earlier names its points still carry, and their current names.
EARLIER_NAMES = {
    "/api/sources/1/lightcurve": {
        "mjd": "mjd_mid",
        "normalized_flux_jy": "peak_norm_jyb",
        "normalized_flux_err_jy": "peak_norm_err_jyb",
    },
    "/api/data/i1/photometry": {
        "mjd_obs": "mjd_mid",
        "flux_norm_jyb": "peak_norm_jyb",
        "flux_norm_err_jyb": "peak_norm_err_jyb",
    },
    "/api/sources/1/spectral-index": {"mjd": "mjd_mid"},
}


@pytest.mark.parametrize("path", EARLIER_NAMES)
def test_api_sends_current_and_earlier_names(client, path):
    (point,) = client.get(path).json()["data"]
    assert point["mjd_mid"] == MJD
    for earlier, current in EARLIER_NAMES[path].items():
        assert point[earlier] == point[current] is not None, earlier


def test_normalize_and_spectrum_send_earlier_names(client):
    normalized = client.post(
        "/api/photometry/normalize",
        json={"data_id": "i1", "source_id": 1, "factor": 2.0, "factor_err": 0.0},
    ).json()["data"][0]
    assert normalized["peak_norm_jyb"] == normalized["normalized_flux_jyb"] == PEAK / 2
    assert normalized["mjd_mid"] == normalized["mjd_obs"] == MJD
    spectrum = client.get("/api/sources/1/spectrum").json()
    assert spectrum["mjd_mid"] == spectrum["mjd"] == MJD


def test_openapi_marks_earlier_names_deprecated(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    point = schemas["LightCurvePoint"]["properties"]
    assert point["mjd"]["deprecated"] and point["normalized_flux_jy"]["deprecated"]
    assert not point["mjd_mid"].get("deprecated")
    assert "peak_norm_jyb" in schemas["LightCurvePoint"]["required"]


def test_every_wall_clock_time_is_a_utc_timestamp():
    at_columns = [
        c for t in Base.metadata.tables.values() for c in t.columns if c.name.endswith("_at")
    ]
    assert {(c.table.name, c.name) for c in at_columns} >= {
        ("data_registry", "created_at"),
        ("data_registry", "staged_at"),
        ("data_registry", "published_at"),
        ("data_registry", "photometry_updated_at"),
        ("data_relationships", "created_at"),
    }
    for column in at_columns:
        assert isinstance(column.type, DateTime) and column.type.timezone, column


CREATED, PUBLISHED = 1764872400.123456, 1764872460.5


def test_registry_times_become_timestamps_keeping_values(empty_db_url):
    url = empty_db_url
    upgrade(url, "0014")
    with get_engine(url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO data_registry (data_type, data_id, base_path, status, stage_path, "
                "published_path, created_at, staged_at, published_at, photometry_status, "
                "photometry_updated_at) VALUES ('image', 'i1', '/d', 'published', '/d/i1.fits', "
                f"'/p/i1.fits', {CREATED}, {CREATED}, {PUBLISHED}, NULL, NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO data_registry (data_type, data_id, base_path, status, stage_path, "
                f"created_at, staged_at) VALUES ('mosaic', 'm1', '/d', 'staging', '/d/m1.fits', "
                f"{PUBLISHED}, {PUBLISHED})"
            )
        )
        conn.execute(
            text(
                "INSERT INTO data_relationships (parent_data_id, child_data_id, "
                f"relationship_type, created_at) VALUES ('i1', 'm1', 'mosaic_input', {CREATED})"
            )
        )
    upgrade(url)
    with session_scope(url) as session:
        record = session.scalars(select(DataRegistry).where(DataRegistry.data_id == "i1")).one()
        link = session.scalars(select(DataRelationship)).one()
        assert isinstance(record.created_at, datetime) and record.photometry_updated_at is None
        assert unix_seconds(record.staged_at) == pytest.approx(CREATED, abs=2e-6)
        assert unix_seconds(link.created_at) == pytest.approx(CREATED, abs=2e-6)
    shown = get_data("i1", url=url)  # records keep the API's Unix seconds
    assert shown["created_at"] == pytest.approx(CREATED, abs=2e-6)
    assert shown["published_at"] == pytest.approx(PUBLISHED, abs=2e-6)
    assert [r["data_id"] for r in list_data(url=url)[0]] == ["m1", "i1"]  # newest first
    for status in ("pending", "running", "completed"):
        update_photometry_status("i1", status, url=url)
    assert get_photometry_status("i1", url=url).updated_at == pytest.approx(time.time(), abs=60)
    latency = photometry_latency_stats(url=url)  # timestamps subtracted in SQL
    assert latency["count"] == 1
    assert latency["max_s"] == pytest.approx(time.time() - CREATED, abs=60)

    get_engine(url).dispose()
    command.downgrade(alembic_config(url), "0014")
    with get_engine(url).connect() as conn:
        created, published = conn.execute(
            text("SELECT created_at, published_at FROM data_registry WHERE data_id = 'i1'")
        ).one()
    assert (created, published) == (pytest.approx(CREATED, abs=2e-6), PUBLISHED)
