"""Serving the job queue on a local process pool or a Dask distributed cluster.

Both pools run the same task, `execute_batch`: claim the next due item of the whole queue
(highest priority first, see `dsa110_contimg.jobs.worker.claim_item`), process it, and go on
claiming for up to `TASK_S` seconds. Items are still claimed one at a time from the database,
so a live image registered during a reprocess is measured by the next claim of any worker,
before the rest of the reprocess; serving a few seconds per task spares every item a
scheduler round trip and the dispatcher's bookkeeping. The dispatcher, `serve`, keeps one task
in flight per worker thread, so memory stays flat however long the queue is. A task measures
with one thread (`numba.set_num_threads`): a pool runs one single-threaded worker per core,
and worker processes whose kernels each spread over every core compete for them (on 2 cores,
two such workers spent about 35 % more CPU per item than single-threaded ones).

All state lives in the database, so results are identical whichever pool runs them. An item is
held under a lease while it is processed: when a Dask worker dies mid-item, its task is lost
but the item is not — once the lease (``jobs.lease_s``) expires the next task claims it again,
and its rows, keyed by (source, product, parameters), replace any the dead worker wrote. The
outcomes a lost task had reported are lost with it; `run_job` therefore reads its items'
outcomes from the database.
When the Dask scheduler cannot be reached, or goes away, the dispatcher logs a WARNING and the
local process pool takes over for ``jobs.dask_retry_s`` seconds, after which the scheduler is
tried again; items that were running on the cluster keep their leases meanwhile.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_local
from typing import Protocol

import numba
from sqlalchemy import func, select

from dsa110_contimg.config import JobSettings, get_settings
from dsa110_contimg.database.models import BatchJob, BatchJobItem
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.errors import InputError, UnavailableError
from dsa110_contimg.jobs.service import ACTIVE_ITEM_STATES
from dsa110_contimg.jobs.worker import (
    ItemOutcome,
    claim_item,
    fail_exhausted_items,
    process_item,
    worker_name,
)
from dsa110_contimg.process_lifetime import exit_with_parent

__all__ = [
    "TASK_S",
    "SchedulerLostError",
    "execute_batch",
    "jobs_finished",
    "queue_empty",
    "run_job",
    "serve",
]

log = logging.getLogger(__name__)

#: Seconds a pool task goes on claiming items (it returns earlier when nothing is due). The
#: dispatcher checks ``finished()`` between tasks, so this bounds how long a stop request or the
#: end of a job waits for the tasks in flight, beyond the item each is processing.
TASK_S = 2.0


class SchedulerLostError(UnavailableError):
    """The Dask scheduler could not be reached or the connection to it was lost."""


def execute_batch(url: str, settings: JobSettings, for_s: float = TASK_S) -> list[ItemOutcome]:
    """Claim and process due items, one at a time, for up to ``for_s`` seconds.

    Parameters
    ----------
    url : str
        Database URL.
    settings : JobSettings
        Leases, attempts and backoff.
    for_s : float
        No item is claimed after this many seconds (the one in hand is finished).

    Returns
    -------
    list of ItemOutcome
        In processing order; empty when nothing was due.
    """
    numba.set_num_threads(1)  # per calling thread: one single-threaded worker per core
    worker = worker_name()
    fail_exhausted_items(settings, url)
    deadline = time.monotonic() + for_s
    outcomes: list[ItemOutcome] = []
    while (
        item_id := claim_item(worker, settings=settings, url=url, sweep_exhausted=False)
    ) is not None:
        outcomes.append(process_item(item_id, worker, settings=settings, url=url))
        if time.monotonic() >= deadline:
            break
    return outcomes


def jobs_finished(job_ids: Iterable[int], url: str | None = None) -> bool:
    """True when none of ``job_ids`` is pending or running any more."""
    ids = list(job_ids)
    with session_scope(url) as session:
        return not session.scalar(
            select(func.count())
            .select_from(BatchJob)
            .where(BatchJob.id.in_(ids), BatchJob.status.in_(("pending", "running")))
        )


def queue_empty(url: str | None = None) -> bool:
    """True when no job item is pending or running."""
    with session_scope(url) as session:
        return not session.scalar(
            select(func.count())
            .select_from(BatchJobItem)
            .where(BatchJobItem.status.in_(ACTIVE_ITEM_STATES))
        )


def run_job(
    job_id: int,
    *,
    executor: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    url: str | None = None,
    progress: Callable[[ItemOutcome], None] | None = None,
) -> list[ItemOutcome]:
    """Serve the queue until every item of ``job_id`` has ended; return their outcomes.

    Items of other jobs with a higher priority (live products) are served on the way; their
    outcomes are neither returned nor reported. The outcomes returned are the items' final
    records in the database, in item order (also those of items whose task was lost with its
    worker); ``progress`` is called as tasks report them. See `serve` for the parameters.
    """
    url = url or get_settings().database_url
    with session_scope(url) as session:
        item_ids = set(
            session.scalars(select(BatchJobItem.id).where(BatchJobItem.job_id == job_id)).all()
        )

    def report(outcome: ItemOutcome) -> None:
        if progress is not None and outcome.item_id in item_ids:
            progress(outcome)

    serve(
        lambda: jobs_finished([job_id], url),
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        url=url,
        progress=report,
    )
    with session_scope(url) as session:
        items = session.execute(
            select(
                BatchJobItem.id,
                BatchJobItem.data_id,
                BatchJobItem.status,
                BatchJobItem.n_measured,
                BatchJobItem.n_failed,
                BatchJobItem.error,
            )
            .where(BatchJobItem.job_id == job_id)
            .order_by(BatchJobItem.id)
        ).all()
    return [
        ItemOutcome(i.id, i.data_id, i.status, i.n_measured or 0, i.n_failed or 0, i.error)
        for i in items
    ]


def serve(
    finished: Callable[[], bool],
    *,
    executor: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    url: str | None = None,
    progress: Callable[[ItemOutcome], None] | None = None,
) -> int:
    """Process queue items on a pool until ``finished()`` is true; return how many ended (as
    reported by the tasks: a task lost with its worker reports none).

    Parameters
    ----------
    finished : callable
        Checked before each new task is sent; the tasks in flight then finish (each claims no
        item after `TASK_S` seconds).
    executor : {"local", "dask"}, optional
        Default from settings (``jobs.executor``).
    workers : int, optional
        Local processes (also when the local pool takes over from a lost scheduler), or workers
        of a Dask ``LocalCluster`` when no scheduler is given.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default
        ``jobs.dask_scheduler``.
    url : str, optional
        Database URL.
    progress : callable, optional
        Called with each outcome as it arrives (outcomes are not kept: memory stays flat
        however many items are served).
    """
    settings = get_settings()
    url = url or settings.database_url
    executor = executor or settings.jobs.executor
    workers = workers or settings.jobs.workers
    scheduler = scheduler or settings.jobs.dask_scheduler
    if executor not in ("local", "dask"):
        raise InputError(f"unknown executor {executor!r}; use 'local' or 'dask'")
    dispatch = _Dispatch(finished, url, settings.jobs, progress)
    while executor == "dask":
        try:
            with _DaskPool(scheduler, workers) as pool:
                dispatch.run(pool)
            return dispatch.n_items
        except SchedulerLostError as exc:
            log.warning(
                "Dask scheduler %s: %s; the local pool of %d process(es) takes over "
                "for %.0f s, then the scheduler is tried again",
                scheduler or "(local)",
                exc,
                workers,
                settings.jobs.dask_retry_s,
            )
        with _LocalPool(workers) as pool:
            if dispatch.run(pool, for_s=settings.jobs.dask_retry_s):
                return dispatch.n_items
    with _LocalPool(workers) as pool:
        dispatch.run(pool)
    return dispatch.n_items


class _Pool(Protocol):
    """What the dispatcher needs of a pool."""

    @property
    def capacity(self) -> int: ...

    def submit(self, url: str, settings: JobSettings) -> Future: ...

    def wait(self, futures: set, timeout: float) -> tuple[set, set]: ...

    def result(self, future) -> list[ItemOutcome]: ...


class _Dispatch:
    """Keeps a pool's workers busy with `execute_batch` tasks until ``finished()``."""

    def __init__(
        self,
        finished: Callable[[], bool],
        url: str,
        settings: JobSettings,
        progress: Callable[[ItemOutcome], None] | None,
    ) -> None:
        self.finished, self.url, self.settings = finished, url, settings
        self.progress = progress
        self.n_items = 0

    def run(self, pool: _Pool, *, for_s: float | None = None) -> bool:
        """Serve until ``finished()`` (True) or ``for_s`` seconds have passed (False)."""
        deadline = None if for_s is None else time.monotonic() + for_s
        in_flight: set = set()
        done_serving = False
        while not done_serving:
            done_serving = self.finished()
            if done_serving or (deadline is not None and time.monotonic() > deadline):
                break
            while len(in_flight) < pool.capacity:
                in_flight.add(pool.submit(self.url, self.settings))
            done, in_flight = pool.wait(in_flight, self.settings.poll_s)
            if not all([self._record(pool.result(future)) for future in done]):
                time.sleep(self.settings.poll_s)  # a task found nothing due: poll again shortly
        while in_flight:  # the items in hand are finished, never abandoned
            done, in_flight = pool.wait(in_flight, self.settings.poll_s)
            for future in done:
                self._record(pool.result(future))
        return done_serving

    def _record(self, outcomes: list[ItemOutcome]) -> bool:
        """Count and report a task's outcomes; False when it found nothing to do."""
        self.n_items += len(outcomes)
        if self.progress is not None:
            for outcome in outcomes:
                self.progress(outcome)
        return bool(outcomes)


class _LocalPool:
    """Worker processes on this machine ("spawn": fresh interpreters, safe with numba/BLAS
    threads and open database engines), ending with this process however it dies."""

    def __init__(self, workers: int) -> None:
        self.capacity = workers
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )

    def __enter__(self) -> _LocalPool:
        return self

    def __exit__(self, *_exc) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def submit(self, url: str, settings: JobSettings) -> Future:
        return self._executor.submit(execute_batch, url, settings)

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        done, pending = wait_local(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return set(done), set(pending)

    def result(self, future: Future) -> list[ItemOutcome]:
        return future.result()


class _DaskPool:
    """Tasks on a Dask cluster: a running scheduler, or a ``LocalCluster`` of ``workers``
    processes when no scheduler address is given."""

    def __init__(self, scheduler: str | None, workers: int) -> None:
        # Imported here: distributed takes about a second to import, and only this path needs it.
        from distributed import Client, LocalCluster

        self._cluster = (
            None
            if scheduler
            else LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
        )
        try:
            self._client = Client(scheduler or self._cluster, timeout=10)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise SchedulerLostError(f"cannot connect ({type(exc).__name__}: {exc})") from exc
        log.info(
            "Dask scheduler %s: %d worker thread(s); dashboard %s",
            self._client.scheduler.address,
            self.capacity,
            self._client.dashboard_link,
        )

    def __enter__(self) -> _DaskPool:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect (and stop the ``LocalCluster``, if this pool started one)."""
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()

    @property
    def capacity(self) -> int:
        """Worker threads the scheduler knows of (at least one: tasks wait for a worker)."""
        workers = self._client.scheduler_info().get("workers", {})
        return max(1, sum(w.get("nthreads", 1) for w in workers.values()))

    def submit(self, url: str, settings: JobSettings):
        return self._client.submit(execute_batch, url, settings, pure=False)

    def wait(self, futures: set, timeout: float) -> tuple[set, set]:
        from distributed import wait
        from distributed.comm.core import CommClosedError

        if self._client.status not in ("running", "connecting"):
            raise SchedulerLostError(f"client {self._client.status}")
        try:
            done, pending = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
        except TimeoutError:
            return set(), futures
        except CancelledError as exc:  # the client cancels its futures when it loses the scheduler
            raise SchedulerLostError(f"tasks cancelled: {exc}") from exc
        except CommClosedError as exc:  # the connection closed under the call
            raise SchedulerLostError(f"connection closed: {exc}") from exc
        return set(done), set(pending)

    def result(self, future) -> list[ItemOutcome]:
        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError

        try:
            return future.result()
        except KilledWorker as exc:
            # Workers died running this task; its item in hand is claimed again after its lease,
            # and the outcomes of the items it had finished are in the database only.
            log.warning("Dask task %s lost with its workers: %s", future.key, exc)
            return []
        except CancelledError as exc:
            raise SchedulerLostError(f"task {future.key} cancelled: {exc}") from exc
        except CommClosedError as exc:  # fetching the result from a scheduler that went away
            raise SchedulerLostError(f"task {future.key}: connection closed: {exc}") from exc
