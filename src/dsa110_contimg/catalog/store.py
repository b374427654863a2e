"""All SQL of the catalogue store: catalogue rows, bulk source upserts and zone-box reads.

The tables are defined in `dsa110_contimg.database.models` (``catalog``, ``catalog_source``)
and created by the migrations. Sources are upserted on (catalog_id, name) so their ids stay
stable; rows are written in chunks of `CHUNK_ROWS` with one multi-row statement per chunk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np
from astropy.table import Table
from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from dsa110_contimg.catalog.columns import CATALOG_COLUMNS, NUMERIC_COLUMNS
from dsa110_contimg.catalog.zones import ZoneBox, zone_of
from dsa110_contimg.database.models import Catalog, CatalogSource

__all__ = [
    "CHUNK_ROWS",
    "SOURCE_COLUMNS",
    "catalog_names",
    "catalog_record",
    "count_sources",
    "list_catalog_records",
    "save_catalog",
    "select_in_boxes",
    "set_source_count",
    "upsert_sources",
]

CHUNK_ROWS = 20_000
#: Columns read back by `select_in_boxes`, in order (``id`` is the stable source id).
SOURCE_COLUMNS: tuple[str, ...] = ("id",) + CATALOG_COLUMNS + ("extra",)

_catalog = Catalog.__table__
_source = CatalogSource.__table__
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


def save_catalog(conn: Connection, key: str, *, source_file: str, file_sha256: str,
                 description: str | None, frequency_hz: float | None) -> int:
    """Insert or update the ``catalog`` row ``key``; return its id.

    ``description`` and ``frequency_hz`` replace stored values only when given.
    """
    values: dict[str, object] = {"source_file": source_file, "file_sha256": file_sha256,
                                 "ingested_at": datetime.now(timezone.utc)}
    if description is not None:
        values["description"] = description
    if frequency_hz is not None:
        values["frequency_hz"] = frequency_hz
    existing = conn.execute(select(_catalog.c.id).where(_catalog.c.name == key)).scalar()
    if existing is None:
        return conn.execute(_catalog.insert().values(name=key, n_sources=0, **values)
                            .returning(_catalog.c.id)).scalar_one()
    conn.execute(_catalog.update().where(_catalog.c.id == existing).values(**values))
    return existing


def upsert_sources(conn: Connection, catalog_id: int, table: Table, *,
                   progress: Callable[[int, int], None] | None = None) -> int:
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
    statement = _upsert_statement(conn)
    extra_columns = [c for c in table.colnames if c not in CATALOG_COLUMNS]
    order = np.lexsort((np.asarray(table["ra_deg"]), zone_of(table["dec_deg"])))
    total = len(table)
    for start in range(0, total, CHUNK_ROWS):
        chunk = table[order[start:start + CHUNK_ROWS]]
        conn.exec_driver_sql(statement.sql,
                             statement.arrange(_columns(chunk, catalog_id, extra_columns)))
        if progress is not None:
            progress(min(start + CHUNK_ROWS, total), total)
    return total


class _DriverStatement(NamedTuple):
    """A compiled statement run directly on the driver (bulk rows skip per-row processing)."""

    sql: str
    arrange: Callable[[dict[str, list]], list]


def _upsert_statement(conn: Connection) -> _DriverStatement:
    """``INSERT … ON CONFLICT (catalog_id, name) DO UPDATE`` compiled for ``conn``'s dialect.

    Rows are written in spatial order (zone, RA), so the rows of a cone sit together on disk.
    """
    dialect = _DIALECTS.get(conn.dialect.name)
    if dialect is None:
        raise NotImplementedError(
            f"catalogue upserts support {', '.join(_DIALECTS)}, not {conn.dialect.name}")
    insert = dialect.insert(_source)
    statement = insert.on_conflict_do_update(
        index_elements=[_source.c.catalog_id, _source.c.name],
        set_={c: insert.excluded[c] for c in _UPDATED_ON_CONFLICT})
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(_INSERTED))
    if compiled.positional:
        keys = tuple(compiled.positiontup or ())
        return _DriverStatement(str(compiled),
                                lambda columns: list(zip(*(columns[k] for k in keys))))
    return _DriverStatement(str(compiled), lambda columns: [
        dict(zip(columns, row)) for row in zip(*columns.values())])


def count_sources(conn: Connection, catalog_id: int) -> int:
    """Number of sources stored for a catalogue."""
    return conn.execute(select(func.count()).select_from(_source)
                        .where(_source.c.catalog_id == catalog_id)).scalar_one()


def set_source_count(conn: Connection, catalog_id: int, n_sources: int) -> None:
    """Record the number of sources on the ``catalog`` row."""
    conn.execute(_catalog.update().where(_catalog.c.id == catalog_id)
                 .values(n_sources=n_sources))


def select_in_boxes(conn: Connection, catalog_id: int, boxes: Sequence[ZoneBox]) -> list[Row]:
    """Sources of a catalogue inside any of the zone boxes (columns `SOURCE_COLUMNS`)."""
    columns = [_source.c[c] for c in SOURCE_COLUMNS]
    terms: list[ColumnElement[bool]] = []
    for first, last in _full_circle_runs(boxes):
        terms.append(and_(_source.c.catalog_id == catalog_id,
                          _source.c.zone.between(first, last)))
    for box in boxes:
        if not box.full_circle:
            in_zone = and_(_source.c.catalog_id == catalog_id, _source.c.zone == box.zone)
            terms.extend(and_(in_zone, _source.c.ra_deg.between(lo, hi))
                         for lo, hi in box.ra_intervals)
    if not terms:
        return []
    return list(conn.execute(select(*columns).where(or_(*terms))))


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
        return [key + repr(v) if ok else None
                for v, ok in zip(values.tolist(), finite.tolist())]
    if values.dtype.kind in "iub":
        return [key + json.dumps(v) for v in values.tolist()]
    return [key + json.dumps(str(v)) if v is not None and str(v) != "" else None
            for v in values.tolist()]
