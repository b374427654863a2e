"""Cone searches over ingested catalogues and the list of catalogues.

`cone_search` reads the rows in the cone's zone boxes (`dsa110_contimg.catalog.zones`), keeps
those within the radius by the exact great-circle separation in float64, sorts them by
separation, and only then applies ``limit``.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from dsa110_contimg.catalog import store
from dsa110_contimg.catalog.columns import NUMERIC_COLUMNS
from dsa110_contimg.catalog.ingest import catalog_key
from dsa110_contimg.catalog.zones import angular_separation_deg, check_cone, cone_boxes
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.errors import InputError, NotFoundError

__all__ = ["CONE_COLUMNS", "UnknownCatalogError", "cone_search", "list_catalogs", "sources_by_id"]

#: Columns of a cone-search result, in order.
CONE_COLUMNS: tuple[str, ...] = ("source_id", "name") + NUMERIC_COLUMNS + ("sep_deg",)
#: Largest id list sent in one ``IN (...)`` (SQLite limits bound parameters per statement).
_ID_CHUNK = 5000
_CATALOG_LIST_COLUMNS = (
    "name",
    "n_sources",
    "frequency_hz",
    "description",
    "source_file",
    "file_sha256",
    "ingested_at",
)


class UnknownCatalogError(NotFoundError):
    """A catalogue name that has not been ingested (the message lists those that have)."""


def cone_search(
    catalog: str,
    ra_deg: float,
    dec_deg: float,
    radius_deg: float,
    *,
    limit: int | None = None,
    with_extra: bool = False,
    url: str | None = None,
) -> Table:
    """Sources of ``catalog`` within ``radius_deg`` of (``ra_deg``, ``dec_deg``).

    Parameters
    ----------
    catalog : str
        Name of an ingested catalogue (case-insensitive).
    ra_deg, dec_deg : float
        Cone centre, degrees (RA is wrapped into [0, 360)).
    radius_deg : float
        Cone radius in degrees, in (0, 180].
    limit : int, optional
        Return at most this many sources, the nearest ones (applied after the exact cut).
    with_extra : bool
        Add an ``extra`` column: each source's catalogue-specific values (dict or None).
    url : str, optional
        Database URL (default: settings).

    Returns
    -------
    astropy.table.Table
        `CONE_COLUMNS`: ``source_id`` (the stable id), ``name``, the normalised catalogue
        columns (fluxes in mJy) and ``sep_deg``; nearest first, ties by ``source_id``.

    Raises
    ------
    InputError
        A cone that is not on the sphere, or a negative ``limit``.
    UnknownCatalogError
        ``catalog`` has not been ingested.
    """
    check_cone(ra_deg, dec_deg, radius_deg)
    if limit is not None and limit < 0:
        raise InputError(f"limit must be >= 0, got {limit}")
    key = catalog_key(catalog)
    boxes = cone_boxes(ra_deg, dec_deg, radius_deg)
    with get_engine(url).connect() as conn:
        record = store.catalog_record(conn, key)
        if record is None:
            known = store.catalog_names(conn)
            raise UnknownCatalogError(
                f"unknown catalogue {catalog!r}; ingested: {', '.join(known) or 'none'} "
                "(add one with `contimg catalog ingest FILE --catalog NAME`)"
            )
        rows = store.select_in_boxes(conn, record.id, boxes)
    table = _sources_table(rows, with_extra)
    table["sep_deg"] = angular_separation_deg(
        ra_deg % 360.0, dec_deg, table["ra_deg"], table["dec_deg"]
    )
    table = table[np.asarray(table["sep_deg"]) <= radius_deg]
    table = table[np.lexsort((np.asarray(table["source_id"]), np.asarray(table["sep_deg"])))]
    table.meta["catalog"] = key
    return table[:limit] if limit is not None else table


def list_catalogs(url: str | None = None) -> Table:
    """The ingested catalogues: name, n_sources, frequency_hz, description, source_file,
    file_sha256, ingested_at (one row each, sorted by name)."""
    with get_engine(url).connect() as conn:
        records = store.list_catalog_records(conn)
    table = Table(
        names=_CATALOG_LIST_COLUMNS,
        dtype=(object, np.int64, np.float64, object, object, object, object),
    )
    for record in records:
        table.add_row(
            [
                getattr(record, c)
                if getattr(record, c) is not None
                else (np.nan if c == "frequency_hz" else None)
                for c in _CATALOG_LIST_COLUMNS
            ]
        )
    return table


def sources_by_id(source_ids, *, url: str | None = None) -> Table:
    """Catalogue sources by id, in id order (the cone-search columns without ``sep_deg``).

    Raises
    ------
    NotFoundError
        Some of the ids are not catalogue sources (the message says how many).
    """
    ids = sorted({int(i) for i in source_ids})
    rows = []
    with get_engine(url).connect() as conn:
        for start in range(0, len(ids), _ID_CHUNK):
            rows.extend(store.select_by_ids(conn, ids[start : start + _ID_CHUNK]))
    if len(rows) != len(ids):
        raise NotFoundError(f"{len(ids) - len(rows)} requested source id(s) do not exist")
    return _sources_table(rows, with_extra=False)


def _sources_table(rows: list, with_extra: bool) -> Table:
    """Rows of `store.SOURCE_COLUMNS` as a table with NULL → NaN."""
    columns = list(zip(*rows)) if rows else [()] * len(store.SOURCE_COLUMNS)
    by_name = dict(zip(store.SOURCE_COLUMNS, columns))
    table = Table()
    table["source_id"] = np.asarray(by_name["id"], dtype=np.int64)
    table["name"] = np.asarray(by_name["name"], dtype=str)
    for column in NUMERIC_COLUMNS:
        table[column] = np.asarray(
            [np.nan if v is None else v for v in by_name[column]], dtype=np.float64
        )
    if with_extra:
        extra = np.empty(len(rows), dtype=object)
        extra[:] = list(by_name["extra"])
        table["extra"] = extra
    return table
