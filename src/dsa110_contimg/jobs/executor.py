"""Running a job's items on a local process pool or a Dask distributed cluster.

Both executors run the same function, `execute_item`, once per item: it claims that item
(skipping it if another worker holds it) and processes it. Results are identical whichever
executor runs them, because all state lives in the database.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

from sqlalchemy import select

from dsa110_contimg.config import JobSettings, get_settings
from dsa110_contimg.database.models import BatchJobItem
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.jobs.worker import ItemOutcome, claim_item, process_item, worker_name
from dsa110_contimg.process_lifetime import exit_with_parent

__all__ = ["execute_item", "run_job"]

log = logging.getLogger(__name__)


def execute_item(item_id: int, url: str, settings: JobSettings) -> ItemOutcome | None:
    """Claim and process one item (None if it was not claimable)."""
    worker = worker_name()
    if claim_item(worker, item_id=item_id, settings=settings, url=url) is None:
        return None
    return process_item(item_id, worker, settings=settings, url=url)


def run_job(job_id: int, *, executor: str | None = None, workers: int | None = None,
            scheduler: str | None = None, url: str | None = None,
            progress: Callable[[ItemOutcome], None] | None = None) -> list[ItemOutcome]:
    """Run every due item of ``job_id`` and return their outcomes.

    Parameters
    ----------
    executor : {"local", "dask"}, optional
        Default from settings (``jobs.executor``).
    workers : int, optional
        Local processes, or workers of a Dask ``LocalCluster`` when no scheduler is given.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``).
    progress : callable, optional
        Called with each item's outcome as it ends.
    """
    settings = get_settings()
    url = url or settings.database_url
    executor = executor or settings.jobs.executor
    workers = workers or settings.jobs.workers
    with session_scope(url) as session:
        item_ids = session.scalars(select(BatchJobItem.id).where(
            BatchJobItem.job_id == job_id, BatchJobItem.status.in_(("pending", "running")))
            .order_by(BatchJobItem.id)).all()
    if not item_ids:
        return []
    if executor == "dask":
        outcomes = _run_dask(item_ids, url, settings.jobs, workers,
                             scheduler or settings.jobs.dask_scheduler, progress)
    elif executor == "local":
        outcomes = _run_local(item_ids, url, settings.jobs, workers, progress)
    else:
        raise ValueError(f"unknown executor {executor!r}; use 'local' or 'dask'")
    return [o for o in outcomes if o is not None]


def _run_local(item_ids, url, settings, workers, progress) -> list[ItemOutcome | None]:
    # "spawn": a fresh interpreter per worker, safe with numba/BLAS threads and open engines.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(execute_item, i, url, settings) for i in item_ids]
        return _collect(as_completed(futures), progress)


def _run_dask(item_ids, url, settings, workers, scheduler, progress) -> list[ItemOutcome | None]:
    # Imported here: distributed takes about a second to import, and only this path needs it.
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1,
                                                  processes=True, dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        futures = client.map(execute_item, item_ids, url=url, settings=settings, pure=False)
        return _collect(dask_completed(futures), progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _collect(finished, progress) -> list[ItemOutcome | None]:
    """Results of futures in completion order, reporting each outcome as it arrives."""
    outcomes = []
    for future in finished:
        outcome = future.result()
        outcomes.append(outcome)
        if outcome is not None and progress is not None:
            progress(outcome)
    return outcomes
