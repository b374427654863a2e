"""The pipeline service behind ``contimg run``: stream, workers, mosaics, sweeps and the API.

`run_pipeline` starts local worker processes (`dsa110_contimg.jobs.worker.run_worker`) and
then either

* **serves** until stopped: the streaming converter (with a periodic reconciliation sweep), the
  mosaic orchestrator every ``mosaic.interval_s`` and, when asked, the HTTP API — each in its
  own thread —, or
* works **until idle** (``until_idle=True``, what the demo and scripts use): image and register
  every observation present, wait for the photometry queue to empty, build, measure and publish
  the mosaics (partial groups too), and repeat until nothing new appears.

Either way it returns a `RunSummary` read back from the registry and the ledger.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

import uvicorn
from sqlalchemy import func, select

from dsa110_contimg.api.app import create_app
from dsa110_contimg.api.security import check_bind
from dsa110_contimg.config import JobSettings, Settings
from dsa110_contimg.conversion.streaming.ledger import ObservationRecord
from dsa110_contimg.conversion.streaming.streaming_converter import StreamingConverter
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.models import BatchJobItem, DataRegistry, Photometry, unix_seconds
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.jobs.reconcile import PeriodicSweep
from dsa110_contimg.jobs.service import ACTIVE_ITEM_STATES
from dsa110_contimg.jobs.worker import run_worker
from dsa110_contimg.mosaic.orchestrator import PassSummary, run_once
from dsa110_contimg.process_lifetime import exit_with_parent

__all__ = ["RunSummary", "run_pipeline"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run produced: products, photometry statuses, rows, timings and latency."""

    observations: list[ObservationRecord] = field(default_factory=list)
    mosaic_passes: list[PassSummary] = field(default_factory=list)
    products: dict[tuple[str, str | None], int] = field(default_factory=dict)
    photometry_rows: int = 0
    latency_s: list[float] = field(default_factory=list)
    stage_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def median_latency_s(self) -> float | None:
        """Median time from an image file being written to its photometry being committed."""
        return statistics.median(self.latency_s) if self.latency_s else None


def run_pipeline(
    settings: Settings,
    *,
    until_idle: bool = False,
    serve_api: bool = False,
    workers: int | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run the pipeline service (see the module docstring).

    Parameters
    ----------
    settings : Settings
        All configuration (stream, photometry, mosaic, jobs, api).
    until_idle : bool
        Stop once everything present is processed, instead of serving until ``stop``.
    serve_api : bool
        Also serve the HTTP API (``api.host``/``api.port``).
    workers : int, optional
        Worker processes (default ``jobs.workers``).
    stop : threading.Event, optional
        Set it to stop serving (signal handlers of the caller do).
    progress : callable, optional
        Called with a one-line description of each step.

    Raises
    ------
    dsa110_contimg.api.security.InsecureBindError
        ``serve_api`` on a non-loopback address without an API token.
    """
    start = time.perf_counter()
    upgrade(settings.database_url)
    stop = stop or threading.Event()
    say = progress or (lambda message: log.info("%s", message))
    converter = StreamingConverter.from_settings(
        settings, enable_photometry=settings.photometry.enabled
    )
    summary = RunSummary()
    if serve_api:
        check_bind(settings.api, settings.api.host)
    pool = _start_workers(workers or settings.jobs.workers, settings)
    api = _start_api(settings) if serve_api else None
    try:
        if until_idle:
            converter.ledger.lock()
            try:
                _until_idle(converter, settings, summary, say)
            finally:
                converter.ledger.unlock()
        else:
            _serve(converter, settings, summary, stop, say)
    finally:
        if api is not None:
            api.should_exit = True
        _stop_workers(pool)
    _read_back(summary, settings.database_url)
    summary.wall_s = time.perf_counter() - start
    return summary


def _until_idle(
    converter: StreamingConverter,
    settings: Settings,
    summary: RunSummary,
    say: Callable[[str], None],
) -> None:
    while True:
        records = converter.drain(lambda r: say(_describe(r)))
        summary.observations += records
        _wait_for_queue(settings)
        mosaics = run_once(settings=settings, url=settings.database_url, flush=True)
        summary.mosaic_passes.append(mosaics)
        for outcome in mosaics.published:
            say(
                f"mosaic {outcome.data_id}: photometry {outcome.photometry_status}, "
                f"published {outcome.published_path}"
            )
        for name, reason in mosaics.skipped:
            say(f"mosaic {name} skipped: {reason}")
        if not records and not mosaics.built:
            return


def _serve(
    converter: StreamingConverter,
    settings: Settings,
    summary: RunSummary,
    stop: threading.Event,
    say: Callable[[str], None],
) -> None:
    sweep = PeriodicSweep(settings.stream.reconcile_interval_s, url=settings.database_url)

    def mosaics() -> None:
        while not stop.is_set():
            summary.mosaic_passes.append(run_once(settings=settings, url=settings.database_url))
            stop.wait(settings.mosaic.interval_s)

    orchestrator = threading.Thread(target=mosaics, name="mosaic-orchestrator", daemon=True)
    orchestrator.start()
    say(f"serving: watching {converter.input_dir}, mosaics every {settings.mosaic.interval_s:g} s")
    try:
        converter.run(
            stop,
            poll_s=settings.stream.poll_s,
            use_polling=settings.stream.use_polling,
            every_pass=sweep,
        )
    finally:
        stop.set()
        orchestrator.join(timeout=settings.mosaic.photometry_timeout_s + 10)


def _wait_for_queue(settings: Settings) -> None:
    """Block until no photometry item is pending or running."""
    while True:
        with session_scope(settings.database_url) as session:
            active = session.scalar(
                select(func.count())
                .select_from(BatchJobItem)
                .where(BatchJobItem.status.in_(ACTIVE_ITEM_STATES))
            )
        if not active:
            return
        time.sleep(min(settings.jobs.poll_s, 0.5))


def _worker_main(url: str, jobs: JobSettings, parent_pid: int) -> None:
    exit_with_parent(parent_pid)  # SIGTERM when the service dies, however it dies
    run_worker(settings=jobs, url=url)


def _start_workers(n: int, settings: Settings) -> list[BaseProcess]:
    """Start ``n`` worker processes that end with this process (also when it is killed)."""
    context = multiprocessing.get_context("spawn")
    pool: list[BaseProcess] = [
        context.Process(
            target=_worker_main,
            args=(settings.database_url, settings.jobs, os.getpid()),
            name=f"contimg-worker-{i}",
            daemon=True,
        )
        for i in range(n)
    ]
    for process in pool:
        process.start()
    return pool


def _stop_workers(pool: list[BaseProcess]) -> None:
    """SIGTERM: each worker finishes its current item, then exits."""
    for process in pool:
        process.terminate()
    for process in pool:
        process.join(timeout=60)
        if process.is_alive():
            log.warning("worker %s did not stop within 60 s; killing it", process.name)
            process.kill()


def _start_api(settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings, warm_kernels=True),
        host=settings.api.host,
        port=settings.api.port,
        log_level=settings.log_level.lower(),
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="api", daemon=True).start()
    return server


def _read_back(summary: RunSummary, url: str) -> None:
    with session_scope(url) as session:
        rows = session.execute(
            select(DataRegistry.data_type, DataRegistry.photometry_status, func.count()).group_by(
                DataRegistry.data_type, DataRegistry.photometry_status
            )
        )
        summary.products = {(t, s): n for t, s, n in rows}
        summary.photometry_rows = session.scalar(select(func.count()).select_from(Photometry)) or 0
        done = session.execute(
            select(
                DataRegistry.stage_path,
                DataRegistry.published_path,
                DataRegistry.photometry_updated_at,
            ).where(
                DataRegistry.data_type == "image", DataRegistry.photometry_status == "completed"
            )
        ).all()
    for stage_path, published_path, finished in done:
        written = _mtime(Path(published_path or stage_path))
        if written is not None and finished is not None:
            summary.latency_s.append(unix_seconds(finished) - written)
    stages: Counter[str] = Counter()
    for record in summary.observations:
        stages.update(record.timings_s)
    summary.stage_s = dict(stages)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _describe(record: ObservationRecord) -> str:
    if record.status == "failed":
        return f"observation {record.key} failed: {record.error}"
    return f"observation {record.key} → {record.data_id}" + (
        f" (photometry job {record.job_id})" if record.job_id else ""
    )
