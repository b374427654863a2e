"""Photometry rows: bulk idempotent insert and the queries light curves are made of.

Rows are keyed by (product, source, params hash): inserting a product's measurements again with
the same parameters replaces its rows (never duplicates them). NaN measurements are stored as
NULL; the flags say why. Observation times come from the product (its FITS header), never from
the clock.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone

import numpy as np
from astropy.table import Table
from sqlalchemy import Connection, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from dsa110_contimg.catalog.query import cone_search
from dsa110_contimg.database.data_registry import UnknownDataError
from dsa110_contimg.database.models import (
    Catalog,
    CatalogSource,
    Photometry,
    PhotometryParamSet,
    Product,
)
from dsa110_contimg.database.session import get_engine

__all__ = [
    "LIGHTCURVE_COLUMNS",
    "light_curve",
    "params_hash",
    "photometry_for_product",
    "photometry_insert",
    "resolve_source",
    "sources_in_cone",
]

#: Measurement-table columns stored per row (see `dsa110_contimg.photometry.forced`).
_MEASURED = ("ra_deg", "dec_deg", "peak_jyb", "peak_err_jyb", "int_flux_jy", "local_rms_jyb",
             "snr", "chisq", "dof", "flags", "group_id", "group_size", "pb_response")
_OPTIONAL = ("flux_norm_jyb", "flux_norm_err_jyb")
_ROW_COLUMNS = ("product_id", "source_id", "job_id", "params_id", "mjd_obs") + _MEASURED \
    + _OPTIONAL + ("measured_at",)
LIGHTCURVE_COLUMNS = ("data_id", "mjd", "peak_jyb", "peak_err_jyb", "normalized_flux_jy",
                      "normalized_flux_err_jy", "flags", "local_rms_jyb", "snr", "pb_response")


def params_hash(params: dict) -> str:
    """Short stable hash of measurement parameters (catalogue, fit options, ...)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def photometry_insert(data_id: str, table: Table, *, params_hash: str,
                      job_id: int | None = None, url: str | None = None) -> int:
    """Upsert a product's measurements in one transaction; returns the number of rows.

    Rows without a catalogue ``source_id`` (< 1) are not stored. On PostgreSQL the rows are
    streamed with COPY into a temporary table and merged; on SQLite an ``INSERT … ON CONFLICT``
    statement is executed for all rows at once.

    Raises
    ------
    UnknownDataError
        ``data_id`` has no product record.
    """
    engine = get_engine(url)
    with engine.begin() as conn:
        product = conn.execute(select(Product.id, Product.mjd_mid).where(
            Product.data_id == data_id)).first()
        if product is None:
            raise UnknownDataError(f"no product with data_id {data_id!r}")
        params_id = _params_id(conn, params_hash)
        columns = _columns(table, product.id, product.mjd_mid, job_id, params_id)
        if columns["source_id"].size == 0:
            return 0
        if conn.dialect.name == "postgresql":
            _copy_upsert(conn, columns)
        else:
            conn.connection.driver_connection.executemany(_SQLITE_UPSERT, _rows(columns))
    return int(columns["source_id"].size)


def photometry_for_product(data_id: str, *, params_hash: str | None = None,
                           limit: int | None = None, offset: int = 0,
                           url: str | None = None) -> Table:
    """A product's stored measurements (optionally of one parameter set), by source id."""
    query = (select(Photometry, CatalogSource.name, PhotometryParamSet.params_hash)
             .join(Product, Product.id == Photometry.product_id)
             .join(PhotometryParamSet, PhotometryParamSet.id == Photometry.params_id)
             .join(CatalogSource, CatalogSource.id == Photometry.source_id)
             .where(Product.data_id == data_id)
             .order_by(Photometry.source_id).offset(offset))
    if params_hash is not None:
        query = query.where(PhotometryParamSet.params_hash == params_hash)
    if limit is not None:
        query = query.limit(limit)
    with get_engine(url).connect() as conn:
        if conn.execute(select(Product.id).where(Product.data_id == data_id)).first() is None:
            raise UnknownDataError(f"no product with data_id {data_id!r}")
        rows = conn.execute(query).mappings().all()
    names = ("source_id", "name", "mjd_obs") + _MEASURED + _OPTIONAL + ("params_hash", "job_id")
    return _table(rows, names)


def light_curve(source_id: int, *, url: str | None = None) -> Table:
    """All measurements of one source, ordered by observation MJD (columns
    `LIGHTCURVE_COLUMNS`)."""
    query = (select(Product.data_id, Photometry.mjd_obs.label("mjd"), Photometry.peak_jyb,
                    Photometry.peak_err_jyb, Photometry.flux_norm_jyb.label("normalized_flux_jy"),
                    Photometry.flux_norm_err_jyb.label("normalized_flux_err_jy"),
                    Photometry.flags, Photometry.local_rms_jyb, Photometry.snr,
                    Photometry.pb_response)
             .join(Product, Product.id == Photometry.product_id)
             .where(Photometry.source_id == source_id)
             .order_by(Photometry.mjd_obs, Product.data_id))
    with get_engine(url).connect() as conn:
        rows = conn.execute(query).mappings().all()
    return _table(rows, LIGHTCURVE_COLUMNS)


def resolve_source(source: str | int, *, catalog: str | None = None,
                   url: str | None = None) -> tuple[int, str]:
    """``(source_id, name)`` of a catalogue source given by id or by name.

    Raises
    ------
    LookupError
        No such source, or a name found in several catalogues (pass ``catalog``).
    """
    query = select(CatalogSource.id, CatalogSource.name, Catalog.name.label("catalog")).join(
        Catalog, Catalog.id == CatalogSource.catalog_id)
    text_value = str(source).strip()
    if text_value.isdigit():
        query = query.where(CatalogSource.id == int(text_value))
    else:
        query = query.where(CatalogSource.name == text_value)
    if catalog:
        query = query.where(Catalog.name == catalog.strip().lower())
    with get_engine(url).connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        raise LookupError(f"no catalogue source {text_value!r}"
                          + (f" in catalogue {catalog!r}" if catalog else ""))
    if len(rows) > 1:
        raise LookupError(f"source name {text_value!r} is in several catalogues "
                          f"({', '.join(r.catalog for r in rows)}); choose one with --catalog")
    return int(rows[0].id), str(rows[0].name)


def sources_in_cone(catalog: str, ra_deg: float, dec_deg: float, radius_deg: float, *,
                    url: str | None = None) -> Table:
    """Catalogue sources in a cone with their latest measured peak and its MJD (NaN if none)."""
    sources = cone_search(catalog, ra_deg, dec_deg, radius_deg, url=url)
    latest = {}
    if len(sources):
        ids = [int(v) for v in sources["source_id"]]
        newest = (select(Photometry.source_id, func.max(Photometry.mjd_obs).label("mjd"))
                  .where(Photometry.source_id.in_(ids)).group_by(Photometry.source_id)
                  .subquery())
        query = (select(Photometry.source_id, Photometry.mjd_obs, Photometry.peak_jyb,
                        Photometry.peak_err_jyb)
                 .join(newest, (newest.c.source_id == Photometry.source_id)
                       & (newest.c.mjd == Photometry.mjd_obs)))
        with get_engine(url).connect() as conn:
            latest = {r.source_id: r for r in conn.execute(query)}
    sources["latest_mjd"] = [_nan(getattr(latest.get(s), "mjd_obs", None))
                             for s in sources["source_id"]]
    sources["latest_peak_jyb"] = [_nan(getattr(latest.get(s), "peak_jyb", None))
                                  for s in sources["source_id"]]
    sources["latest_peak_err_jyb"] = [_nan(getattr(latest.get(s), "peak_err_jyb", None))
                                      for s in sources["source_id"]]
    return sources


def _columns(table: Table, product_id: int, mjd_obs: float | None, job_id: int | None,
             params_id: int) -> dict[str, np.ndarray]:
    source_id = np.asarray(table["source_id"], dtype=np.int64)
    # Rows in source order reach the source-led unique index in key order (fewer page visits).
    keep = np.argsort(source_id, kind="stable")
    keep = keep[source_id[keep] > 0]
    n = int(keep.size)
    columns: dict[str, np.ndarray] = {
        "product_id": np.full(n, product_id, dtype=np.int64),
        "source_id": source_id[keep],
        "job_id": np.full(n, job_id, dtype=object),
        "params_id": np.full(n, params_id, dtype=np.int64),
        "mjd_obs": np.full(n, np.nan if mjd_obs is None else mjd_obs),
        "measured_at": np.full(n, datetime.now(timezone.utc), dtype=object),
    }
    for name in _MEASURED + _OPTIONAL:
        columns[name] = (np.asarray(table[name])[keep] if name in table.colnames
                         else np.full(n, np.nan))
    return columns


def _params_id(conn: Connection, phash: str) -> int:
    """Id of a parameter set, created on first use (concurrent writers may race: re-read)."""
    found = conn.execute(select(PhotometryParamSet.id).where(
        PhotometryParamSet.params_hash == phash)).scalar()
    if found is not None:
        return int(found)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(PhotometryParamSet.__table__).values(params_hash=phash)
                 .on_conflict_do_nothing(index_elements=["params_hash"]))
    return int(conn.execute(select(PhotometryParamSet.id).where(
        PhotometryParamSet.params_hash == phash)).scalar_one())


def _rows(columns: dict[str, np.ndarray]) -> list[tuple]:
    """Row tuples in `_ROW_COLUMNS` order for executemany, NaN → None."""
    converted = []
    for name in _ROW_COLUMNS:
        values = columns[name]
        if values.dtype.kind == "f" and np.isnan(values).any():
            column = values.astype(object)
            column[np.isnan(values)] = None
            converted.append(column.tolist())
        elif name == "measured_at":  # one timestamp for the whole product
            converted.append([values[0].isoformat(sep=" ")] * values.size if values.size else [])
        else:
            converted.append(values.tolist())
    return list(zip(*converted))


_KEY = ("source_id", "product_id", "params_id")
_UPDATED = [c for c in _ROW_COLUMNS if c not in _KEY]
_SQLITE_UPSERT = (
    f"INSERT INTO photometry ({', '.join(_ROW_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _ROW_COLUMNS)}) "
    f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _UPDATED))


def _copy_upsert(conn: Connection, columns: dict[str, np.ndarray]) -> None:
    """PostgreSQL: COPY into a temporary table, then one INSERT … ON CONFLICT from it."""
    names = ", ".join(_ROW_COLUMNS)
    conn.execute(text(f"CREATE TEMP TABLE photometry_load ON COMMIT DROP AS "
                      f"SELECT {names} FROM photometry WITH NO DATA"))
    raw = conn.connection.driver_connection
    with raw.cursor().copy(f"COPY photometry_load ({names}) FROM STDIN") as copy:
        for row in _rows(columns):
            copy.write_row(row)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATED)
    conn.execute(text(
        f"INSERT INTO photometry ({names}) SELECT {names} FROM photometry_load "
        f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {updates}"))


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def _table(rows, names: tuple[str, ...]) -> Table:
    table = Table()
    for name in names:
        values = [row[name] for row in rows]
        if name in ("name", "data_id", "params_hash"):
            table[name] = np.asarray(values, dtype=str) if values else np.zeros(0, dtype=str)
        elif name in ("source_id", "flags", "group_id", "group_size", "job_id"):
            table[name] = np.asarray([-1 if v is None else v for v in values], dtype=np.int64)
        else:
            table[name] = np.asarray([_nan(v) for v in values], dtype=float)
    return table
