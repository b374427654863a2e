"""Variability statistics in the database: incremental updates equal a batch recomputation,
whatever the arrival order, and reprocessing a product never counts it twice."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sqlalchemy import func, select
from variability_support import assert_equal_to_batch, make_field, run_photometry

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import ImageCorrection, Photometry, VariabilityStats
from dsa110_contimg.database.products import photometry_for_product
from dsa110_contimg.database.registry import get_photometry_status, register_data
from dsa110_contimg.database.session import get_engine, session_scope
from dsa110_contimg.jobs.service import get_job
from dsa110_contimg.variability.corrections import get_image_correction
from dsa110_contimg.variability.store import EXCLUDED_FLAGS, recompute

N_EPOCHS = 4


def _excluded(data_id: str, url: str) -> int:
    """Measured rows of a product that the statistics leave out for their flags."""
    rows = photometry_for_product(data_id, url=url)
    measured = np.isfinite(rows["peak_jyb"])
    return int(np.sum(measured & ((rows["flags"] & int(EXCLUDED_FLAGS)) != 0)))


def test_incremental_statistics_equal_batch_and_reprocessing_counts_once(
    tmp_path, db_url, monkeypatch
):
    field = make_field(
        tmp_path,
        db_url,
        n_epochs=N_EPOCHS,
        n_sources=60,
        npix=512,
        radius_deg=0.2,
        seed=3,
        catalogue_scatter=0.0,
        extended_fraction=0.0,
        min_flux_jy=0.01,
    )
    order = [2, 0, 3, 1]  # out of observation order
    job = get_job(run_photometry([field.paths[k] for k in order], db_url), url=db_url)
    assert job.status == "completed"
    for item, k in zip(job.items, order):
        correction = get_image_correction(item["data_id"], url=db_url)
        assert correction.n_references >= 5
        assert correction.value == pytest.approx(field.gains[k], rel=0.01)
        rows = photometry_for_product(item["data_id"], url=db_url)
        measured = np.isfinite(rows["peak_jyb"])
        np.testing.assert_allclose(
            rows["peak_norm_jyb"][measured],
            rows["peak_jyb"][measured] / correction.value,
            rtol=1e-12,
        )
    counts = assert_equal_to_batch(db_url)
    assert counts.max() == N_EPOCHS and np.median(counts) == N_EPOCHS

    # Reprocessing two products (same parameters) replaces their rows: still one count each.
    again = get_job(run_photometry(field.paths[:2], db_url), url=db_url)
    assert again.status == "completed" and again.id != job.id
    assert np.array_equal(assert_equal_to_batch(db_url), counts)
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(ImageCorrection)) == N_EPOCHS
        assert (
            session.scalar(
                select(func.count())
                .select_from(ImageCorrection)
                .where(ImageCorrection.stats_applied)
            )
            == N_EPOCHS
        )

    # A reprocess that cannot be normalized takes the product out of the statistics.
    monkeypatch.setenv("CONTIMG_VARIABILITY__MIN_REFERENCES", "1000")
    get_settings.cache_clear()
    failed = get_job(run_photometry(field.paths[:1], db_url), url=db_url)
    assert failed.status == "completed"
    assert get_image_correction(failed.items[0]["data_id"], url=db_url) is None
    fewer = assert_equal_to_batch(db_url)
    measured = np.isfinite(
        photometry_for_product(failed.items[0]["data_id"], url=db_url)["peak_jyb"]
    )
    assert np.sum(counts - fewer) == measured.sum() - _excluded(failed.items[0]["data_id"], db_url)


def test_a_product_without_references_keeps_its_raw_rows(tmp_path, db_url, caplog):
    field = make_field(
        tmp_path, db_url, n_epochs=1, n_sources=20, npix=256, radius_deg=0.12, seed=4, master=False
    )
    with caplog.at_level(logging.WARNING, logger="dsa110_contimg.variability.corrections"):
        job = get_job(run_photometry(field.paths, db_url), url=db_url)
    data_id = job.items[0]["data_id"]
    assert job.status == "completed"
    assert get_photometry_status(data_id, url=db_url).status == "completed"
    assert any(
        data_id in r.getMessage() and "not normalized: 0 usable reference" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )
    assert get_image_correction(data_id, url=db_url) is None
    with session_scope(db_url) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Photometry).where(Photometry.peak_jyb.is_not(None))
            )
            == job.items[0]["n_measured"]
            > 5
        )
        assert (
            session.scalar(
                select(func.count())
                .select_from(Photometry)
                .where(Photometry.peak_norm_jyb.is_not(None))
            )
            == 0
        )
        assert session.scalar(select(func.count()).select_from(VariabilityStats)) == 0


def test_mosaics_stay_out_of_the_statistics_unless_configured(tmp_path, sqlite_url, monkeypatch):
    """A mosaic holds its images' data: by default only images feed the statistics."""
    field = make_field(
        tmp_path,
        sqlite_url,
        n_epochs=3,
        n_sources=60,
        npix=512,
        radius_deg=0.2,
        seed=3,
        catalogue_scatter=0.0,
        extended_fraction=0.0,
        min_flux_jy=0.01,
    )
    mosaic = register_data(field.paths[2], "mosaic", url=sqlite_url)
    job = get_job(run_photometry([*field.paths[:2], mosaic], sqlite_url), url=sqlite_url)
    assert job.status == "completed"
    for item in job.items:  # the mosaic is normalized all the same
        assert get_image_correction(item["data_id"], url=sqlite_url) is not None
    assert assert_equal_to_batch(sqlite_url).max() == 2

    monkeypatch.setenv("CONTIMG_VARIABILITY__STATISTICS_PRODUCT_TYPES", '["image", "mosaic"]')
    get_settings.cache_clear()
    with get_engine(sqlite_url).begin() as conn:
        recompute(conn)
    assert assert_equal_to_batch(sqlite_url).max() == 3
