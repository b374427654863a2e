"""Catalogue sources as users name them: by id or name, with their record and how often they
were measured, and in a cone with their latest measurement."""

from __future__ import annotations

import math

from astropy.table import Table
from sqlalchemy import select

from dsa110_contimg.catalog.columns import CATALOG_COLUMNS
from dsa110_contimg.catalog.query import cone_search
from dsa110_contimg.database.models import Catalog, CatalogSource
from dsa110_contimg.database.products import latest_measurements, measurement_summary
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.errors import NotFoundError

__all__ = ["resolve_source", "source_details", "sources_in_cone"]

#: Largest value of a 64-bit integer key.
_MAX_ID = 2**63 - 1


def resolve_source(
    source: str | int, *, catalog: str | None = None, url: str | None = None
) -> tuple[int, str]:
    """``(source_id, name)`` of a catalogue source given by id or by name.

    Raises
    ------
    NotFoundError
        No such source, or a name found in several catalogues (pass ``catalog``).
    """
    query = select(CatalogSource.id, CatalogSource.name, Catalog.name.label("catalog")).join(
        Catalog, Catalog.id == CatalogSource.catalog_id
    )
    text_value = str(source).strip()
    if text_value.isascii() and text_value.isdigit():
        if int(text_value) > _MAX_ID:
            raise NotFoundError(f"no catalogue source {text_value!r}")
        query = query.where(CatalogSource.id == int(text_value))
    else:
        query = query.where(CatalogSource.name == text_value)
    if catalog:
        query = query.where(Catalog.name == catalog.strip().lower())
    with get_engine(url).connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        raise NotFoundError(
            f"no catalogue source {text_value!r}"
            + (f" in catalogue {catalog!r}" if catalog else "")
        )
    if len(rows) > 1:
        raise NotFoundError(
            f"source name {text_value!r} is in several catalogues "
            f"({', '.join(r.catalog for r in rows)}); choose one with --catalog"
        )
    return int(rows[0].id), str(rows[0].name)


def source_details(source_id: int, *, url: str | None = None) -> dict:
    """A catalogue source's record with its catalogue name and measurement summary.

    Returns the `dsa110_contimg.catalog.columns.CATALOG_COLUMNS` values (NaN where the
    catalogue has none) plus ``source_id``, ``catalog`` and the
    `dsa110_contimg.database.products.measurement_summary` (``n_measurements``,
    ``first_mjd``, ``last_mjd``).

    Raises
    ------
    NotFoundError
        No such source.
    """
    with get_engine(url).connect() as conn:
        row = (
            conn.execute(
                select(
                    *(getattr(CatalogSource, c) for c in CATALOG_COLUMNS),
                    Catalog.name.label("catalog"),
                )
                .join(Catalog, Catalog.id == CatalogSource.catalog_id)
                .where(CatalogSource.id == source_id)
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFoundError(f"no catalogue source {source_id}")
    out: dict = {"source_id": int(source_id), "catalog": str(row["catalog"])}
    out.update({c: row[c] if c == "name" else _nan(row[c]) for c in CATALOG_COLUMNS})
    out.update(measurement_summary(source_id, url=url))
    return out


def sources_in_cone(
    catalog: str, ra_deg: float, dec_deg: float, radius_deg: float, *, url: str | None = None
) -> Table:
    """Catalogue sources in a cone with their latest measurement (NaN where never measured).

    Returns the `dsa110_contimg.catalog.query.cone_search` columns, in its order, plus
    ``latest_mjd``, ``latest_peak_jyb`` and ``latest_peak_err_jyb``
    (`dsa110_contimg.database.products.latest_measurements`).
    """
    sources = cone_search(catalog, ra_deg, dec_deg, radius_deg, url=url)
    latest = latest_measurements(sources["source_id"], url=url)
    for column in ("latest_mjd", "latest_peak_jyb", "latest_peak_err_jyb"):
        sources[column] = latest[column]
    return sources


def _nan(value) -> float:
    return math.nan if value is None else float(value)
