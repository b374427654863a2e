"""Photometry rows on SQLite and a real PostgreSQL server: idempotent bulk upserts, NULL for
NaN, light curves by observation MJD, cone queries with the latest flux."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table
from astropy.time import Time
from sqlalchemy import func, select

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.sources import sources_in_cone
from dsa110_contimg.database.models import Photometry
from dsa110_contimg.database.products import (
    PRODUCT_PHOTOMETRY_COLUMNS,
    light_curve,
    params_hash,
    photometry_for_product,
    photometry_insert,
)
from dsa110_contimg.database.registry import UnknownDataError, register_data
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.photometry.sources import measure_catalog_sources

PHASH = params_hash({"catalog": "sim"})


@pytest.fixture
def measured(sim_field, db_url):
    """The simulated field's catalogue ingested and its three epochs registered and measured:
    ``[(data_id, measurement table), ...]`` in file order."""
    catalogue, epochs, _ = sim_field
    ingest_catalog(catalogue, "sim", url=db_url)
    return [
        (register_data(path, url=db_url), measure_catalog_sources(path, "sim", url=db_url))
        for path in epochs
    ]


def _count(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Photometry))


def test_reinsert_replaces_rows(measured, db_url):
    data_id, table = measured[0]
    n = photometry_insert(data_id, table, params_hash=PHASH, job_id=7, url=db_url)
    assert n == len(table) > 10
    stored = photometry_for_product(data_id, url=db_url)
    assert stored.colnames == list(PRODUCT_PHOTOMETRY_COLUMNS)
    assert len(stored) == n and set(stored["job_id"]) == {7}
    np.testing.assert_array_equal(stored["source_id"], np.sort(table["source_id"]))
    table["peak_jyb"] *= 2
    assert photometry_insert(data_id, table, params_hash=PHASH, url=db_url) == n
    assert _count(db_url) == n
    again = photometry_for_product(data_id, url=db_url)
    np.testing.assert_allclose(again["peak_jyb"], 2 * stored["peak_jyb"], rtol=1e-6)
    assert set(again["job_id"]) == {-1}  # the re-run's (none), not the first job's
    with pytest.raises(UnknownDataError):
        photometry_insert("image-nope", table, params_hash=PHASH, url=db_url)


def test_other_parameters_add_a_current_measurement(measured, db_url):
    data_id, table = measured[0]
    photometry_insert(data_id, table, params_hash=PHASH, url=db_url)
    other = params_hash({"catalog": "sim", "fitting": {"low_snr": 5}})
    table["peak_jyb"] += 1.0
    photometry_insert(data_id, table, params_hash=other, url=db_url)
    assert _count(db_url) == 2 * len(table)
    current = photometry_for_product(data_id, url=db_url)
    assert len(current) == len(table) and set(current["params_hash"]) == {other}
    first = photometry_for_product(data_id, params_hash=PHASH, url=db_url)
    np.testing.assert_allclose(current["peak_jyb"], first["peak_jyb"] + 1.0, rtol=1e-6)
    page = photometry_for_product(data_id, limit=5, offset=5, url=db_url)
    np.testing.assert_array_equal(page["source_id"], current["source_id"][5:10])


def test_nan_and_masked_values_are_stored_as_null(measured, db_url, caplog):
    data_id, table = measured[0]
    table = table[:6]
    table["peak_jyb"][0] = np.nan
    table["pb_response"] = MaskedColumn(np.full(6, 0.9), mask=[False, True] * 3)
    table["source_id"][5] = -1  # a position that is not a catalogue source
    with caplog.at_level(logging.WARNING, logger="dsa110_contimg.database.products"):
        assert photometry_insert(data_id, table, params_hash=PHASH, url=db_url) == 5
    assert "1 of 6 measurements have no catalogue source id" in caplog.text
    with session_scope(db_url) as session:
        nulls = session.scalar(select(func.count()).where(Photometry.peak_jyb.is_(None)))
        pb_nulls = session.scalar(select(func.count()).where(Photometry.pb_response.is_(None)))
    assert (nulls, pb_nulls) == (1, 2)
    stored = photometry_for_product(data_id, url=db_url)
    by_source = {int(s): i for i, s in enumerate(stored["source_id"])}
    row = by_source[int(table["source_id"][0])]
    assert np.isnan(stored["peak_jyb"][row]) and stored["flags"][row] == table["flags"][0]
    assert stored["int_flux_err_jy"][row] == pytest.approx(table["int_flux_err_jy"][0])


def test_insert_refuses_incomplete_tables(measured, db_url):
    data_id, table = measured[0]
    table.remove_columns(["peak_err_jyb", "snr"])
    with pytest.raises(ValueError, match="lacks column.*peak_err_jyb, snr"):
        photometry_insert(data_id, table, params_hash=PHASH, url=db_url)
    assert _count(db_url) == 0


def test_light_curve_uses_header_times_in_order(measured, sim_field, db_url):
    for data_id, table in measured:
        photometry_insert(data_id, table, params_hash=PHASH, url=db_url)
    source = int(measured[0][1]["source_id"][0])
    curve = light_curve(source, url=db_url)
    expected = sorted(Time(d).mjd + 150 / 86400 for d in sim_field[2])  # mid-exposure
    np.testing.assert_allclose(curve["mjd_mid"], expected, atol=1e-6)
    # A reprocess of one product replaces its point; the old one stays queryable.
    data_id, table = measured[1]
    table["peak_jyb"] += 5.0
    photometry_insert(data_id, table, params_hash="reprocessed", url=db_url)
    curve = light_curve(source, url=db_url)
    assert len(curve) == 3
    assert curve["peak_jyb"][list(curve["data_id"]).index(data_id)] > 4.0
    assert len(light_curve(source, params_hash="reprocessed", url=db_url)) == 1
    assert len(light_curve(source, params_hash=PHASH, url=db_url)) == 3
    assert len(light_curve(10**9, url=db_url)) == 0

    ra0, dec0 = 150.0, 37.2
    cone = sources_in_cone("sim", ra0, dec0, 0.2, url=db_url)
    measured_ids = set(int(s) for s in measured[0][1]["source_id"])
    inside = np.array([int(s) in measured_ids for s in cone["source_id"]])
    assert inside.any()
    np.testing.assert_allclose(cone["latest_mjd"][inside], max(expected))
    assert np.all(np.isnan(cone["latest_mjd"][~inside]))
    newest = measured[0][1]  # epoch 0 (2026-03-05) is the latest observation
    peaks = dict(zip((int(s) for s in newest["source_id"]), newest["peak_jyb"]))
    for source_id, peak in zip(cone["source_id"][inside], cone["latest_peak_jyb"][inside]):
        assert peak == pytest.approx(peaks[int(source_id)], rel=1e-6, nan_ok=True)


def test_empty_table_stores_nothing(measured, db_url):
    data_id, table = measured[0]
    assert photometry_insert(data_id, table[:0], params_hash=PHASH, url=db_url) == 0
    assert len(photometry_for_product(data_id, url=db_url)) == 0
    assert isinstance(photometry_for_product(data_id, url=db_url), Table)
