"""A product's image, downsampled for display, with its measured positions on it."""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from dsa110_contimg.imaging.fits_io import ImageReadError, load_image
from dsa110_contimg.photometry.flags import decode_flags

__all__ = ["PREVIEW_PIXELS", "Preview", "make_preview"]

log = logging.getLogger(__name__)

#: Longest side of a preview, in display pixels.
PREVIEW_PIXELS = 600


@dataclass(frozen=True)
class Preview:
    """A block-averaged image, its display range and the measured positions on its grid."""

    title: str
    pixels: np.ndarray
    low: float
    high: float
    x: np.ndarray
    y: np.ndarray
    names: list[str]
    snr: np.ndarray
    flagged: np.ndarray
    flag_names: list[str]


def _block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    ny, nx = (n // factor * factor for n in data.shape)
    blocks = np.asarray(data[:ny, :nx], dtype=np.float32).reshape(
        ny // factor, factor, nx // factor, factor
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-blank blocks stay NaN
        return np.nanmean(blocks, axis=(1, 3))


def make_preview(path: str | Path, photometry: Table, *, title: str) -> Preview | None:
    """The image at ``path`` block-averaged to at most `PREVIEW_PIXELS` on a side, and every
    row of ``photometry`` (``ra_deg``, ``dec_deg``, ``name``, ``snr``, ``flags``) placed on
    it; flagged rows are those with any flag.

    Returns None, with a WARNING giving the reason, when the image cannot be read.
    """
    try:
        image = load_image(path)
    except (ImageReadError, OSError) as exc:
        log.warning("no preview of %s: %s", path, exc)
        return None
    data = image.data
    factor = max(1, math.ceil(max(data.shape) / PREVIEW_PIXELS))
    pixels = _block_mean(data, factor)
    finite = pixels[np.isfinite(pixels)]
    low, high = np.percentile(finite, [1.0, 99.5]) if finite.size else (0.0, 1.0)
    ra = np.asarray(photometry["ra_deg"], dtype=float)
    dec = np.asarray(photometry["dec_deg"], dtype=float)
    if ra.size:
        x, y = image.wcs.celestial.world_to_pixel_values(ra, dec)
    else:
        x = y = np.zeros(0)
    flags = np.asarray(photometry["flags"], dtype=np.int64)
    snr = photometry["snr"]
    snr = np.asarray(snr.filled(np.nan) if hasattr(snr, "filled") else snr, dtype=float)
    return Preview(
        title=title,
        pixels=pixels,
        low=float(low),
        high=float(high),
        x=(np.asarray(x) + 0.5) / factor,
        y=(np.asarray(y) + 0.5) / factor,
        names=[str(n) for n in photometry["name"]],
        snr=snr,
        flagged=flags != 0,
        flag_names=[", ".join(decode_flags(int(f))) or "none" for f in flags],
    )
