"""Declination-zone geometry of cone searches (no database needed).

Catalogue rows are indexed by zone = ``floor((dec + 90) / h)`` and RA. A cone of radius ``r``
about (α₀, δ₀) is covered by the zones overlapping [δ₀ − r, δ₀ + r] (clipped at the poles);
within each zone its points lie within ``Δα = asin(sin r / cos δ)`` of α₀, where δ is the
declination of the part of the zone inside the cone that is nearest the pole (for a point at
declination δ, ``sin r ≥ sin(sep) ≥ cos δ |sin Δα|``, and Δα < 90° when the cap holds no pole).
A cap that holds a pole, or a zone where ``sin r ≥ cos δ``, takes the full circle; an RA range
crossing 0/360 is split in two. These boxes only pre-select rows: the exact great-circle cut
(`angular_separation_deg`) decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.coordinates import angular_separation
from numpy.typing import ArrayLike

from dsa110_contimg.database.models import CATALOG_ZONE_HEIGHT_DEG
from dsa110_contimg.errors import InputError

__all__ = ["ZoneBox", "angular_separation_deg", "check_cone", "cone_boxes", "zone_of"]

# Widening of every box (degrees) so float rounding never drops a row the exact cut keeps.
_SLACK_DEG = 1e-9


@dataclass(frozen=True)
class ZoneBox:
    """One zone of a cone and the RA intervals (degrees, within [0, 360]) to read in it."""

    zone: int
    ra_intervals: tuple[tuple[float, float], ...]

    @property
    def full_circle(self) -> bool:
        """True when the whole zone must be read."""
        return self.ra_intervals == ((0.0, 360.0),)


def zone_of(dec_deg: ArrayLike, zone_height_deg: float = CATALOG_ZONE_HEIGHT_DEG) -> np.ndarray:
    """Zone index of each declination: ``floor((dec + 90) / zone_height_deg)`` (int64)."""
    dec = np.asarray(dec_deg, dtype=np.float64)
    return np.floor((dec + 90.0) / zone_height_deg).astype(np.int64)


def check_cone(ra_deg: float, dec_deg: float, radius_deg: float) -> None:
    """Refuse a cone that is not on the sphere.

    Raises
    ------
    InputError
        Non-finite values, ``|dec| > 90`` or a radius outside (0, 180].
    """
    if not all(math.isfinite(v) for v in (ra_deg, dec_deg, radius_deg)):
        raise InputError(
            f"cone centre and radius must be finite, got ra={ra_deg}, "
            f"dec={dec_deg}, radius={radius_deg}"
        )
    if abs(dec_deg) > 90.0:
        raise InputError(f"cone declination must be within [-90, 90], got {dec_deg}")
    if not 0.0 < radius_deg <= 180.0:
        raise InputError(f"cone radius must be in (0, 180] degrees, got {radius_deg}")


def cone_boxes(
    ra_deg: float,
    dec_deg: float,
    radius_deg: float,
    *,
    zone_height_deg: float = CATALOG_ZONE_HEIGHT_DEG,
) -> list[ZoneBox]:
    """The zones and RA intervals that contain every point of a cone.

    Parameters
    ----------
    ra_deg, dec_deg : float
        Cone centre (RA is wrapped into [0, 360)).
    radius_deg : float
        Cone radius, in (0, 180].
    zone_height_deg : float
        Height of the declination zones.

    Returns
    -------
    list of ZoneBox
        One per zone overlapping [dec − r, dec + r] (clipped at ±90), south to north.

    Raises
    ------
    InputError
        See `check_cone`.
    """
    check_cone(ra_deg, dec_deg, radius_deg)
    ra0 = ra_deg % 360.0
    radius = radius_deg + _SLACK_DEG
    dec_lo, dec_hi = max(dec_deg - radius, -90.0), min(dec_deg + radius, 90.0)
    holds_pole = dec_deg + radius >= 90.0 or dec_deg - radius <= -90.0
    sin_r = math.sin(math.radians(min(radius, 90.0)))
    first, last = (int(z) for z in zone_of([dec_lo, dec_hi], zone_height_deg))
    boxes = []
    for zone in range(first, last + 1):
        lo = max(-90.0 + zone * zone_height_deg, dec_lo)
        hi = min(-90.0 + (zone + 1) * zone_height_deg, dec_hi)
        poleward = max(abs(lo), abs(hi))
        cos_pole = math.cos(math.radians(poleward))
        if holds_pole or radius >= 90.0 or sin_r >= cos_pole:
            intervals: tuple[tuple[float, float], ...] = ((0.0, 360.0),)
        else:
            half_width = math.degrees(math.asin(sin_r / cos_pole)) + _SLACK_DEG
            intervals = _ra_intervals(ra0, half_width)
        boxes.append(ZoneBox(zone, intervals))
    return boxes


def _ra_intervals(ra0: float, half_width: float) -> tuple[tuple[float, float], ...]:
    if half_width >= 180.0:
        return ((0.0, 360.0),)
    lo, hi = ra0 - half_width, ra0 + half_width
    if lo < 0.0:
        return ((0.0, hi), (lo + 360.0, 360.0))
    if hi >= 360.0:
        return ((0.0, hi - 360.0), (lo, 360.0))
    return ((lo, hi),)


def angular_separation_deg(
    ra1_deg: ArrayLike, dec1_deg: ArrayLike, ra2_deg: ArrayLike, dec2_deg: ArrayLike
) -> np.ndarray:
    """Great-circle separation in degrees (float64, Vincenty: accurate at every distance)."""
    ra1, dec1, ra2, dec2 = (
        np.radians(np.asarray(v, dtype=np.float64)) for v in (ra1_deg, dec1_deg, ra2_deg, dec2_deg)
    )
    return np.degrees(np.asarray(angular_separation(ra1, dec1, ra2, dec2), dtype=np.float64))
