"""Reprocessing a date range: photometry of every product in it, in bounded chunks.

A reprocess (new catalogue, better beam model, fixed calibration) can span a year of data:
~10⁵ products. `reprocess_range` walks the range in chunks of ``chunk`` products (keyset
pagination on observation time, so memory stays flat whatever the range), queues each chunk as
a job at `PRIORITY_REPROCESS` and serves the queue on the local pool or the Dask cluster. Two
chunks are queued at a time, so workers never wait between chunks; live products registered
meanwhile are claimed first.

It is resumable: a product that already has rows with these parameters is skipped, and one
whose item is still queued or running (an earlier run stopped by Ctrl-C or a crash) is waited
for rather than queued again, so a rerun picks up where the last one stopped and measures
nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import exists, func, select, tuple_

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import (
    BatchJob,
    BatchJobItem,
    Photometry,
    PhotometryParamSet,
    Product,
)
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.jobs.executor import jobs_finished, serve
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import (
    ACTIVE_ITEM_STATES,
    PRIORITY_REPROCESS,
    create_batch_photometry_job,
)

__all__ = ["ReprocessProgress", "ReprocessSummary", "count_products", "reprocess_range"]

log = logging.getLogger(__name__)

#: Chunks queued ahead of the workers.
_QUEUED_CHUNKS = 2


@dataclass
class ReprocessProgress:
    """Where a reprocess stands (passed to the progress callback)."""

    total: int
    skipped: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        """Products that need no more work (already measured, completed or failed)."""
        return self.skipped + self.completed + self.failed


@dataclass
class ReprocessSummary:
    """How a reprocess ended."""

    progress: ReprocessProgress
    rows: int
    elapsed_s: float
    job_ids: list[int] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        """Products measured (completed or failed) per second of wall time."""
        measured = self.progress.completed + self.progress.failed
        return measured / self.elapsed_s if self.elapsed_s > 0 else 0.0


def count_products(
    since_mjd: float, until_mjd: float, data_type: str | None = None, url: str | None = None
) -> int:
    """Products observed in [``since_mjd``, ``until_mjd``] (of ``data_type`` when given)."""
    query = (
        select(func.count()).select_from(Product).where(*_in_range(since_mjd, until_mjd, data_type))
    )
    with session_scope(url) as session:
        return int(session.scalar(query) or 0)


def reprocess_range(
    since_mjd: float,
    until_mjd: float,
    *,
    params: PhotometryParams | None = None,
    data_type: str | None = None,
    chunk: int = 500,
    executor: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    queue_only: bool = False,
    url: str | None = None,
    progress: Callable[[ReprocessProgress], None] | None = None,
) -> ReprocessSummary:
    """Measure every product observed in [``since_mjd``, ``until_mjd``] with ``params``.

    Parameters
    ----------
    since_mjd, until_mjd : float
        Observation (mid-)time range, MJD, inclusive.
    params : PhotometryParams, optional
        Default: the ``photometry`` settings.
    data_type : {"image", "mosaic"}, optional
        Only products of this type.
    chunk : int
        Products per queued job.
    executor, workers, scheduler : optional
        Where items run (see `dsa110_contimg.jobs.executor.serve`).
    queue_only : bool
        Queue every chunk and return without processing (workers elsewhere serve the queue).
    url : str, optional
        Database URL.
    progress : callable, optional
        Called with the `ReprocessProgress` whenever it changes.
    """
    url = url or get_settings().database_url
    params = params or PhotometryParams.from_settings(get_settings())
    start = time.perf_counter()
    feeder = _Feeder(since_mjd, until_mjd, params, data_type, chunk, url, progress)
    if queue_only:
        while feeder.queue_next():
            pass
    else:
        serve(feeder.finished, executor=executor, workers=workers, scheduler=scheduler, url=url)
    feeder.update()
    with session_scope(url) as session:
        rows = session.scalar(
            select(
                func.coalesce(
                    func.sum(
                        func.coalesce(BatchJobItem.n_measured, 0)
                        + func.coalesce(BatchJobItem.n_failed, 0)
                    ),
                    0,
                )
            ).where(BatchJobItem.job_id.in_(feeder.job_ids))
        )
    summary = ReprocessSummary(
        feeder.state, int(rows or 0), time.perf_counter() - start, sorted(feeder.job_ids)
    )
    log.info(
        "reprocess MJD %s–%s: %d products, %d already measured, %d completed, %d failed, "
        "%d rows in %.1f s",
        since_mjd,
        until_mjd,
        summary.progress.total,
        summary.progress.skipped,
        summary.progress.completed,
        summary.progress.failed,
        summary.rows,
        summary.elapsed_s,
    )
    return summary


class _Feeder:
    """Queues the range chunk by chunk, keeping `_QUEUED_CHUNKS` chunks ahead of the workers."""

    def __init__(
        self,
        since_mjd: float,
        until_mjd: float,
        params: PhotometryParams,
        data_type: str | None,
        chunk: int,
        url: str,
        progress: Callable[[ReprocessProgress], None] | None,
    ) -> None:
        self.params, self.url, self.progress = params, url, progress
        self.state = ReprocessProgress(count_products(since_mjd, until_mjd, data_type, url))
        # Jobs an earlier, interrupted reprocess of these parameters left unfinished in the
        # range: adopted whole (waited for and counted), so their products are neither queued
        # again nor counted as already measured, however fast the workers drain them.
        earlier = _unfinished_jobs(since_mjd, until_mjd, data_type, params.digest(), url)
        self.job_ids: set[int] = set(earlier)
        self._chunks = _chunks(
            since_mjd, until_mjd, data_type, params.digest(), chunk, url, adopted=earlier
        )
        # Job ids of each queued, unfinished chunk (the adopted jobs first).
        self._outstanding: list[set[int]] = [set(earlier)] if earlier else []
        self._exhausted = False
        if progress is not None:
            progress(self.state)

    def finished(self) -> bool:
        """Queue chunks while fewer than `_QUEUED_CHUNKS` are outstanding, report progress;
        True once the range is exhausted and every queued job has ended."""
        self._outstanding = [
            jobs for jobs in self._outstanding if not jobs_finished(jobs, self.url)
        ]
        while len(self._outstanding) < _QUEUED_CHUNKS and self.queue_next():
            pass
        self.update()
        return self._exhausted and not self._outstanding

    def queue_next(self) -> bool:
        """Queue the next chunk; False when the range is exhausted."""
        for data_ids, n_skipped in self._chunks:
            self.state.skipped += n_skipped
            if not data_ids:
                continue
            waiting = self._active_jobs(data_ids)
            job_id = create_batch_photometry_job(
                data_ids, params=self.params, priority=PRIORITY_REPROCESS, url=self.url
            )
            jobs = waiting | {job_id}
            self.job_ids |= jobs
            self._outstanding.append(jobs)
            return True
        self._exhausted = True
        return False

    def update(self) -> None:
        """Refresh the completed/failed counts and report them when they changed."""
        if not self.job_ids:
            return
        with session_scope(self.url) as session:
            completed, failed = session.execute(
                select(
                    func.coalesce(func.sum(BatchJob.n_completed), 0),
                    func.coalesce(func.sum(BatchJob.n_failed), 0),
                ).where(BatchJob.id.in_(self.job_ids))
            ).one()
        changed = (completed, failed) != (self.state.completed, self.state.failed)
        self.state.completed, self.state.failed = int(completed), int(failed)
        if changed and self.progress is not None:
            self.progress(self.state)

    def _active_jobs(self, data_ids: list[str]) -> set[int]:
        """Jobs already holding a queued or running item of these products and parameters
        (an earlier, interrupted reprocess): waited for, never queued twice."""
        with session_scope(self.url) as session:
            return set(
                session.scalars(
                    select(BatchJobItem.job_id)
                    .distinct()
                    .where(
                        BatchJobItem.data_id.in_(data_ids),
                        BatchJobItem.params_hash == self.params.digest(),
                        BatchJobItem.status.in_(ACTIVE_ITEM_STATES),
                    )
                ).all()
            )


def _unfinished_jobs(
    since_mjd: float, until_mjd: float, data_type: str | None, digest: str, url: str
) -> set[int]:
    """Jobs holding a queued or running item of ``digest`` on a product in the range."""
    with session_scope(url) as session:
        return set(
            session.scalars(
                select(BatchJobItem.job_id)
                .distinct()
                .join(Product, Product.data_id == BatchJobItem.data_id)
                .where(
                    *_in_range(since_mjd, until_mjd, data_type),
                    BatchJobItem.params_hash == digest,
                    BatchJobItem.status.in_(ACTIVE_ITEM_STATES),
                )
            ).all()
        )


def _chunks(
    since_mjd: float,
    until_mjd: float,
    data_type: str | None,
    digest: str,
    size: int,
    url: str,
    *,
    adopted: set[int],
) -> Iterator[tuple[list[str], int]]:
    """``(data_ids still to measure, number already measured)`` per chunk of ``size``
    products, in observation order (keyset pagination: one chunk in memory at a time).
    Products with an item in an ``adopted`` job are left out: those jobs account for them."""
    measured = exists().where(
        Photometry.product_id == Product.id,
        Photometry.params_id
        == select(PhotometryParamSet.id)
        .where(PhotometryParamSet.params_hash == digest)
        .scalar_subquery(),
    )
    left_out = (
        [~exists().where(BatchJobItem.data_id == Product.data_id, BatchJobItem.job_id.in_(adopted))]
        if adopted
        else []
    )
    after = None
    while True:
        query = (
            select(Product.mjd_mid, Product.id, Product.data_id, measured.label("done"))
            .where(*_in_range(since_mjd, until_mjd, data_type), *left_out)
            .order_by(Product.mjd_mid, Product.id)
            .limit(size)
        )
        if after is not None:
            query = query.where(tuple_(Product.mjd_mid, Product.id) > after)
        with session_scope(url) as session:
            rows = session.execute(query).all()
        if not rows:
            return
        after = (rows[-1].mjd_mid, rows[-1].id)
        todo = [r.data_id for r in rows if not r.done]
        yield todo, len(rows) - len(todo)


def _in_range(since_mjd: float, until_mjd: float, data_type: str | None) -> list:
    conditions = [Product.mjd_mid >= since_mjd, Product.mjd_mid <= until_mjd]
    if data_type:
        conditions.append(Product.data_type == data_type)
    return conditions
