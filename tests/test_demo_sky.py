"""The demo's sky gives every image enough normalization references, whatever the seed."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.demo import (
    DEC0,
    INNER_FRACTION,
    MIN_REFERENCES_PER_IMAGE,
    RA_START,
    RA_STEP_DEG,
    _sky,
)


@pytest.mark.parametrize("seed", [3, 8, 2026])
def test_every_image_holds_enough_bright_unconfused_compact_sources(seed):
    """Compact, ≥ 30 mJy, no neighbour of a tenth of their flux within 120″ (the master
    catalogue's confusion test), in the inner part of each of the 3 images of a day."""
    npix = (1024, 2560)
    sky = _sky(np.random.default_rng(seed), 3, npix, 61000.0, 6, 3, seed)
    cos_dec = np.cos(np.radians(DEC0))
    flux = np.asarray(sky["flux_jy"])
    for k in range(3):
        east = (np.asarray(sky["ra_deg"]) - RA_START - k * RA_STEP_DEG) * cos_dec
        north = np.asarray(sky["dec_deg"]) - DEC0
        separation = 3600 * np.hypot(east[:, None] - east, north[:, None] - north)
        np.fill_diagonal(separation, np.inf)
        confused = np.any((separation < 120) & (flux >= 0.1 * flux[:, None]), axis=1)
        inner = (np.abs(east) < INNER_FRACTION * npix[1] / 3600) & (
            np.abs(north) < INNER_FRACTION * npix[0] / 3600
        )
        references = inner & (sky["major_arcsec"] == 0) & (flux >= 0.03) & ~confused
        assert references.sum() >= MIN_REFERENCES_PER_IMAGE
    assert np.sum(sky["dip_depth"] > 0) == 3
