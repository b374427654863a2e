"""Read-only queries behind the pages that the services do not already offer.

Each is one or two indexed queries, whatever the size of the registry.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from dsa110_contimg.conversion.streaming.ledger import Ledger, ObservationRecord
from dsa110_contimg.database.models import (
    BatchJob,
    BatchJobItem,
    Catalog,
    CatalogSource,
    DataRegistry,
    Product,
)
from dsa110_contimg.database.session import get_engine

__all__ = [
    "failed_items",
    "failed_observations",
    "last_product",
    "product_jobs",
    "search_names",
    "status_by_day",
    "status_counts",
]

#: The photometry statuses in display order (``none``: never requested).
STATUSES = ("completed", "running", "pending", "failed", "none")


def status_counts(*, url: str | None = None) -> dict[str, dict[str, int]]:
    """Products by type and photometry status: ``{data_type: {status: n}}``."""
    query = select(DataRegistry.data_type, DataRegistry.photometry_status, func.count()).group_by(
        DataRegistry.data_type, DataRegistry.photometry_status
    )
    counts: dict[str, dict[str, int]] = {}
    with get_engine(url).connect() as conn:
        for data_type, status, n in conn.execute(query):
            counts.setdefault(str(data_type), {})[status or "none"] = int(n)
    return counts


def status_by_day(*, days: int = 30, url: str | None = None) -> dict[int, Counter]:
    """Products per observation day (integer MJD) and photometry status, over the last
    ``days`` days of data (not of the clock)."""
    with get_engine(url).connect() as conn:
        last = conn.execute(select(func.max(Product.mjd_mid))).scalar()
        if last is None:
            return {}
        rows = conn.execute(
            select(Product.mjd_mid, DataRegistry.photometry_status)
            .join(DataRegistry, DataRegistry.data_id == Product.data_id)
            .where(Product.mjd_mid > float(last) - days)
        ).all()
    by_day: dict[int, Counter] = {}
    for mjd, status in rows:
        if mjd is not None:  # always true: mjd_mid > a number is never NULL
            by_day.setdefault(math.floor(mjd), Counter())[status or "none"] += 1
    return dict(sorted(by_day.items()))


def last_product(*, url: str | None = None) -> dict[str, float | datetime | None]:
    """The latest observation time (``mjd``) of an image and the latest registration
    (``registered_at``, UTC)."""
    with get_engine(url).connect() as conn:
        mjd = conn.execute(
            select(func.max(Product.mjd_mid)).where(Product.data_type == "image")
        ).scalar()
        registered = conn.execute(select(func.max(DataRegistry.created_at))).scalar()
    return {"mjd": mjd, "registered_at": registered}


def failed_items(*, limit: int = 10, url: str | None = None) -> list[dict]:
    """The most recently failed job items with their reasons."""
    query = (
        select(
            BatchJobItem.job_id,
            BatchJobItem.data_id,
            BatchJobItem.error,
            BatchJobItem.attempts,
            BatchJobItem.finished_at,
        )
        .where(BatchJobItem.status == "failed")
        .order_by(BatchJobItem.finished_at.desc(), BatchJobItem.id.desc())
        .limit(limit)
    )
    with get_engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def product_jobs(data_id: str, *, url: str | None = None) -> list[dict]:
    """Every job item of a product, newest first, with its job's status."""
    query = (
        select(
            BatchJobItem.job_id,
            BatchJobItem.status,
            BatchJobItem.attempts,
            BatchJobItem.error,
            BatchJobItem.n_measured,
            BatchJobItem.started_at,
            BatchJobItem.finished_at,
            BatchJob.status.label("job_status"),
            BatchJob.created_at,
        )
        .join(BatchJob, BatchJob.id == BatchJobItem.job_id)
        .where(BatchJobItem.data_id == data_id)
        .order_by(BatchJobItem.id.desc())
    )
    with get_engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def search_names(text: str, catalog: str, *, limit: int = 50, url: str | None = None) -> list[dict]:
    """Sources of ``catalog`` whose name starts with ``text`` (case-sensitive, as catalogues
    spell them), by name: a range scan of the (catalogue, name) index, not a table scan."""
    query = (
        select(
            CatalogSource.id.label("source_id"),
            CatalogSource.name,
            CatalogSource.ra_deg,
            CatalogSource.dec_deg,
            CatalogSource.flux_mjy,
        )
        .join(Catalog, Catalog.id == CatalogSource.catalog_id)
        .where(
            Catalog.name == catalog.strip().lower(),
            CatalogSource.name >= text,
            CatalogSource.name < text + "\U0010ffff",
        )
        .order_by(CatalogSource.name)
        .limit(limit)
    )
    with get_engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def failed_observations(state_dir: Path, *, limit: int = 10) -> list[ObservationRecord]:
    """The streaming converter's most recently failed observations (its ledger in
    ``<state_dir>/stream/ledger``); none when the stream never ran here."""
    directory = state_dir / "stream" / "ledger"
    if not directory.is_dir():
        return []
    failed = [r for r in Ledger(directory).records() if r.status == "failed"]
    return failed[::-1][:limit]
