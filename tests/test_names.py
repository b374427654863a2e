"""One name per quantity: the observation mid-time is ``mjd_mid`` and the normalized peak
``peak_norm_jyb`` (± ``peak_norm_err_jyb``) in the database, light curves, files and the API;
an older database is migrated keeping its values, and the API's earlier names still answer."""

from __future__ import annotations

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from dsa110_contimg.api import create_app
from dsa110_contimg.config import Settings
from dsa110_contimg.database.migrate import alembic_config, upgrade
from dsa110_contimg.database.products import LIGHTCURVE_COLUMNS, light_curve
from dsa110_contimg.database.session import get_engine

MJD, PEAK, NORM, NORM_ERR = 61000.123456789, 0.5, 0.48, 0.02
#: Names before revision 0014, and since.
OLD = {"mjd": "mjd_obs", "norm": "flux_norm_jyb", "norm_err": "flux_norm_err_jyb"}
NEW = {"mjd": "mjd_mid", "norm": "peak_norm_jyb", "norm_err": "peak_norm_err_jyb"}


def _seed(url: str, names: dict[str, str]) -> None:
    """One product with one source's measurement and spectral index, columns named ``names``."""
    statements = [
        "INSERT INTO catalog (id, name, n_sources) VALUES (1, 'c', 1)",
        "INSERT INTO catalog_source (id, catalog_id, name, ra_deg, dec_deg, zone) "
        "VALUES (1, 1, 'src', 10.0, 37.0, 254)",
        "INSERT INTO data_registry (data_type, data_id, base_path, status, stage_path, "
        "created_at, staged_at) VALUES ('image', 'i1', '/d', 'staging', '/d/i1.fits', 0, 0)",
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
