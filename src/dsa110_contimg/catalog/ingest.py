"""Ingest catalogue files into the project database with stable source ids.

Re-ingesting the same file (same SHA-256) changes nothing. Ingesting an updated file upserts by
(catalogue, name) in one transaction: existing sources keep their ids and take the new values,
new ones get new ids, and sources missing from the new file are kept (ids are never reused or
lost, so stored photometry keeps pointing at them).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dsa110_contimg.catalog import store
from dsa110_contimg.catalog.columns import CatalogFormatError
from dsa110_contimg.catalog.readers import detect_format, read_catalog
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.errors import InputError

__all__ = ["IngestReport", "catalog_key", "ingest_catalog"]

log = logging.getLogger(__name__)
_MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class IngestReport:
    """What `ingest_catalog` did.

    Attributes
    ----------
    catalog : str
        Catalogue key (lower case).
    path : Path
        The file ingested.
    fmt : str
        Its format.
    file_sha256 : str
        SHA-256 of the file.
    rows_written : int
        Rows inserted or updated (0 when unchanged).
    n_sources : int
        Sources stored for the catalogue afterwards.
    unchanged : bool
        True when this exact file was already ingested and nothing was written.
    """

    catalog: str
    path: Path
    fmt: str
    file_sha256: str
    rows_written: int
    n_sources: int
    unchanged: bool


def catalog_key(name: str) -> str:
    """The stored key of a catalogue name: stripped, lower case, 1–64 characters.

    Raises
    ------
    ValueError
        For an empty or too long name.
    """
    key = name.strip().lower()
    if not 0 < len(key) <= _MAX_NAME_LENGTH:
        raise InputError(f"catalogue name must be 1-{_MAX_NAME_LENGTH} characters, got {name!r}")
    return key


def ingest_catalog(
    path: str | Path,
    catalog: str,
    *,
    fmt: str | None = None,
    column_map: Mapping[str, str] | None = None,
    url: str | None = None,
    header: str | Path | None = None,
    description: str | None = None,
    frequency_hz: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Read a catalogue file and store its sources under ``catalog`` in one transaction.

    Parameters
    ----------
    path : str or Path
        Catalogue file; see `dsa110_contimg.catalog.readers` for the formats.
    catalog : str
        Catalogue name (stored lower case), e.g. ``"nvss"``.
    fmt : str, optional
        Format; detected from the file when None.
    column_map : mapping, optional
        Generic tables: target column → file column.
    url : str, optional
        Database URL (default: settings). The schema must be migrated.
    header : str or Path, optional
        Header file of VizieR TSV rows kept apart from it.
    description, frequency_hz : optional
        Stored on the catalogue row.
    progress : callable, optional
        ``progress(rows_done, rows_total)`` after each written chunk.

    Returns
    -------
    IngestReport

    Raises
    ------
    CatalogFormatError
        Unreadable file, unknown format, missing columns, or bad coordinates
        (`dsa110_contimg.catalog.columns.CoordinateError`).
    ValueError
        Invalid catalogue name.
    """
    path = Path(path)
    key = catalog_key(catalog)
    if not path.is_file():
        raise CatalogFormatError(f"{path}: no such file")
    fmt = fmt if fmt is not None else detect_format(path, header=header)
    digest = _sha256(path, header)
    engine = get_engine(url)
    with engine.connect() as conn:
        previous = store.catalog_record(conn, key)
    if previous is not None and previous.file_sha256 == digest:
        log.info(
            "catalogue %s: %s already ingested (sha256 %s); nothing to do", key, path, digest[:12]
        )
        return IngestReport(key, path, fmt, digest, 0, previous.n_sources, unchanged=True)
    table = read_catalog(path, fmt, column_map=column_map, header=header)
    with engine.begin() as conn:
        catalog_id = store.save_catalog(
            conn,
            key,
            source_file=str(path.resolve()),
            file_sha256=digest,
            description=description,
            frequency_hz=frequency_hz,
        )
        written = store.upsert_sources(conn, catalog_id, table, progress=progress)
        n_sources = store.count_sources(conn, catalog_id)
        store.set_source_count(conn, catalog_id, n_sources)
    log.info(
        "catalogue %s: wrote %d rows from %s (%s); %d sources stored",
        key,
        written,
        path,
        fmt,
        n_sources,
    )
    return IngestReport(key, path, fmt, digest, written, n_sources, unchanged=False)


def _sha256(path: Path, header: str | Path | None) -> str:
    """SHA-256 of the file (and of its separate header, which is part of its content)."""
    digest = hashlib.sha256()
    files = [Path(header), path] if header is not None else [path]
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
