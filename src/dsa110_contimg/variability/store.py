"""Per-source variability statistics in the database (table ``variability_stats``).

A product's normalized measurements are added with `add_measurements`: one
``INSERT … ON CONFLICT DO UPDATE`` that increments the sums and replaces the extremes inside
the database, so adding a measurement costs O(1) whatever the source's history, concurrent
workers never lose each other's updates, and arrival order does not matter. Sums are kept about
a per-source shift (the catalogue flux, see `dsa110_contimg.variability.metrics`); a stored
row keeps its shift and increments made about another one are converted in the same statement.

`recompute` rebuilds sources' statistics in batch from their stored measurements (each
product's current measurement), as after a product was reprocessed; on PostgreSQL writers of
the statistics take one advisory lock so that a recomputation never loses a concurrent
increment. Measurements with
`EXCLUDED_FLAGS` or without a normalized flux are never counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import numpy as np
from sqlalchemy import Connection, Table, case, delete, func, insert, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import (
    CatalogSource,
    Photometry,
    Product,
    VariabilityStats,
)
from dsa110_contimg.photometry.flags import PhotometryFlag
from dsa110_contimg.variability.metrics import RunningStats
from dsa110_contimg.variability.significance import LightCurve

__all__ = [
    "EXCLUDED_FLAGS",
    "SourceIds",
    "StoredStats",
    "add_measurements",
    "catalog_shift",
    "light_curves",
    "read_stats",
    "recompute",
]

#: Catalogue source ids, as a sequence or an integer array.
SourceIds = Sequence[int] | np.ndarray

#: Measurements with any of these flags are left out of the statistics.
EXCLUDED_FLAGS = (
    PhotometryFlag.OFF_IMAGE
    | PhotometryFlag.FIT_FAILED
    | PhotometryFlag.NAN_IN_BOX
    | PhotometryFlag.NEAR_EDGE
    | PhotometryFlag.NO_NOISE
    | PhotometryFlag.MERGED
)
_IN_CHUNK = 5000
#: PostgreSQL advisory lock that serializes writers of the statistics (see `_serialize`).
_STATS_LOCK = 0x7661726961626C65
_SUMS = ("n", "sum_w", "sum_ws", "sum_ws2", "sum_s", "sum_s2")
_stats = cast(Table, VariabilityStats.__table__)


@dataclass(frozen=True)
class StoredStats:
    """Statistics of a set of sources read from the database.

    Attributes
    ----------
    source_id : ndarray
        The sources, in the order of ``stats`` (sources without statistics have ``n = 0``).
    stats : RunningStats
    mjd_first, mjd_last : ndarray
        First and last observation MJD counted (NaN without measurements).
    """

    source_id: np.ndarray
    stats: RunningStats
    mjd_first: np.ndarray
    mjd_last: np.ndarray


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def _serialize(conn: Connection) -> None:
    """On PostgreSQL, hold the statistics' advisory lock until the transaction ends.

    Increments alone are atomic row upserts, but a batch recomputation reads measurements and
    then rewrites rows: a concurrent increment committed in between would be lost (or a new
    row collide). SQLite serializes writers by itself.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _STATS_LOCK})


def catalog_shift(conn: Connection, source_ids: np.ndarray) -> np.ndarray:
    """Each source's catalogue flux in Jy (integrated, else peak; 0 when it has neither)."""
    flux: dict[int, float] = {}
    ids = [int(s) for s in source_ids]
    for chunk in _chunks(ids):
        rows = conn.execute(
            select(CatalogSource.id, CatalogSource.flux_mjy, CatalogSource.peak_flux_mjy).where(
                CatalogSource.id.in_(chunk)
            )
        ).all()
        for row in rows:
            value = row.flux_mjy if row.flux_mjy is not None else row.peak_flux_mjy
            flux[int(row.id)] = 1e-3 * value if value is not None else 0.0
    return np.array([flux.get(s, 0.0) for s in ids], dtype=float)


def add_measurements(
    conn: Connection,
    source_id: np.ndarray,
    flux: np.ndarray,
    error: np.ndarray,
    flags: np.ndarray,
    mjd: float | None,
) -> int:
    """Add one product's normalized measurements (one per source) to the statistics; O(1) each.

    Measurements with `EXCLUDED_FLAGS`, a non-finite flux or an error ≤ 0 are skipped.
    Returns the number added.
    """
    source_id = np.asarray(source_id, dtype=np.int64)
    flux, error = np.asarray(flux, dtype=float), np.asarray(error, dtype=float)
    good = (
        np.isfinite(flux)
        & np.isfinite(error)
        & (error > 0)
        & ((np.asarray(flags, dtype=np.int64) & int(EXCLUDED_FLAGS)) == 0)
    )
    order = np.argsort(source_id[good], kind="stable")  # one lock order for every writer
    source_id, flux, error = source_id[good][order], flux[good][order], error[good][order]
    if source_id.size == 0:
        return 0
    _serialize(conn)
    shift = catalog_shift(conn, source_id)
    weight = 1.0 / error**2
    offset = flux - shift
    now = datetime.now(UTC)
    rows = [
        {
            "source_id": int(s),
            "n": 1,
            "shift_jy": float(k),
            "sum_w": float(w),
            "sum_ws": float(w * d),
            "sum_ws2": float(w * d * d),
            "sum_s": float(d),
            "sum_s2": float(d * d),
            "max_flux_jy": float(f),
            "max_flux_err_jy": float(e),
            "min_flux_jy": float(f),
            "min_flux_err_jy": float(e),
            "mjd_first": mjd,
            "mjd_last": mjd,
            "updated_at": now,
        }
        for s, k, w, d, f, e in zip(source_id, shift, weight, offset, flux, error)
    ]
    conn.execute(_increment(conn.dialect.name), rows)
    return len(rows)


def _increment(dialect_name: str):
    """The upsert adding a row's sums to the stored ones (converted to the stored shift)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(_stats)
    new, old = statement.excluded, _stats.c
    d = new.shift_jy - old.shift_jy  # increments are about new.shift; stored sums about old
    values = {
        "n": old.n + new.n,
        "sum_w": old.sum_w + new.sum_w,
        "sum_ws": old.sum_ws + new.sum_ws + d * new.sum_w,
        "sum_ws2": old.sum_ws2 + new.sum_ws2 + 2 * d * new.sum_ws + d * d * new.sum_w,
        "sum_s": old.sum_s + new.sum_s + d * new.n,
        "sum_s2": old.sum_s2 + new.sum_s2 + 2 * d * new.sum_s + d * d * new.n,
        "updated_at": new.updated_at,
    }
    for column, err, better in (
        ("max_flux_jy", "max_flux_err_jy", new.max_flux_jy > old.max_flux_jy),
        ("min_flux_jy", "min_flux_err_jy", new.min_flux_jy < old.min_flux_jy),
    ):
        replace = or_(old[column].is_(None), better)
        values[column] = case((replace, new[column]), else_=old[column])
        values[err] = case((replace, new[err]), else_=old[err])
    values["mjd_first"] = case(
        (or_(old.mjd_first.is_(None), new.mjd_first < old.mjd_first), new.mjd_first),
        else_=old.mjd_first,
    )
    values["mjd_last"] = case(
        (or_(old.mjd_last.is_(None), new.mjd_last > old.mjd_last), new.mjd_last), else_=old.mjd_last
    )
    return statement.on_conflict_do_update(index_elements=[old.source_id], set_=values)


def read_stats(conn: Connection, source_ids: SourceIds | None = None) -> StoredStats:
    """Stored statistics of ``source_ids`` (all stored sources when None)."""
    columns = [
        _stats.c[c]
        for c in (
            "source_id",
            *_SUMS,
            "shift_jy",
            "max_flux_jy",
            "max_flux_err_jy",
            "min_flux_jy",
            "min_flux_err_jy",
            "mjd_first",
            "mjd_last",
        )
    ]
    if source_ids is None:
        rows = conn.execute(select(*columns).order_by(_stats.c.source_id)).all()
        ids = np.array([r.source_id for r in rows], dtype=np.int64)
    else:
        ids = np.asarray(source_ids, dtype=np.int64)
        rows = []
        for chunk in _chunks([int(s) for s in ids]):
            rows.extend(conn.execute(select(*columns).where(_stats.c.source_id.in_(chunk))))
    position = {int(s): k for k, s in enumerate(ids)}
    stats = RunningStats.empty(ids.size)
    mjd_first, mjd_last = np.full(ids.size, np.nan), np.full(ids.size, np.nan)
    for row in rows:
        k = position[int(row.source_id)]
        for name in _SUMS:
            getattr(stats, name)[k] = getattr(row, name)
        stats.shift[k] = row.shift_jy
        for attr, column in (
            ("max_flux", "max_flux_jy"),
            ("max_err", "max_flux_err_jy"),
            ("min_flux", "min_flux_jy"),
            ("min_err", "min_flux_err_jy"),
        ):
            value = getattr(row, column)
            getattr(stats, attr)[k] = np.nan if value is None else value
        mjd_first[k] = np.nan if row.mjd_first is None else row.mjd_first
        mjd_last[k] = np.nan if row.mjd_last is None else row.mjd_last
    return StoredStats(ids, stats, mjd_first, mjd_last)


def recompute(
    conn: Connection,
    source_ids: SourceIds | None = None,
    *,
    product_types: Sequence[str] | None = None,
) -> int:
    """Rebuild the statistics of ``source_ids`` (all measured sources when None) in batch.

    Each product of ``product_types`` (default: setting
    ``variability.statistics_product_types``) counts once, with its current measurement (the
    most recently stored of its parameter sets). Returns the number of sources written.
    """
    types = list(product_types or get_settings().variability.statistics_product_types)
    _serialize(conn)
    if source_ids is None:
        ids = list(
            conn.execute(
                select(Photometry.source_id).distinct().where(Photometry.peak_norm_jyb.is_not(None))
            ).scalars()
        )
        conn.execute(delete(_stats))
    else:
        ids = sorted({int(s) for s in source_ids})
        for chunk in _chunks(ids):
            conn.execute(delete(_stats).where(_stats.c.source_id.in_(chunk)))
    written = 0
    for chunk in _chunks(sorted(int(s) for s in ids)):
        measured = _current_measurements(conn, chunk, types)
        if not measured:
            continue
        source, flux, error, mjd = (np.array(v, dtype=float) for v in zip(*measured))
        source = source.astype(np.int64)
        unique, index = np.unique(source, return_inverse=True)
        stats = RunningStats.from_measurements(
            unique.size, index, flux, error, shift=catalog_shift(conn, unique)
        )
        first = np.full(unique.size, np.inf)
        last = np.full(unique.size, -np.inf)
        np.minimum.at(first, index, mjd)
        np.maximum.at(last, index, mjd)
        now = datetime.now(UTC)
        rows = [
            {
                "source_id": int(s),
                "n": int(stats.n[k]),
                "shift_jy": float(stats.shift[k]),
                **{name: float(getattr(stats, name)[k]) for name in _SUMS[1:]},
                "max_flux_jy": float(stats.max_flux[k]),
                "max_flux_err_jy": float(stats.max_err[k]),
                "min_flux_jy": float(stats.min_flux[k]),
                "min_flux_err_jy": float(stats.min_err[k]),
                "mjd_first": _finite(first[k]),
                "mjd_last": _finite(last[k]),
                "updated_at": now,
            }
            for k, s in enumerate(unique)
            if stats.n[k] > 0
        ]
        if rows:
            conn.execute(insert(_stats), rows)
        written += len(rows)
    return written


def light_curves(
    conn: Connection, source_ids: SourceIds, *, product_types: Sequence[str] | None = None
) -> dict[int, LightCurve]:
    """The light curves counted in the statistics of ``source_ids`` (time-sorted; measurements
    without an MJD are left out), keyed by source id.

    Products of ``product_types`` (default: setting ``variability.statistics_product_types``)
    count once each, with their current measurement, as in `recompute`.
    """
    types = list(product_types or get_settings().variability.statistics_product_types)
    curves: dict[int, LightCurve] = {}
    for chunk in _chunks(sorted(int(s) for s in source_ids)):
        measured = _current_measurements(conn, chunk, types)
        if not measured:
            continue
        source, flux, error, mjd = (np.array(v, dtype=float) for v in zip(*measured))
        order = np.lexsort((mjd, source))
        source, flux, error, mjd = source[order], flux[order], error[order], mjd[order]
        timed = np.isfinite(mjd)
        for s in np.unique(source):
            rows = (source == s) & timed
            curves[int(s)] = LightCurve(mjd[rows], flux[rows], error[rows])
    return curves


def _current_measurements(
    conn: Connection, source_ids: Sequence[int], product_types: Sequence[str]
) -> list:
    """(source, normalized flux, error, mjd) of the current measurement of each product of
    ``product_types``."""
    rank = func.row_number().over(
        partition_by=(Photometry.source_id, Photometry.product_id),
        order_by=(Photometry.measured_at.desc(), Photometry.params_id.desc()),
    )
    ranked = (
        select(
            Photometry.source_id,
            Photometry.peak_norm_jyb,
            Photometry.peak_norm_err_jyb,
            Photometry.mjd_mid,
            Photometry.flags,
            rank.label("rank"),
        )
        .join(Product, Product.id == Photometry.product_id)
        .where(Photometry.source_id.in_(source_ids), Product.data_type.in_(product_types))
        .subquery()
    )
    query = select(
        ranked.c.source_id, ranked.c.peak_norm_jyb, ranked.c.peak_norm_err_jyb, ranked.c.mjd_mid
    ).where(
        ranked.c.rank == 1,
        ranked.c.peak_norm_jyb.is_not(None),
        ranked.c.flags.op("&")(int(EXCLUDED_FLAGS)) == 0,
    )
    return [
        (
            r.source_id,
            r.peak_norm_jyb,
            r.peak_norm_err_jyb,
            np.nan if r.mjd_mid is None else r.mjd_mid,
        )
        for r in conn.execute(query)
    ]


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
