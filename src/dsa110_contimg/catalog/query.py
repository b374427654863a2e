"""Cone searches over ingested catalogues (declination-zone index, exact angular cut).

A cone is covered by the declination zones it touches; within them, rows are selected by an RA
interval of half-width ``α = atan(sin r / √|cos(δ−r) cos(δ+r)|)`` (the exact RA extent of a
spherical cap), split in two where it crosses RA 0/360, and the whole circle when the cap holds
a pole. The exact great-circle cut is then applied in float64, and only after it any ``limit``.
"""

from __future__ import annotations

import math

import numpy as np
from astropy.table import Table
from sqlalchemy import and_, between, or_, select

from dsa110_contimg.catalog.ingest import normalise_catalog_name
from dsa110_contimg.database.models import CATALOG_ZONE_HEIGHT_DEG, Catalog, CatalogSource
from dsa110_contimg.database.session import get_engine

__all__ = ["UnknownCatalogError", "angular_separation_deg", "cone_search", "list_catalogs",
           "ra_intervals"]

_SOURCE_COLUMNS = ("id", "name", "ra_deg", "dec_deg", "flux_mjy", "flux_err_mjy",
                   "peak_flux_mjy", "peak_flux_err_mjy", "major_arcsec", "minor_arcsec",
                   "pa_deg")


class UnknownCatalogError(LookupError):
    """A catalogue name that has not been ingested."""


def list_catalogs(url: str | None = None) -> Table:
    """Ingested catalogues: name, number of sources, source file, ingest time."""
    with get_engine(url).connect() as conn:
        rows = conn.execute(select(Catalog.name, Catalog.n_sources, Catalog.frequency_hz,
                                   Catalog.source_file, Catalog.ingested_at)
                            .order_by(Catalog.name)).all()
    return Table(rows=rows, names=("name", "n_sources", "frequency_hz", "source_file",
                                   "ingested_at")) if rows else Table(
        names=("name", "n_sources", "frequency_hz", "source_file", "ingested_at"),
        dtype=(str, int, float, str, object))


def ra_intervals(ra_deg: float, dec_deg: float, radius_deg: float) -> list[tuple[float, float]]:
    """RA intervals (degrees, within [0, 360]) that contain the cone."""
    dec_lo, dec_hi = dec_deg - radius_deg, dec_deg + radius_deg
    if dec_hi >= 90.0 or dec_lo <= -90.0 or radius_deg >= 90.0:
        return [(0.0, 360.0)]
    r, d = math.radians(radius_deg), math.radians(dec_deg)
    denominator = math.sqrt(abs(math.cos(d - r) * math.cos(d + r)))
    alpha = math.degrees(math.atan(math.sin(r) / denominator)) if denominator > 0 else 180.0
    if alpha >= 180.0:
        return [(0.0, 360.0)]
    lo, hi = ra_deg - alpha, ra_deg + alpha
    if lo < 0.0:
        return [(0.0, hi), (lo + 360.0, 360.0)]
    if hi > 360.0:
        return [(lo, 360.0), (0.0, hi - 360.0)]
    return [(lo, hi)]


def angular_separation_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle separation in degrees (Vincenty; exact at all separations)."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=float)) for v in (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    num = np.hypot(np.cos(dec2) * np.sin(dra),
                   np.cos(dec1) * np.sin(dec2) - np.sin(dec1) * np.cos(dec2) * np.cos(dra))
    den = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(dra)
    return np.degrees(np.arctan2(num, den))


def cone_search(catalog: str, ra_deg: float, dec_deg: float, radius_deg: float, *,
                limit: int | None = None, url: str | None = None) -> Table:
    """Sources of ``catalog`` within ``radius_deg`` of (``ra_deg``, ``dec_deg``).

    Returns
    -------
    astropy.table.Table
        ``source_id, name, ra_deg, dec_deg, flux_mjy, flux_err_mjy, peak_flux_mjy,
        peak_flux_err_mjy, major_arcsec, minor_arcsec, pa_deg, sep_deg``, nearest first, at
        most ``limit`` rows (applied after the exact cut).

    Raises
    ------
    ValueError
        Non-finite centre, ``|dec| > 90`` or a radius outside (0, 180].
    UnknownCatalogError
        ``catalog`` has not been ingested (the message lists those that have).
    """
    _check_cone(ra_deg, dec_deg, radius_deg)
    ra_deg = ra_deg % 360.0
    key = normalise_catalog_name(catalog)
    engine = get_engine(url)
    with engine.connect() as conn:
        catalog_id = conn.execute(select(Catalog.id).where(Catalog.name == key)).scalar()
        if catalog_id is None:
            known = conn.execute(select(Catalog.name).order_by(Catalog.name)).scalars().all()
            raise UnknownCatalogError(
                f"unknown catalogue {catalog!r}; ingested: {', '.join(known) or 'none'} "
                "(add one with `contimg catalog ingest FILE --catalog NAME`)")
        zone_lo = math.floor((max(dec_deg - radius_deg, -90.0) + 90.0) / CATALOG_ZONE_HEIGHT_DEG)
        zone_hi = math.floor((min(dec_deg + radius_deg, 90.0) + 90.0) / CATALOG_ZONE_HEIGHT_DEG)
        ra_clause = or_(*(between(CatalogSource.ra_deg, lo, hi)
                          for lo, hi in ra_intervals(ra_deg, dec_deg, radius_deg)))
        columns = [getattr(CatalogSource, c) for c in _SOURCE_COLUMNS]
        rows = conn.execute(select(*columns).where(and_(
            CatalogSource.catalog_id == catalog_id,
            between(CatalogSource.zone, zone_lo, zone_hi), ra_clause))).all()
    table = _to_table(rows)
    sep = angular_separation_deg(ra_deg, dec_deg, table["ra_deg"], table["dec_deg"])
    table["sep_deg"] = sep
    table = table[sep <= radius_deg]
    table.sort(["sep_deg", "source_id"])
    return table[:limit] if limit is not None else table


def _check_cone(ra_deg: float, dec_deg: float, radius_deg: float) -> None:
    if not (math.isfinite(ra_deg) and math.isfinite(dec_deg) and math.isfinite(radius_deg)):
        raise ValueError(f"cone centre and radius must be finite, got ra={ra_deg}, "
                         f"dec={dec_deg}, radius={radius_deg}")
    if abs(dec_deg) > 90.0:
        raise ValueError(f"declination must be within [-90, 90], got {dec_deg}")
    if not 0.0 < radius_deg <= 180.0:
        raise ValueError(f"radius must be in (0, 180] degrees, got {radius_deg}")


def _to_table(rows) -> Table:
    names = ("source_id",) + _SOURCE_COLUMNS[1:]
    if not rows:
        return Table(names=names, dtype=(np.int64, str) + (float,) * (len(names) - 2))
    columns = list(zip(*rows))
    table = Table()
    table["source_id"] = np.asarray(columns[0], dtype=np.int64)
    table["name"] = np.asarray(columns[1], dtype=str)
    for name, values in zip(names[2:], columns[2:]):
        table[name] = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return table
