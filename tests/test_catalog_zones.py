"""Zone/RA boxes of cone searches: they contain every point of the cone (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import offset_by
from hypothesis import given, settings
from hypothesis import strategies as st

from dsa110_contimg.catalog.zones import (
    angular_separation_deg,
    check_cone,
    cone_boxes,
    zone_of,
)
from dsa110_contimg.database.models import CATALOG_ZONE_HEIGHT_DEG, catalog_zone


def _in_boxes(boxes, ra, dec) -> np.ndarray:
    """Which points the boxes select (what the SQL pre-selection does)."""
    zones = zone_of(dec)
    selected = np.zeros(len(ra), dtype=bool)
    for box in boxes:
        in_zone = zones == box.zone
        for lo, hi in box.ra_intervals:
            selected |= in_zone & (ra >= lo) & (ra <= hi)
    return selected


def test_zone_of_matches_the_model_definition():
    for dec in (-90.0, -89.75, -0.1, 0.0, 0.49999, 45.3, 89.9, 90.0):
        assert zone_of(dec) == catalog_zone(dec)


def test_ra_intervals_split_at_zero_and_widen_towards_the_pole():
    boxes = cone_boxes(359.5, 10.0, 1.0)
    assert all(len(b.ra_intervals) == 2 for b in boxes)
    (lo1, hi1), (lo2, hi2) = boxes[0].ra_intervals
    assert lo1 == 0.0 and hi2 == 360.0 and 0.4 < hi1 < 0.6 and 358.4 < lo2 < 358.6
    north = cone_boxes(100.0, 60.0, 2.0)
    widths = [b.ra_intervals[0][1] - b.ra_intervals[0][0] for b in north]
    dec_edge = 62.0  # the most northern zone uses its edge nearest the pole
    expected = 2 * math.degrees(
        math.asin(math.sin(math.radians(2.0)) / math.cos(math.radians(dec_edge)))
    )
    assert widths[-1] == pytest.approx(expected, abs=1e-6)
    assert widths[-1] > widths[len(widths) // 2]


def test_caps_holding_a_pole_read_whole_zones():
    boxes = cone_boxes(10.0, 89.5, 1.0)
    assert all(b.full_circle for b in boxes)
    assert boxes[-1].zone == zone_of(90.0)
    assert zone_of(88.4) <= boxes[0].zone <= zone_of(88.5)  # boxes are widened by 1e-9 deg
    south = cone_boxes(300.0, -89.9, 0.5)
    assert south[0].zone == 0 and all(b.full_circle for b in south)


def test_cone_is_checked():
    for args, message in (
        ((0, 95, 1), "declination"),
        ((0, 0, 0), "radius"),
        ((0, 0, 181), "radius"),
        ((math.nan, 0, 1), "finite"),
    ):
        with pytest.raises(ValueError, match=message):
            check_cone(*args)


def test_boxes_contain_the_exact_cone_on_a_dense_sky():
    rng = np.random.default_rng(11)
    n = 400_000
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    cones = [
        (0.0, 0.0, 2.0),
        (359.9, -30.0, 3.0),
        (180.0, 89.0, 1.5),
        (45.0, -88.7, 1.5),
        (250.0, 75.0, 12.0),
        (5.0, 0.0, 95.0),
        (120.0, 45.0, 0.05),
    ]
    cones += [(rng.uniform(0, 360), rng.uniform(-90, 90), rng.uniform(0.01, 20)) for _ in range(20)]
    populated = 0
    for ra0, dec0, radius in cones:
        inside = angular_separation_deg(ra0, dec0, ra, dec) <= radius
        selected = _in_boxes(cone_boxes(ra0, dec0, radius), ra, dec)
        assert not np.any(inside & ~selected), (ra0, dec0, radius)
        populated += bool(inside.any())
    assert populated >= len(cones) - 1


@settings(max_examples=300, deadline=None)
@given(
    ra0=st.floats(0, 360, exclude_max=True),
    dec0=st.floats(-90, 90),
    radius=st.floats(1e-4, 30),
    bearing=st.floats(0, 360),
    fraction=st.floats(0, 1),
)
def test_every_point_of_the_cone_is_in_a_box(ra0, dec0, radius, bearing, fraction):
    lon, lat = offset_by(ra0 * u.deg, dec0 * u.deg, bearing * u.deg, radius * fraction * u.deg)
    ra, dec = lon.to_value(u.deg) % 360.0, lat.to_value(u.deg)
    if angular_separation_deg(ra0, dec0, ra, dec) > radius:
        return  # rounding put a boundary point just outside: the exact cut drops it anyway
    assert _in_boxes(cone_boxes(ra0, dec0, radius), np.array([ra]), np.array([dec]))[0]


def test_separation_is_accurate_at_tiny_and_large_distances():
    assert angular_separation_deg(10.0, 20.0, 10.0, 20.0 + 1e-9) == pytest.approx(1e-9, rel=1e-6)
    assert angular_separation_deg(0.0, 0.0, 180.0, 0.0) == pytest.approx(180.0)
    assert angular_separation_deg(359.999, 0.0, 0.001, 0.0) == pytest.approx(0.002, rel=1e-9)
    assert CATALOG_ZONE_HEIGHT_DEG > 0
