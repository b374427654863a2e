"""Ingest catalogue files into the database with stable source ids.

Re-ingesting the same file (same SHA-256) changes nothing. Ingesting an updated file upserts
by (catalogue, name): existing sources keep their ids, new ones get new ids, and sources absent
from the new file are kept (ids are never reused or lost).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from dsa110_contimg.catalog.readers import CATALOG_COLUMNS, detect_format, read_catalog
from dsa110_contimg.database.models import CATALOG_ZONE_HEIGHT_DEG, Catalog, CatalogSource
from dsa110_contimg.database.session import get_engine

__all__ = ["IngestReport", "ingest_catalog", "normalise_catalog_name"]

log = logging.getLogger(__name__)
CHUNK_ROWS = 20_000
_UPDATABLE = [c for c in CATALOG_COLUMNS if c != "name"] + ["zone"]


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did."""

    catalog: str
    path: Path
    fmt: str
    rows_read: int
    n_sources: int
    unchanged: bool


def normalise_catalog_name(name: str) -> str:
    """Catalogue key: lower case, stripped; refuses empty names."""
    key = name.strip().lower()
    if not key or len(key) > 64:
        raise ValueError(f"catalogue name must be 1-64 characters, got {name!r}")
    return key


def ingest_catalog(path: str | Path, catalog: str, *, fmt: str | None = None,
                   column_map: Mapping[str, str] | None = None, url: str | None = None,
                   description: str | None = None, frequency_hz: float | None = None,
                   progress: Callable[[int, int], None] | None = None) -> IngestReport:
    """Read ``path`` and upsert its sources into catalogue ``catalog`` in one transaction.

    Parameters
    ----------
    path : str or Path
        Catalogue file (see `dsa110_contimg.catalog.readers` for formats).
    catalog : str
        Catalogue name (stored lower-case), e.g. ``"nvss"``.
    fmt, column_map
        Format (detected when None) and generic-table column mapping.
    url : str, optional
        Database URL (default from settings); the schema must be migrated.
    description, frequency_hz : optional
        Stored with the catalogue.
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` after each chunk.

    Returns
    -------
    IngestReport
    """
    path = Path(path)
    key = normalise_catalog_name(catalog)
    fmt = fmt or detect_format(path)
    digest = _sha256(path)
    engine = get_engine(url)
    with engine.begin() as conn:
        row = conn.execute(select(Catalog).where(Catalog.name == key)).first()
        if row is not None and row.file_sha256 == digest:
            log.info("catalogue %s: %s already ingested (sha256 %s…); nothing to do",
                     key, path, digest[:12])
            return IngestReport(key, path, fmt, 0, row.n_sources, unchanged=True)
    table = read_catalog(path, fmt, column_map)
    names = _unique_names(list(table["name"]))
    with engine.begin() as conn:
        catalog_id = _catalog_id(conn, key, path, digest, description, frequency_hz)
        records = _records(table, names, catalog_id)
        for start in range(0, len(records), CHUNK_ROWS):
            conn.execute(_upsert(conn), records[start:start + CHUNK_ROWS])
            if progress is not None:
                progress(min(start + CHUNK_ROWS, len(records)), len(records))
        n_sources = conn.execute(select(func.count()).select_from(CatalogSource).where(
            CatalogSource.catalog_id == catalog_id)).scalar_one()
        conn.execute(Catalog.__table__.update().where(Catalog.id == catalog_id).values(
            n_sources=n_sources))
    log.info("catalogue %s: ingested %d rows from %s (%s); %d sources in total",
             key, len(records), path, fmt, n_sources)
    return IngestReport(key, path, fmt, len(records), n_sources, unchanged=False)


def _catalog_id(conn: Connection, key: str, path: Path, digest: str, description: str | None,
                frequency_hz: float | None) -> int:
    values = {"source_file": str(path.resolve()), "file_sha256": digest,
              "ingested_at": datetime.now(timezone.utc)}
    if description is not None:
        values["description"] = description
    if frequency_hz is not None:
        values["frequency_hz"] = frequency_hz
    existing = conn.execute(select(Catalog.id).where(Catalog.name == key)).scalar()
    if existing is None:
        return conn.execute(Catalog.__table__.insert().values(name=key, n_sources=0, **values)
                            .returning(Catalog.id)).scalar_one()
    conn.execute(Catalog.__table__.update().where(Catalog.id == existing).values(**values))
    return existing


def _records(table, names: list[str], catalog_id: int) -> list[dict]:
    dec = np.asarray(table["dec_deg"], dtype=float)
    zones = np.floor((dec + 90.0) / CATALOG_ZONE_HEIGHT_DEG).astype(np.int64)
    columns = {c: np.asarray(table[c], dtype=float) for c in CATALOG_COLUMNS[1:]}
    records = []
    for i, name in enumerate(names):
        record = {c: (None if np.isnan(v[i]) else float(v[i])) for c, v in columns.items()}
        record.update(catalog_id=catalog_id, name=name, zone=int(zones[i]))
        records.append(record)
    return records


def _upsert(conn: Connection):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(CatalogSource.__table__)
    return statement.on_conflict_do_update(
        index_elements=["catalog_id", "name"],
        set_={c: statement.excluded[c] for c in _UPDATABLE})


def _unique_names(names: list[str]) -> list[str]:
    """Make repeated names unique by suffixes ``_2``, ``_3``… in file order."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name}_{count}")
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
