"""Photometry rows: bulk idempotent insert and the queries light curves are made of.

Rows are keyed by (source, product, parameter set): inserting a product's measurements again with
the same parameters replaces its rows (never duplicates them). A product measured with several
parameter sets (a reprocess) keeps one row per set; the queries return the *current*
measurement, the most recently stored one, unless a ``params_hash`` is given.

NaN measurements are stored as NULL (SQLite cannot hold NaN, so both backends store NULL) and
read back as NaN; the flags say why a value is missing. Observation times come from the product
(its FITS header, recorded at registration), never from the clock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
from astropy.table import Table
from sqlalchemy import Connection, RowMapping, Select, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from dsa110_contimg.database.models import (
    CatalogSource,
    Photometry,
    PhotometryParamSet,
    Product,
)
from dsa110_contimg.database.registry import UnknownDataError
from dsa110_contimg.database.session import driver_connection, get_engine

__all__ = [
    "LIGHTCURVE_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PRODUCT_PHOTOMETRY_COLUMNS",
    "REQUIRED_COLUMNS",
    "light_curve",
    "params_hash",
    "params_set_id",
    "photometry_count",
    "photometry_for_product",
    "photometry_insert",
    "latest_measurements",
    "measurement_summary",
    "product_id_of",
]

log = logging.getLogger(__name__)

#: Measurement-table columns `photometry_insert` needs (those of
#: `dsa110_contimg.photometry.forced.measure_many`; ``name``, ``x_pix``, ``y_pix``,
#: ``background_jyb`` and ``edge_dist_pix`` are accepted and not stored).
REQUIRED_COLUMNS = (
    "source_id",
    "ra_deg",
    "dec_deg",
    "peak_jyb",
    "peak_err_jyb",
    "local_rms_jyb",
    "snr",
    "chisq",
    "dof",
    "flags",
    "group_id",
    "group_size",
    "pb_response",
)
#: Stored when present, NULL otherwise.
OPTIONAL_COLUMNS = ("int_flux_jy", "int_flux_err_jy", "peak_norm_jyb", "peak_norm_err_jyb")
_MEASURED = tuple(c for c in REQUIRED_COLUMNS if c != "source_id") + OPTIONAL_COLUMNS
_KEY = ("source_id", "product_id", "params_id")
_ROW_COLUMNS = _KEY + ("job_id", "mjd_mid") + _MEASURED + ("measured_at",)
_UPDATED = tuple(c for c in _ROW_COLUMNS if c not in _KEY)
_INTEGER = ("source_id", "flags", "group_id", "group_size", "job_id")
_TEXT = ("name", "data_id", "params_hash")
#: Largest id list sent in one ``IN (...)`` (SQLite limits bound parameters per statement).
_IN_CHUNK = 5000

LIGHTCURVE_COLUMNS = (
    "data_id",
    "mjd_mid",
    "peak_jyb",
    "peak_err_jyb",
    "peak_norm_jyb",
    "peak_norm_err_jyb",
    "flags",
    "local_rms_jyb",
    "snr",
    "pb_response",
)
PRODUCT_PHOTOMETRY_COLUMNS = (
    ("source_id", "name", "mjd_mid") + _MEASURED + ("params_hash", "job_id")
)


def params_hash(params: dict) -> str:
    """Short stable hash of measurement parameters (catalogue, fit options, ...).

    Examples
    --------
    >>> params_hash({"b": 1, "a": 2}) == params_hash({"a": 2, "b": 1})
    True
    """
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def photometry_insert(
    data_id: str,
    table: Table,
    *,
    params_hash: str,
    job_id: int | None = None,
    url: str | None = None,
) -> int:
    """Upsert a product's measurements in one transaction; returns the number of rows stored.

    Parameters
    ----------
    data_id : str
        The registered product; its observation mid-time becomes every row's ``mjd_mid``.
    table : astropy.table.Table
        One row per position with `REQUIRED_COLUMNS` (and any of `OPTIONAL_COLUMNS`). Rows
        without a catalogue ``source_id`` (< 1 or masked) cannot be stored and are skipped
        with a warning. NaN and masked values are stored as NULL.
    params_hash : str
        Identifies the measurement parameters (see `params_hash`); part of the row key.
    job_id : int, optional
        The batch job that made the measurements.
    url : str, optional
        Database URL (default from settings).

    Returns
    -------
    int
        Rows inserted or replaced.

    Raises
    ------
    UnknownDataError
        ``data_id`` has no product record.
    ValueError
        ``table`` lacks required columns.

    Notes
    -----
    SQLite executes one ``INSERT … ON CONFLICT DO UPDATE`` for all rows. PostgreSQL locks the
    product row (so concurrent writers of one product queue), then COPYs the rows (binary
    format) straight into the table when the product has none with these parameters yet, or
    into a temporary table merged with ``INSERT … ON CONFLICT DO UPDATE`` when it is a re-run.
    On PostgreSQL most of the time goes to the foreign-key checks (a key-share lock on each
    referenced catalogue source).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in table.colnames]
    if missing:
        raise ValueError(f"{data_id}: measurement table lacks column(s) {', '.join(missing)}")
    engine = get_engine(url)
    with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        query = select(Product.id, Product.mjd_mid).where(Product.data_id == data_id)
        product = conn.execute(query.with_for_update() if postgres else query).first()
        if product is None:
            raise UnknownDataError(f"no product with data_id {data_id!r}")
        params_id = params_set_id(conn, params_hash)
        columns = _columns(data_id, table, product.id, product.mjd_mid, job_id, params_id)
        n = int(columns["source_id"].size)
        if n == 0:
            return 0
        if not postgres:
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            driver_connection(conn).executemany(_SQLITE_UPSERT, _rows(columns, stamp))
        elif _has_rows(conn, product.id, params_id):
            _copy_upsert(conn, columns)
        else:
            _copy(conn, "photometry", columns)
    return n


def photometry_for_product(
    data_id: str,
    *,
    params_hash: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    url: str | None = None,
) -> Table:
    """A product's stored measurements, by source id (columns `PRODUCT_PHOTOMETRY_COLUMNS`).

    Without ``params_hash`` each source's current (most recently stored) measurement is
    returned; with it, only that parameter set's rows.

    Raises
    ------
    UnknownDataError
        ``data_id`` has no product record.
    """
    with get_engine(url).connect() as conn:
        product_id = product_id_of(conn, data_id)
        rows = _current(
            select(Photometry, PhotometryParamSet.params_hash)
            .join(PhotometryParamSet, PhotometryParamSet.id == Photometry.params_id)
            .where(Photometry.product_id == product_id),
            partition_by=Photometry.source_id,
            params=params_hash,
        )
        query = (
            select(rows, CatalogSource.name)
            .join(CatalogSource, CatalogSource.id == rows.c.source_id)
            .order_by(rows.c.source_id)
            .offset(offset)
            .limit(limit)
        )
        result = conn.execute(query).mappings().all()
    return _table(result, PRODUCT_PHOTOMETRY_COLUMNS)


def photometry_count(
    data_id: str, *, params_hash: str | None = None, url: str | None = None
) -> int:
    """How many rows `photometry_for_product` returns for the product (all pages).

    Raises
    ------
    UnknownDataError
        ``data_id`` has no product record.
    """
    with get_engine(url).connect() as conn:
        product_id = product_id_of(conn, data_id)
        query = select(func.count(func.distinct(Photometry.source_id))).where(
            Photometry.product_id == product_id
        )
        if params_hash is not None:
            query = query.join(
                PhotometryParamSet, PhotometryParamSet.id == Photometry.params_id
            ).where(PhotometryParamSet.params_hash == params_hash)
        return int(conn.execute(query).scalar_one())


def light_curve(source_id: int, *, params_hash: str | None = None, url: str | None = None) -> Table:
    """All measurements of one source, ordered by observation MJD (columns
    `LIGHTCURVE_COLUMNS`).

    One point per product: its current measurement, or that of ``params_hash`` when given.
    """
    rows = _current(
        select(
            Product.data_id,
            Photometry.mjd_mid,
            Photometry.peak_jyb,
            Photometry.peak_err_jyb,
            Photometry.peak_norm_jyb,
            Photometry.peak_norm_err_jyb,
            Photometry.flags,
            Photometry.local_rms_jyb,
            Photometry.snr,
            Photometry.pb_response,
        )
        .join(Product, Product.id == Photometry.product_id)
        .join(PhotometryParamSet, PhotometryParamSet.id == Photometry.params_id)
        .where(Photometry.source_id == source_id),
        partition_by=Photometry.product_id,
        params=params_hash,
    )
    with get_engine(url).connect() as conn:
        result = (
            conn.execute(select(rows).order_by(rows.c.mjd_mid, rows.c.data_id)).mappings().all()
        )
    return _table(result, LIGHTCURVE_COLUMNS)


def measurement_summary(source_id: int, *, url: str | None = None) -> dict[str, float | int]:
    """How often a source was measured: ``n_measurements`` (products with a measurement),
    ``first_mjd`` and ``last_mjd`` (NaN when never measured)."""
    with get_engine(url).connect() as conn:
        n, first, last = conn.execute(
            select(
                func.count(func.distinct(Photometry.product_id)),
                func.min(Photometry.mjd_mid),
                func.max(Photometry.mjd_mid),
            ).where(Photometry.source_id == source_id)
        ).one()
    return {"n_measurements": int(n), "first_mjd": _nan(first), "last_mjd": _nan(last)}


def latest_measurements(source_ids: Sequence[int], *, url: str | None = None) -> Table:
    """Each source's current measurement on the product observed last.

    Returns one row per given id, in order: ``source_id``, ``latest_mjd``, ``latest_peak_jyb``
    and ``latest_peak_err_jyb`` (NaN where the source was never measured).
    """
    ids = [int(v) for v in source_ids]
    latest: dict[int, RowMapping] = {}
    with get_engine(url).connect() as conn:
        for chunk in _chunks(ids):
            rows = _current(
                select(
                    Photometry.source_id,
                    Photometry.mjd_mid,
                    Photometry.peak_jyb,
                    Photometry.peak_err_jyb,
                ).where(Photometry.source_id.in_(chunk)),
                partition_by=Photometry.source_id,
                newest_first=(Photometry.mjd_mid.desc(),),
            )
            latest.update((r["source_id"], r) for r in conn.execute(select(rows)).mappings())
    table = Table({"source_id": np.asarray(ids, dtype=np.int64)})
    for column, field in (
        ("latest_mjd", "mjd_mid"),
        ("latest_peak_jyb", "peak_jyb"),
        ("latest_peak_err_jyb", "peak_err_jyb"),
    ):
        table[column] = np.array(
            [_nan(latest[i][field] if i in latest else None) for i in ids], dtype=float
        )
    return table


def _current(query: Select, *, partition_by, params: str | None = None, newest_first: tuple = ()):
    """Subquery of ``query`` keeping one row per ``partition_by`` value: the newest.

    "Newest" orders by ``newest_first``, then the time the row was stored, then the parameter
    set id. With ``params`` only that parameter set's rows are kept (one per key already).
    """
    if params is not None:
        return query.where(PhotometryParamSet.params_hash == params).subquery()
    rank = func.row_number().over(
        partition_by=partition_by,
        order_by=(*newest_first, Photometry.measured_at.desc(), Photometry.params_id.desc()),
    )
    ranked = query.add_columns(rank.label("_rank")).subquery()
    keep = [c for c in ranked.c if c.name != "_rank"]
    return select(*keep).where(ranked.c._rank == 1).subquery()


def product_id_of(conn: Connection, data_id: str) -> int:
    """The product id of ``data_id``; `UnknownDataError` when it has no product record."""
    product_id = conn.execute(select(Product.id).where(Product.data_id == data_id)).scalar()
    if product_id is None:
        raise UnknownDataError(f"no product with data_id {data_id!r}")
    return product_id


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def _columns(
    data_id: str,
    table: Table,
    product_id: int,
    mjd_mid: float | None,
    job_id: int | None,
    params_id: int,
) -> dict[str, np.ndarray]:
    """Column arrays in source order (the order of the source-led key: fewer page visits)."""
    source_id = np.ma.filled(np.ma.asarray(table["source_id"], dtype=np.int64), -1)
    order = np.argsort(source_id, kind="stable")
    keep = order[source_id[order] > 0]
    if keep.size < source_id.size:
        log.warning(
            "%s: %d of %d measurements have no catalogue source id and are not stored",
            data_id,
            source_id.size - keep.size,
            source_id.size,
        )
    n = int(keep.size)
    columns: dict[str, np.ndarray] = {
        "source_id": source_id[keep],
        "product_id": np.full(n, product_id, dtype=np.int64),
        "params_id": np.full(n, params_id, dtype=np.int64),
        "job_id": np.full(n, job_id, dtype=object),
        "mjd_mid": np.full(n, np.nan if mjd_mid is None else mjd_mid),
    }
    for name in _MEASURED:
        if name not in table.colnames:
            columns[name] = np.full(n, np.nan)
        elif name in _INTEGER:
            columns[name] = np.ma.filled(np.ma.asarray(table[name], dtype=np.int64), -1)[keep]
        else:
            columns[name] = np.ma.filled(np.ma.asarray(table[name], dtype=float), np.nan)[keep]
    return columns


def _has_rows(conn: Connection, product_id: int, params_id: int) -> bool:
    return (
        conn.execute(
            select(Photometry.source_id)
            .where(Photometry.product_id == product_id, Photometry.params_id == params_id)
            .limit(1)
        ).first()
        is not None
    )


def params_set_id(conn: Connection, phash: str) -> int:
    """Id of a parameter set, created on first use (concurrent writers may race: re-read)."""
    found = conn.execute(
        select(PhotometryParamSet.id).where(PhotometryParamSet.params_hash == phash)
    ).scalar()
    if found is not None:
        return int(found)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(PhotometryParamSet.__table__)
        .values(params_hash=phash)
        .on_conflict_do_nothing(index_elements=["params_hash"])
    )
    return int(
        conn.execute(
            select(PhotometryParamSet.id).where(PhotometryParamSet.params_hash == phash)
        ).scalar_one()
    )


def _rows(columns: dict[str, np.ndarray], measured_at: object) -> list[tuple]:
    """Row tuples in `_ROW_COLUMNS` order, NaN → None, one ``measured_at`` for all rows."""
    converted = []
    for name in _ROW_COLUMNS[:-1]:
        values = columns[name]
        if values.dtype.kind == "f" and np.isnan(values).any():
            column = values.astype(object)
            column[np.isnan(values)] = None
            converted.append(column.tolist())
        else:
            converted.append(values.tolist())
    converted.append([measured_at] * len(converted[0]))
    return list(zip(*converted))


#: PostgreSQL types of the non-float row columns (binary COPY needs every column's type).
_PG_TYPES = {
    "source_id": "int8",
    "product_id": "int8",
    "params_id": "int4",
    "job_id": "int4",
    "flags": "int4",
    "group_id": "int8",
    "group_size": "int4",
    "measured_at": "timestamptz",
}
_SQLITE_UPSERT = (
    f"INSERT INTO photometry ({', '.join(_ROW_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _ROW_COLUMNS)}) "
    f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _UPDATED)
)


def _copy(conn: Connection, table_name: str, columns: dict[str, np.ndarray]) -> None:
    """PostgreSQL: stream the rows into ``table_name`` with a binary COPY."""
    raw = driver_connection(conn)
    with raw.cursor().copy(
        f"COPY {table_name} ({', '.join(_ROW_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types([_PG_TYPES.get(c, "float8") for c in _ROW_COLUMNS])
        for row in _rows(columns, datetime.now(UTC)):
            copy.write_row(row)


def _copy_upsert(conn: Connection, columns: dict[str, np.ndarray]) -> None:
    """PostgreSQL: COPY into a temporary table, then one INSERT … ON CONFLICT from it."""
    names = ", ".join(_ROW_COLUMNS)
    conn.execute(
        text(
            f"CREATE TEMP TABLE photometry_load ON COMMIT DROP AS "
            f"SELECT {names} FROM photometry WITH NO DATA"
        )
    )
    _copy(conn, "photometry_load", columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATED)
    conn.execute(
        text(
            f"INSERT INTO photometry ({names}) SELECT {names} FROM photometry_load "
            f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {updates}"
        )
    )


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def _table(rows, names: tuple[str, ...]) -> Table:
    """An astropy Table of query rows: NULL → NaN (floats) or -1 (integers)."""
    table = Table()
    for name in names:
        values = [row[name] for row in rows]
        if name in _TEXT:
            table[name] = np.asarray(values, dtype=str) if values else np.zeros(0, dtype=str)
        elif name in _INTEGER:
            table[name] = np.asarray([-1 if v is None else v for v in values], dtype=np.int64)
        else:
            table[name] = np.asarray([_nan(v) for v in values], dtype=float)
    return table
