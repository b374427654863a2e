"""All SQL of the catalogue store: catalogue rows, bulk source upserts and zone-box reads.

The tables are defined in `dsa110_contimg.database.models` (``catalog``, ``catalog_source``)
and created by the migrations. Sources are upserted on (catalog_id, name) so their ids stay
stable, in spatial order (zone, RA) so that the rows of a cone sit together on disk: on
PostgreSQL streamed with COPY into a temporary table and merged by one ``INSERT … ON CONFLICT``,
elsewhere (SQLite) by chunks of `CHUNK_ROWS` rows executed directly on the driver.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import cast

import numpy as np
from astropy.table import Table
from sqlalchemy import Column, MetaData, Row, and_, func, or_, select
from sqlalchemy import Table as Table_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from dsa110_contimg.catalog.columns import CATALOG_COLUMNS, NUMERIC_COLUMNS
from dsa110_contimg.catalog.zones import ZoneBox, zone_of
from dsa110_contimg.database.models import Catalog, CatalogSource
from dsa110_contimg.database.session import driver_connection

__all__ = [
    "CHUNK_ROWS",
    "SOURCE_COLUMNS",
    "catalog_names",
    "catalog_record",
    "count_sources",
    "list_catalog_records",
    "save_catalog",
    "select_by_ids",
    "select_in_boxes",
    "set_source_count",
    "upsert_sources",
]

CHUNK_ROWS = 20_000
#: Columns read back by `select_in_boxes`, in order (``id`` is the stable source id).
SOURCE_COLUMNS: tuple[str, ...] = ("id",) + CATALOG_COLUMNS + ("extra",)

_catalog = cast(Table_, Catalog.__table__)
_source = cast(Table_, CatalogSource.__table__)
_UPDATED_ON_CONFLICT = NUMERIC_COLUMNS + ("zone", "extra")
_INSERTED = ("catalog_id", "name", "zone") + NUMERIC_COLUMNS + ("extra",)
_DIALECTS = {"postgresql": postgresql, "sqlite": sqlite}


def catalog_record(conn: Connection, key: str) -> Row | None:
    """The ``catalog`` row named ``key`` (lower-case), or None."""
    return conn.execute(select(_catalog).where(_catalog.c.name == key)).first()


def catalog_names(conn: Connection) -> list[str]:
    """Names of all ingested catalogues, sorted."""
    return list(conn.execute(select(_catalog.c.name).order_by(_catalog.c.name)).scalars())


def list_catalog_records(conn: Connection) -> list[Row]:
    """All ``catalog`` rows, sorted by name."""
    return list(conn.execute(select(_catalog).order_by(_catalog.c.name)))


def save_catalog(
    conn: Connection,
    key: str,
    *,
    source_file: str,
    file_sha256: str,
    description: str | None,
    frequency_hz: float | None,
) -> int:
    """Insert or update the ``catalog`` row ``key``; return its id.

    ``description`` and ``frequency_hz`` replace stored values only when given.
    """
    values: dict[str, object] = {
        "source_file": source_file,
        "file_sha256": file_sha256,
        "ingested_at": datetime.now(UTC),
    }
    if description is not None:
        values["description"] = description
    if frequency_hz is not None:
        values["frequency_hz"] = frequency_hz
    existing = conn.execute(select(_catalog.c.id).where(_catalog.c.name == key)).scalar()
    if existing is None:
        return conn.execute(
            _catalog.insert().values(name=key, n_sources=0, **values).returning(_catalog.c.id)
        ).scalar_one()
    conn.execute(_catalog.update().where(_catalog.c.id == existing).values(**values))
    return existing


def upsert_sources(
    conn: Connection,
    catalog_id: int,
    table: Table,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Insert new sources and update existing ones (matched by name); return rows written.

    Parameters
    ----------
    conn : Connection
        Inside the caller's transaction.
    catalog_id : int
    table : astropy.table.Table
        A normalised catalogue table; columns beyond `CATALOG_COLUMNS` go to ``extra``.
    progress : callable, optional
        ``progress(rows_done, rows_total)`` after each chunk.
    """
    extra_columns = [c for c in table.colnames if c not in CATALOG_COLUMNS]
    order = np.lexsort((np.asarray(table["ra_deg"]), zone_of(table["dec_deg"])))
    chunks = (
        _columns(table[order[start : start + CHUNK_ROWS]], catalog_id, extra_columns)
        for start in range(0, len(table), CHUNK_ROWS)
    )
    if conn.dialect.name == "postgresql":
        _copy_upsert(conn, chunks, len(table), progress)
    else:
        sql, keys = _driver_upsert(conn)
        done = 0
        for columns in chunks:
            conn.exec_driver_sql(sql, list(zip(*(columns[k] for k in keys))))
            done += len(columns["name"])
            if progress is not None:
                progress(done, len(table))
    return len(table)


def _upsert_into_source(dialect: ModuleType) -> Insert:
    """``INSERT INTO catalog_source … ON CONFLICT (catalog_id, name) DO UPDATE`` (no values)."""
    insert = dialect.insert(_source)
    return insert.on_conflict_do_update(
        index_elements=[_source.c.catalog_id, _source.c.name],
        set_={c: insert.excluded[c] for c in _UPDATED_ON_CONFLICT},
    )


def _copy_upsert(
    conn: Connection,
    chunks: Iterable[dict[str, list]],
    total: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then one upsert from it."""
    load = Table_(
        "catalog_source_load",
        MetaData(),
        *(Column(c, _source.c[c].type) for c in _INSERTED),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    load.create(conn)
    cursor = driver_connection(conn).cursor()
    done = 0
    with cursor.copy(f"COPY {load.name} ({', '.join(_INSERTED)}) FROM STDIN") as copy:
        for columns in chunks:
            for row in zip(*(columns[c] for c in _INSERTED)):
                copy.write_row(row)
            done += len(columns["name"])
            if progress is not None:
                progress(done, total)
    spatial = select(*(load.c[c] for c in _INSERTED)).order_by(load.c.zone, load.c.ra_deg)
    conn.execute(_upsert_into_source(postgresql).from_select(list(_INSERTED), spatial))


def _driver_upsert(conn: Connection) -> tuple[str, tuple[str, ...]]:
    """The upsert compiled for ``conn``'s (positional-parameter) dialect, and its parameter
    order; rows then go straight to the driver's ``executemany``."""
    dialect = _DIALECTS.get(conn.dialect.name)
    compiled = (
        _upsert_into_source(dialect).compile(dialect=conn.dialect, column_keys=list(_INSERTED))
        if dialect is not None
        else None
    )
    if compiled is None or not compiled.positional:
        raise NotImplementedError(
            f"catalogue upserts support {', '.join(_DIALECTS)}, not {conn.dialect.name}"
        )
    return str(compiled), tuple(compiled.positiontup or ())


def count_sources(conn: Connection, catalog_id: int) -> int:
    """Number of sources stored for a catalogue."""
    return conn.execute(
        select(func.count()).select_from(_source).where(_source.c.catalog_id == catalog_id)
    ).scalar_one()


def set_source_count(conn: Connection, catalog_id: int, n_sources: int) -> None:
    """Record the number of sources on the ``catalog`` row."""
    conn.execute(_catalog.update().where(_catalog.c.id == catalog_id).values(n_sources=n_sources))


def select_in_boxes(conn: Connection, catalog_id: int, boxes: Sequence[ZoneBox]) -> list[Row]:
    """Sources of a catalogue inside any of the zone boxes (columns `SOURCE_COLUMNS`)."""
    columns = [_source.c[c] for c in SOURCE_COLUMNS]
    terms: list[ColumnElement[bool]] = []
    for first, last in _full_circle_runs(boxes):
        terms.append(and_(_source.c.catalog_id == catalog_id, _source.c.zone.between(first, last)))
    for box in boxes:
        if not box.full_circle:
            in_zone = and_(_source.c.catalog_id == catalog_id, _source.c.zone == box.zone)
            terms.extend(
                and_(in_zone, _source.c.ra_deg.between(lo, hi)) for lo, hi in box.ra_intervals
            )
    if not terms:
        return []
    return list(conn.execute(select(*columns).where(or_(*terms))))


def select_by_ids(conn: Connection, ids: Sequence[int]) -> list[Row]:
    """Sources with these ids, in id order (columns `SOURCE_COLUMNS`)."""
    columns = [_source.c[c] for c in SOURCE_COLUMNS]
    return list(
        conn.execute(select(*columns).where(_source.c.id.in_(list(ids))).order_by(_source.c.id))
    )


def _full_circle_runs(boxes: Sequence[ZoneBox]) -> list[tuple[int, int]]:
    """Consecutive full-circle zones as (first, last) ranges: one term each."""
    runs: list[tuple[int, int]] = []
    for box in boxes:
        if not box.full_circle:
            continue
        if runs and runs[-1][1] == box.zone - 1:
            runs[-1] = (runs[-1][0], box.zone)
        else:
            runs.append((box.zone, box.zone))
    return runs


def _columns(chunk: Table, catalog_id: int, extra_columns: list[str]) -> dict[str, list]:
    """Parameter columns of a chunk: NaN → NULL, extras → one JSON text per row."""
    n = len(chunk)
    values: dict[str, list] = {
        "catalog_id": [catalog_id] * n,
        "name": np.asarray(chunk["name"], dtype=str).tolist(),
        "zone": zone_of(chunk["dec_deg"]).tolist(),
    }
    for column in NUMERIC_COLUMNS:
        values[column] = _nullable(np.asarray(chunk[column], dtype=np.float64))
    values["extra"] = _extras(chunk, extra_columns)
    return values


def _nullable(array: np.ndarray) -> list:
    items = array.astype(object)
    items[~np.isfinite(array)] = None
    return items.tolist()


def _extras(chunk: Table, extra_columns: list[str]) -> list[str | None]:
    """One JSON object (text) per row of the extra columns; missing values are left out."""
    if not extra_columns:
        return [None] * len(chunk)
    fragments = [_json_members(name, np.asarray(chunk[name])) for name in extra_columns]
    out: list[str | None] = []
    for members in zip(*fragments):
        present = [m for m in members if m is not None]
        out.append("{" + ", ".join(present) + "}" if present else None)
    return out


def _json_members(name: str, values: np.ndarray) -> list[str | None]:
    """``"name": value`` JSON members of a column (None where the value is missing)."""
    key = json.dumps(name) + ": "
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        return [key + repr(v) if ok else None for v, ok in zip(values.tolist(), finite.tolist())]
    if values.dtype.kind in "iub":
        return [key + json.dumps(v) for v in values.tolist()]
    return [
        key + json.dumps(str(v)) if v is not None and str(v) != "" else None
        for v in values.tolist()
    ]
