"""The master catalogue: per-source properties that decide who may be a flux reference.

Built from a primary catalogue (NVSS) already in the store, optionally cross-matched with
FIRST (5″ resolution: compactness) and VLASS (3 GHz: spectral index). One ``master_source`` row
per primary source, keyed by its stable catalogue source id:

* ``snr``: flux / its error (or / the catalogue rms when the source has no error);
* ``compactness`` = peak / integrated flux; ``resolved`` when the deconvolved major axis exceeds
  ``max_size_arcsec``, the compactness is below ``min_compactness``, or FIRST splits it into
  several components or resolves it;
* ``n_neighbours`` within ``confusion_radius_arcsec``; ``confused`` when one of them has at
  least ``confusion_flux_ratio`` of the source's flux (or no known flux);
* ``spectral_index`` α (S ∝ ν^α) against the nearest match of a catalogue at another
  frequency, with its error;
* ``reference_eligible``: finite flux, S/N ≥ ``reference_min_catalog_snr``, not resolved, not
  confused.

Rebuilding replaces the catalogue's rows in one transaction (ids are the catalogue's, so they
never change).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from dsa110_contimg.catalog import store
from dsa110_contimg.catalog.ingest import catalog_key
from dsa110_contimg.catalog.query import UnknownCatalogError
from dsa110_contimg.config import VariabilitySettings, get_settings
from dsa110_contimg.database.models import CatalogSource, MasterSource
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.errors import ConflictError

__all__ = [
    "MATCH_CATALOGS",
    "MasterReport",
    "MissingMasterCatalogError",
    "build_master",
    "check_normalization",
    "master_source_count",
]

log = logging.getLogger(__name__)

#: Catalogues cross-matched by default when they have been ingested.
MATCH_CATALOGS = ("first", "vlass")
#: Survey frequencies used when a catalogue row does not record one.
SURVEY_FREQUENCY_HZ = {"nvss": 1.4e9, "first": 1.4e9, "vlass": 3.0e9}
_INSERT_CHUNK = 20_000


class MissingMasterCatalogError(ConflictError):
    """Normalization was asked for, but the catalogue has no master catalogue to take its
    reference sources from."""


@dataclass(frozen=True)
class MasterReport:
    """What `build_master` stored for one primary catalogue."""

    catalog: str
    n_sources: int
    n_eligible: int
    n_resolved: int
    n_confused: int
    n_spectral_index: int
    matched: tuple[str, ...]


@dataclass
class _Sources:
    ids: np.ndarray
    names: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    peak: np.ndarray
    major: np.ndarray


def build_master(
    catalog: str = "nvss",
    *,
    matches: Sequence[str] | None = None,
    settings: VariabilitySettings | None = None,
    url: str | None = None,
) -> MasterReport:
    """Build (or rebuild) the master catalogue of ``catalog``.

    Parameters
    ----------
    catalog : str
        The primary catalogue (already ingested).
    matches : sequence of str, optional
        Catalogues to cross-match; default those of `MATCH_CATALOGS` that are ingested. A named
        catalogue that is not ingested is an error.
    settings : VariabilitySettings, optional
        Radii and thresholds (default: the configured ones).
    url : str, optional
        Database URL.

    Raises
    ------
    UnknownCatalogError
        ``catalog`` or a requested match has not been ingested.
    """
    settings = settings or get_settings().variability
    key = catalog_key(catalog)
    with get_engine(url).begin() as conn:
        record = _record(conn, key)
        primary = _read(conn, record.id)
        if matches is None:
            names = [m for m in MATCH_CATALOGS if m != key and store.catalog_record(conn, m)]
        else:
            names = [catalog_key(m) for m in matches]
        columns = _properties(primary, settings)
        matched_ids: dict[str, np.ndarray] = {}
        alpha = np.full(primary.ids.size, np.nan)
        alpha_err = np.full(primary.ids.size, np.nan)
        primary_freq = _frequency(record, key)
        for name in names:
            other_record = _record(conn, name)
            other = _read(conn, other_record.id)
            nearest, n_within = _cross_match(primary, other, settings.match_radius_arcsec)
            matched_ids[name] = np.where(nearest >= 0, other.ids[np.maximum(nearest, 0)], -1)
            freq = _frequency(other_record, name)
            if abs(freq / primary_freq - 1) > 0.1:
                a, e = _spectral_index(primary, other, nearest, primary_freq, freq)
                fill = ~np.isfinite(alpha) & np.isfinite(a)
                alpha[fill], alpha_err[fill] = a[fill], e[fill]
            else:
                columns["resolved"] |= (n_within > 1) | (
                    (nearest >= 0)
                    & (other.major[np.maximum(nearest, 0)] > settings.max_size_arcsec)
                )
        columns["reference_eligible"] = (
            np.isfinite(columns["flux_mjy"])
            & (columns["flux_mjy"] > 0)
            & (columns["snr"] >= settings.reference_min_catalog_snr)
            & ~columns["resolved"]
            & ~columns["confused"]
        )
        built = datetime.now(UTC)
        conn.execute(delete(MasterSource).where(MasterSource.catalog_id == record.id))
        rows = _rows(primary, record.id, columns, alpha, alpha_err, matched_ids, built)
        for start in range(0, len(rows), _INSERT_CHUNK):
            conn.execute(insert(MasterSource), rows[start : start + _INSERT_CHUNK])
    report = MasterReport(
        catalog=key,
        n_sources=int(primary.ids.size),
        n_eligible=int(columns["reference_eligible"].sum()),
        n_resolved=int(columns["resolved"].sum()),
        n_confused=int(columns["confused"].sum()),
        n_spectral_index=int(np.isfinite(alpha).sum()),
        matched=tuple(names),
    )
    log.info(
        "master catalogue %s: %d sources, %d reference-eligible (matched: %s)",
        key,
        report.n_sources,
        report.n_eligible,
        ", ".join(names) or "none",
    )
    return report


def master_source_count(catalog: str, *, url: str | None = None) -> int:
    """Rows of ``catalog``'s master catalogue (0 when it was never built or the catalogue is not
    ingested)."""
    with get_engine(url).connect() as conn:
        record = store.catalog_record(conn, catalog_key(catalog))
        if record is None:
            return 0
        return conn.execute(
            select(func.count())
            .select_from(MasterSource)
            .where(MasterSource.catalog_id == record.id)
        ).scalar_one()


def check_normalization(catalog: str, *, asked: bool, url: str | None = None) -> None:
    """Before a service normalizes photometry against ``catalog``: is its master catalogue built?

    Without one every product would get no flux correction. When normalization was asked for
    (``--photometry-normalize``, or ``photometry.normalize`` set in the settings) that refuses
    the start; when it is only the default, a WARNING says so.

    Parameters
    ----------
    catalog : str
        The photometry catalogue.
    asked : bool
        Normalization was asked for explicitly.
    url : str, optional
        Database URL.

    Raises
    ------
    MissingMasterCatalogError
        ``asked`` and the master catalogue of ``catalog`` is empty.
    """
    if master_source_count(catalog, url=url):
        return
    key = catalog_key(catalog)
    message = (
        f"normalization needs the master catalogue of {key!r}, which is not built: run "
        f"`contimg catalog build-master --catalog {key}` first (or turn normalization "
        "off: --no-photometry-normalize, photometry.normalize = false)"
    )
    if asked:
        raise MissingMasterCatalogError(message)
    log.warning("%s; until then products get no flux correction", message)


def _record(conn: Connection, key: str):
    record = store.catalog_record(conn, key)
    if record is None:
        known = store.catalog_names(conn)
        raise UnknownCatalogError(
            f"unknown catalogue {key!r}; ingested: {', '.join(known) or 'none'}"
        )
    return record


def _frequency(record, key: str) -> float:
    return float(record.frequency_hz or SURVEY_FREQUENCY_HZ.get(key, 1.4e9))


def _read(conn: Connection, catalog_id: int) -> _Sources:
    c = CatalogSource
    rows = conn.execute(
        select(
            c.id,
            c.name,
            c.ra_deg,
            c.dec_deg,
            c.flux_mjy,
            c.flux_err_mjy,
            c.peak_flux_mjy,
            c.major_arcsec,
        )
        .where(c.catalog_id == catalog_id)
        .order_by(c.id)
    ).all()
    columns = list(zip(*rows)) if rows else [()] * 8

    def floats(values) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    return _Sources(
        np.asarray(columns[0], dtype=np.int64),
        np.asarray(columns[1], dtype=object),
        floats(columns[2]),
        floats(columns[3]),
        floats(columns[4]),
        floats(columns[5]),
        floats(columns[6]),
        floats(columns[7]),
    )


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.column_stack((np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)))


def _chord(radius_arcsec: float) -> float:
    return 2.0 * math.sin(math.radians(radius_arcsec / 3600.0) / 2.0)


def _properties(src: _Sources, settings: VariabilitySettings) -> dict[str, np.ndarray]:
    """S/N, compactness, resolved, neighbours and confusion of the primary sources."""
    flux = np.where(np.isfinite(src.flux), src.flux, src.peak)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.where(
            np.isfinite(src.flux_err) & (src.flux_err > 0), src.flux_err, settings.catalog_rms_mjy
        )
        snr = flux / error
        compactness = src.peak / src.flux
    resolved = (np.nan_to_num(src.major) > settings.max_size_arcsec) | (
        np.nan_to_num(compactness, nan=1.0) < settings.min_compactness
    )
    tree = cKDTree(_unit_vectors(src.ra, src.dec))
    pairs = tree.query_pairs(_chord(settings.confusion_radius_arcsec), output_type="ndarray")
    n_neighbours = np.bincount(pairs.ravel(), minlength=src.ids.size)
    confused = np.zeros(src.ids.size, dtype=bool)
    for this, other in ((pairs[:, 0], pairs[:, 1]), (pairs[:, 1], pairs[:, 0])):
        neighbour_flux = flux[other]
        confusing = ~np.isfinite(neighbour_flux) | (
            neighbour_flux >= settings.confusion_flux_ratio * flux[this]
        )
        confused[this[confusing]] = True
    return {
        "flux_mjy": flux,
        "flux_err_mjy": src.flux_err,
        "snr": snr,
        "compactness": compactness,
        "resolved": resolved,
        "n_neighbours": n_neighbours,
        "confused": confused,
    }


def _cross_match(
    primary: _Sources, other: _Sources, radius_arcsec: float
) -> tuple[np.ndarray, np.ndarray]:
    """Index of each primary source's nearest ``other`` source within the radius (-1 if none)
    and how many lie within it."""
    if other.ids.size == 0 or primary.ids.size == 0:
        return np.full(primary.ids.size, -1), np.zeros(primary.ids.size, dtype=np.int64)
    tree = cKDTree(_unit_vectors(other.ra, other.dec))
    points = _unit_vectors(primary.ra, primary.dec)
    chord = _chord(radius_arcsec)
    distance, nearest = tree.query(points, distance_upper_bound=chord)
    nearest = np.where(np.isfinite(distance), nearest, -1)
    n_within = np.array([len(v) for v in tree.query_ball_point(points, chord)], dtype=np.int64)
    return nearest, n_within


def _spectral_index(
    primary: _Sources, other: _Sources, nearest: np.ndarray, freq1: float, freq2: float
) -> tuple[np.ndarray, np.ndarray]:
    """α and its error from the primary flux and the matched flux at ``freq2``."""
    safe = np.maximum(nearest, 0)
    s1, e1 = primary.flux, primary.flux_err
    s2 = np.where(nearest >= 0, other.flux[safe], np.nan)
    e2 = np.where(nearest >= 0, other.flux_err[safe], np.nan)
    lever = math.log(freq2 / freq1)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.log(s2 / s1) / lever
        error = np.hypot(np.nan_to_num(e1 / s1), np.nan_to_num(e2 / s2)) / abs(lever)
    good = (s1 > 0) & (s2 > 0)
    return np.where(good, alpha, np.nan), np.where(good, error, np.nan)


def _rows(
    src: _Sources,
    catalog_id: int,
    columns: dict[str, np.ndarray],
    alpha: np.ndarray,
    alpha_err: np.ndarray,
    matched: dict[str, np.ndarray],
    built: datetime,
) -> list[dict]:
    def value(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    rows = []
    for k in range(src.ids.size):
        match = {name: int(ids[k]) for name, ids in matched.items() if ids[k] >= 0}
        rows.append(
            {
                "source_id": int(src.ids[k]),
                "catalog_id": catalog_id,
                "name": str(src.names[k]),
                "ra_deg": float(src.ra[k]),
                "dec_deg": float(src.dec[k]),
                "flux_mjy": value(columns["flux_mjy"][k]),
                "flux_err_mjy": value(columns["flux_err_mjy"][k]),
                "snr": value(columns["snr"][k]),
                "compactness": value(columns["compactness"][k]),
                "resolved": bool(columns["resolved"][k]),
                "n_neighbours": int(columns["n_neighbours"][k]),
                "confused": bool(columns["confused"][k]),
                "spectral_index": value(alpha[k]),
                "spectral_index_err": value(alpha_err[k]),
                "matches": match or None,
                "reference_eligible": bool(columns["reference_eligible"][k]),
                "built_at": built,
            }
        )
    return rows
