"""Creating, inspecting and cancelling batch photometry jobs.

A job holds one item per product. Each item names the product (``data_id``), what to measure
(the catalogue and cone, or explicit catalogue source ids) and the parameters' hash; the job
holds the parameters. Asking again for a product and parameters that already have a pending or
running item returns that item's job instead of queueing the work twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, update

from dsa110_contimg.database.models import BatchJob, BatchJobItem, DataRegistry
from dsa110_contimg.database.registry import (
    UnknownDataError,
    register_data,
    update_photometry_status,
)
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.errors import NotFoundError
from dsa110_contimg.jobs.params import PhotometryParams

__all__ = [
    "ACTIVE_ITEM_STATES",
    "PRIORITY_LIVE",
    "PRIORITY_REPROCESS",
    "PRIORITY_SUBMITTED",
    "JobSummary",
    "cancel_job",
    "create_batch_photometry_job",
    "get_job",
    "item_counts",
    "job_counts",
    "list_jobs",
]

log = logging.getLogger(__name__)
ACTIVE_ITEM_STATES = ("pending", "running")
#: Item priorities (higher is claimed first): new images and mosaics, then jobs submitted by
#: hand, then reprocessing, so that live latency holds while a large reprocess runs.
PRIORITY_LIVE = 10
PRIORITY_SUBMITTED = 0
PRIORITY_REPROCESS = -10


@dataclass(frozen=True)
class JobSummary:
    """A job's status and counters, and (from `get_job`) its items."""

    id: int
    status: str
    n_items: int
    n_completed: int
    n_failed: int
    created_at: datetime | None
    finished_at: datetime | None
    params: dict | None
    items: tuple[dict, ...] = ()
    n_cancelled: int = 0

    @property
    def n_pending(self) -> int:
        """Items not yet terminal (cancelled items are terminal)."""
        return self.n_items - self.n_completed - self.n_failed - self.n_cancelled


def create_batch_photometry_job(
    products: Sequence[str | Path],
    *,
    params: PhotometryParams | None = None,
    source_ids: Sequence[int] | None = None,
    priority: int = PRIORITY_SUBMITTED,
    url: str | None = None,
) -> int:
    """Queue forced photometry of ``products`` and return the job id.

    Parameters
    ----------
    products : sequence of str or Path
        FITS paths (registered as images when new) or registered ``data_id`` values.
    params : PhotometryParams, optional
        Catalogue, cone and fit options (default `PhotometryParams()`).
    source_ids : sequence of int, optional
        Measure exactly these catalogue sources instead of a cone search.
    priority : int, optional
        Claim order of the items (see `PRIORITY_LIVE`, `PRIORITY_REPROCESS`).
    url : str, optional
        Database URL.

    Raises
    ------
    UnknownDataError
        A product is neither a file nor a registered ``data_id``.
    """
    params = params or PhotometryParams()
    digest = params.digest()
    data_ids = [_data_id(p, url) for p in products]
    sources = (
        {"source_ids": [int(s) for s in source_ids]}
        if source_ids is not None
        else {"catalog": params.catalog, "radius_deg": params.radius_deg}
    )
    now = datetime.now(UTC)
    with session_scope(url) as session:
        active = dict(
            session.execute(
                select(BatchJobItem.data_id, BatchJobItem.job_id).where(
                    BatchJobItem.data_id.in_(data_ids),
                    BatchJobItem.params_hash == digest,
                    BatchJobItem.status.in_(ACTIVE_ITEM_STATES),
                )
            ).all()
        )
        todo = [d for d in dict.fromkeys(data_ids) if d not in active]
        if not todo:
            job_id = active[data_ids[0]]
            log.info("photometry of %d product(s) already queued in job %d", len(data_ids), job_id)
            return job_id
        job = BatchJob(
            kind="photometry",
            status="pending",
            params=params.model_dump(mode="json"),
            params_hash=digest,
            n_items=len(todo),
            n_completed=0,
            n_failed=0,
            created_at=now,
        )
        session.add(job)
        session.flush()
        session.add_all(
            BatchJobItem(
                job_id=job.id,
                data_id=d,
                status="pending",
                sources=sources,
                params_hash=digest,
                attempts=0,
                priority=priority,
            )
            for d in todo
        )
        job_id = job.id
        # In the same transaction: a worker never claims an item whose product is not pending.
        for data_id in todo:
            update_photometry_status(data_id, "pending", job_id=job_id, session=session)
    log.info("job %d: photometry of %d product(s) queued", job_id, len(todo))
    return job_id


def list_jobs(
    *, status: str | None = None, limit: int = 50, offset: int = 0, url: str | None = None
) -> list[JobSummary]:
    """Jobs, newest first."""
    query = select(BatchJob).order_by(BatchJob.id.desc()).limit(limit).offset(offset)
    if status:
        query = query.where(BatchJob.status == status)
    with session_scope(url) as session:
        jobs = session.scalars(query).all()
        cancelled = dict(
            session.execute(
                select(BatchJobItem.job_id, func.count())
                .where(
                    BatchJobItem.job_id.in_([job.id for job in jobs]),
                    BatchJobItem.status == "cancelled",
                )
                .group_by(BatchJobItem.job_id)
            ).all()
        )
        return [_summary(job, n_cancelled=cancelled.get(job.id, 0)) for job in jobs]


def job_counts(*, url: str | None = None) -> dict[str, int]:
    """Number of jobs in each status (statuses without jobs are absent)."""
    with session_scope(url) as session:
        return {
            status: int(n)
            for status, n in session.execute(
                select(BatchJob.status, func.count()).group_by(BatchJob.status)
            )
        }


def item_counts(*, url: str | None = None) -> dict[str, int]:
    """Number of job items in each status; ``pending`` + ``running`` is the queue depth."""
    with session_scope(url) as session:
        return {
            status: int(n)
            for status, n in session.execute(
                select(BatchJobItem.status, func.count()).group_by(BatchJobItem.status)
            )
        }


def get_job(job_id: int, *, url: str | None = None) -> JobSummary:
    """One job with its items (status, error, attempts, timings, counts).

    Raises
    ------
    NotFoundError
        No such job.
    """
    with session_scope(url) as session:
        job = session.get(BatchJob, job_id)
        if job is None:
            raise NotFoundError(f"no batch job {job_id}")
        items = session.scalars(
            select(BatchJobItem).where(BatchJobItem.job_id == job_id).order_by(BatchJobItem.id)
        ).all()
        return _summary(
            job,
            tuple(
                {
                    "id": i.id,
                    "data_id": i.data_id,
                    "status": i.status,
                    "attempts": i.attempts,
                    "error": i.error,
                    "n_measured": i.n_measured,
                    "n_failed": i.n_failed,
                    "lease_owner": i.lease_owner,
                    "started_at": i.started_at,
                    "finished_at": i.finished_at,
                }
                for i in items
            ),
            n_cancelled=sum(i.status == "cancelled" for i in items),
        )


def cancel_job(job_id: int, *, url: str | None = None) -> JobSummary:
    """Cancel a job: its pending items are cancelled (running ones finish first)."""
    with session_scope(url) as session:
        job = session.get(BatchJob, job_id)
        if job is None:
            raise NotFoundError(f"no batch job {job_id}")
        cancelled = session.scalars(
            select(BatchJobItem.data_id).where(
                BatchJobItem.job_id == job_id, BatchJobItem.status == "pending"
            )
        ).all()
        session.execute(
            update(BatchJobItem)
            .where(BatchJobItem.job_id == job_id, BatchJobItem.status == "pending")
            .values(status="cancelled", error="job cancelled", finished_at=datetime.now(UTC))
        )
        if job.status in ("pending", "running"):
            job.status = "cancelled"
            job.finished_at = datetime.now(UTC)
    for data_id in cancelled:
        update_photometry_status(data_id, "failed", error=f"job {job_id} cancelled", url=url)
    return get_job(job_id, url=url)


def _data_id(product: str | Path, url: str | None) -> str:
    path = Path(product)
    if path.suffix.lower() in (".fits", ".fit", ".fts") or path.is_file():
        return register_data(path, url=url)
    with session_scope(url) as session:
        found = session.scalar(
            select(func.count())
            .select_from(DataRegistry)
            .where(DataRegistry.data_id == str(product))
        )
    if not found:
        raise UnknownDataError(f"{product!r} is neither a FITS file nor a registered data_id")
    return str(product)


def _summary(job: BatchJob, items: tuple[dict, ...] = (), *, n_cancelled: int = 0) -> JobSummary:
    return JobSummary(
        job.id,
        job.status,
        job.n_items,
        job.n_completed,
        job.n_failed,
        job.created_at,
        job.finished_at,
        job.params,
        items,
        n_cancelled,
    )
