"""Stored per-product correction factors are read back by data id."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from dsa110_contimg.database.models import ImageCorrection, PhotometryParamSet, Product
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.variability.corrections import get_image_correction


def test_get_image_correction_returns_the_latest_stored_factor(tmp_path, db_url):
    sky = make_sky(150.0, 37.2, 0.1, seed=1, n_sources=5, min_flux_jy=0.02, max_flux_jy=0.1)
    path = simulate_image(
        tmp_path / "a-image-pb.fits",
        sky,
        center_ra_deg=150.0,
        center_dec_deg=37.2,
        npix=128,
        pb=None,
        seed=1,
    ).path
    data_id = register_data(path, url=db_url)
    assert get_image_correction(data_id, url=db_url) is None
    with session_scope(db_url) as session:
        product_id = session.scalar(select(Product.id).where(Product.data_id == data_id))
        for k, phash in enumerate(("aaaa", "bbbb")):
            params = PhotometryParamSet(params_hash=phash)
            session.add(params)
            session.flush()
            session.add(
                ImageCorrection(
                    product_id=product_id,
                    params_id=params.id,
                    value=1.05 + k,
                    error=0.002,
                    n_references=3,
                    reference_source_ids=[7, 8, 9],
                    method="test",
                    stats_applied=False,
                    created_at=datetime(2026, 1, 1 + k, tzinfo=UTC),
                )
            )
    latest = get_image_correction(data_id, url=db_url)
    assert (latest.value, latest.params_hash, latest.reference_source_ids) == (
        2.05,
        "bbbb",
        (7, 8, 9),
    )
    assert get_image_correction(data_id, params_hash="aaaa", url=db_url).value == 1.05
    assert get_image_correction("image-nothing", url=db_url) is None
