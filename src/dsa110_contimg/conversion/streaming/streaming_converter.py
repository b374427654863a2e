"""The streaming converter: new observation → image → registered product → photometry job.

`StreamingConverter.run_once` processes every complete observation in the watched directory
that the ledger has not seen, in time order of arrival, each through the stages

1. **image** (the configured `dsa110_contimg.imaging.imager.Imager`),
2. **register** the image in the data registry (observation time from its header),
3. **photometry**: queue forced photometry through `dsa110_contimg.jobs.triggers` (when
   enabled; the registry status then moves to a terminal state as workers measure it),

and records the outcome and stage timings in the `Ledger`, so that each observation is processed
exactly once across restarts. Restarts are not failures: an orderly stop (SIGTERM, Ctrl-C) while
an observation is being processed is recorded as ``stopped`` and not counted; only an
observation that was being processed when the process *died* (killed, out of memory) counts an
attempt, and one failed that way (`MAX_ATTEMPTS` deaths) is given one more try by the first
periodic sweep of a later, restarted service (`StreamingConverter.run`). An observation is
complete once none of its files has changed for ``settle_s`` seconds and no temporary
(to-be-renamed) file of it is present. A failure at any stage is logged at WARNING with the
observation and the reason, recorded as ``failed`` in the ledger, and the next observation goes
on.

`StreamingConverter.run` repeats this until stopped, woken by file-system events (watchdog;
or its polling observer for network filesystems) and at least every ``poll_s`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from dsa110_contimg.catalog.master import check_normalization
from dsa110_contimg.config import Settings, derived_dir, get_settings
from dsa110_contimg.conversion.streaming.ledger import MAX_ATTEMPTS, Ledger, ObservationRecord
from dsa110_contimg.data_roots import confine
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.errors import ContimgError
from dsa110_contimg.imaging.imager import (
    CommandImager,
    ExternalImager,
    Imager,
    Observation,
    SimulatedImager,
)
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.triggers import trigger_photometry

__all__ = ["StreamingConverter", "make_imager"]

log = logging.getLogger(__name__)

#: Errors that fail one observation (with the reason, logged at WARNING) without stopping the
#: stream: every kind of the project's errors — an imaging program that failed, an unreadable
#: image, `dsa110_contimg.data_roots.PathOutsideRootsError` for an image that resolves outside
#: the data roots (e.g. a symlink out of them, never registered) — and the file system's.
#: Anything else is a bug: it fails the observation too, logged with its traceback at ERROR.
OBSERVATION_ERRORS = (ContimgError, OSError)


def make_imager(settings: Settings) -> Imager:
    """The imager the ``stream`` settings ask for."""
    stream = settings.stream
    if stream.imager == "command":
        return CommandImager(
            stream.imaging_command,
            stream.observation_pattern,
            stream.imaging_timeout_s,
            group=stream.observation_group,
            files_per_observation=stream.files_per_observation,
        )
    if stream.imager == "wsclean":
        from dsa110_contimg.imaging.wsclean import (
            DSA110_GROUPING,
            DSA110_SUBBANDS,
            WSCleanImager,
        )

        return WSCleanImager(
            stream.wsclean,
            settings.primary_beam,
            stream.imaging_timeout_s,
            group=stream.observation_group or DSA110_GROUPING,
            files_per_observation=stream.files_per_observation or DSA110_SUBBANDS,
        )
    if stream.imager == "simulated":
        return SimulatedImager()
    return ExternalImager()


def _default_ledger() -> Ledger:
    """The ledger under the configured state directory."""
    return Ledger(get_settings().state_dir / "stream" / "ledger")


@dataclass
class StreamingConverter:
    """Watches ``input_dir`` and turns each new observation into a measured product.

    Parameters
    ----------
    imager : Imager
        How observations become images.
    input_dir, output_dir : Path
        The watched directory and where imagers write.
    photometry : PhotometryParams or None
        Queue photometry with these parameters; None disables photometry (products are still
        registered, with photometry status NULL = not requested).
    settle_s : float
        Quiet time after which an observation's files count as complete.
    incomplete_after_s : float
        An observation still missing some of its expected files after this quiet time is
        failed with a reason naming what is missing, or, with ``incomplete = "image"``,
        imaged with what arrived (logged at WARNING, noted in the ledger).
    incomplete : {"fail", "image"}
        See ``incomplete_after_s``.
    ledger : Ledger
        Outcome per observation (default ``<state_dir>/stream/ledger``).
    url : str, optional
        Database URL.
    """

    imager: Imager
    input_dir: Path
    output_dir: Path
    photometry: PhotometryParams | None
    settle_s: float = 2.0
    ledger: Ledger = field(default_factory=_default_ledger)
    url: str | None = None
    incomplete_after_s: float = 900.0
    incomplete: Literal["fail", "image"] = "fail"

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        enable_photometry: bool = True,
        **photometry_overrides,
    ) -> StreamingConverter:
        """A converter configured by ``settings`` (``photometry_overrides`` as CLI flags).

        Raises
        ------
        dsa110_contimg.data_roots.PathOutsideRootsError
            The watched or the image directory lies outside the data roots (nothing it
            produced could be registered).
        dsa110_contimg.catalog.master.MissingMasterCatalogError
            Normalization was asked for (``normalize=True`` here, or ``photometry.normalize``
            set in the settings) and the catalogue's master catalogue is not built (see
            `dsa110_contimg.catalog.master.check_normalization`).
        """
        settings = settings or get_settings()
        for name in ("input_dir", "output_dir"):
            directory = getattr(settings.stream, name)
            confine(directory, settings.data_roots, what=f"stream.{name} {directory}")
        params = (
            PhotometryParams.from_settings(settings, **photometry_overrides)
            if enable_photometry
            else None
        )
        if params is not None and params.normalize:
            asked = (
                photometry_overrides.get("normalize") is True
                or "normalize" in settings.photometry.model_fields_set
            )
            check_normalization(params.catalog, asked=asked, url=settings.database_url)
        return cls(
            make_imager(settings),
            derived_dir(settings.stream.input_dir),
            derived_dir(settings.stream.output_dir),
            params,
            settings.stream.settle_s,
            Ledger(settings.state_dir / "stream" / "ledger"),
            settings.database_url,
            settings.stream.incomplete_after_s,
            settings.stream.incomplete,
        )

    def __post_init__(self) -> None:
        self.input_dir = Path(self.input_dir)
        self.output_dir = Path(self.output_dir)
        self.input_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()  # replaced by `run`'s stop event

    def pending(self) -> tuple[list[Observation], list[Observation]]:
        """Observations the ledger has not finished: (complete ones oldest first, still
        being written)."""
        now = time.time()
        ready, waiting = [], []
        for observation in self.imager.find_observations(self.input_dir):
            record = self.ledger.get(observation.key)
            if record is not None and record.status in ("done", "failed"):
                continue
            newest = _newest_mtime(observation.paths)
            quiet = now - newest if newest is not None else -1.0
            if quiet < self.settle_s or (
                observation.missing_files and quiet < self.incomplete_after_s
            ):
                waiting.append(observation)
            else:
                ready.append((newest, observation.key, observation))
        return [obs for *_, obs in sorted(ready, key=lambda r: r[:2])], waiting

    def run_once(
        self,
        progress: Callable[[ObservationRecord], None] | None = None,
    ) -> list[ObservationRecord]:
        """Process every complete pending observation; their records, in processing order."""
        records = []
        for observation in self.pending()[0]:
            record = self.process(observation)
            records.append(record)
            if progress is not None:
                progress(record)
        return records

    def drain(
        self,
        progress: Callable[[ObservationRecord], None] | None = None,
    ) -> list[ObservationRecord]:
        """Process everything in the directory now, waiting for files still being written to
        settle (as ``contimg stream --once`` does)."""
        records = self.run_once(progress)
        deadline = time.monotonic() + self.settle_s + 5.0
        while self.pending()[1] and time.monotonic() < deadline:
            time.sleep(min(0.2, self.settle_s))
            records += self.run_once(progress)
        for observation in self.pending()[1]:
            log.warning(
                "observation %s is still being written; left for the next run", observation.key
            )
        return records

    def process(self, observation: Observation) -> ObservationRecord:
        """Image, register and queue photometry of one observation (never raises for bad data).

        A ``KeyboardInterrupt`` or ``SystemExit`` (an orderly stop) while it is processed, or an
        imaging failure once `run`'s stop event is set (the program was interrupted with the
        stream), records it as ``stopped`` without counting the attempt, and is re-raised.
        """
        previous = self.ledger.get(observation.key)
        attempts = (previous.attempts if previous else 0) + 1
        if attempts > MAX_ATTEMPTS:
            return self._fail(
                observation.key,
                attempts - 1,
                f"the process died {MAX_ATTEMPTS} times while processing it "
                "(killed or crashed, not stopped)",
                died_processing=True,
            )
        note = None
        if observation.missing_files and self.incomplete == "fail":
            return self._fail(
                observation.key,
                attempts,
                f"incomplete: {observation.describe_missing()} after {self.incomplete_after_s:g} s",
            )
        if observation.missing_files:
            note = (
                f"imaged with {len(observation.paths)} of {observation.expected_files} "
                f"files: {observation.missing_files} never arrived"
            )
            log.warning("observation %s: %s", observation.key, note)
        self.ledger.record(
            observation.key, status="started", attempts=attempts, error=None, note=note
        )
        timings: dict[str, float] = {}
        try:
            start = time.perf_counter()
            result = self.imager.image(observation, self.output_dir)
            timings.update(result.timings_s or {"image": time.perf_counter() - start})
            start = time.perf_counter()
            metadata = {
                "observation": observation.key,
                "imager": self.imager.name,
                "convention": result.convention,
                "product": result.product,
                **result.metadata,
            }
            if self.photometry is None:
                data_id = register_data(result.image, "image", metadata=metadata, url=self.url)
                job_id = None
            else:
                data_id, job_id = trigger_photometry(
                    result.image, "image", params=self.photometry, metadata=metadata, url=self.url
                )
            timings["register_and_queue"] = time.perf_counter() - start
        except OBSERVATION_ERRORS as exc:
            if self._stop.is_set():
                return self._stopped(observation.key, attempts, f"{type(exc).__name__}: {exc}")
            return self._fail(observation.key, attempts, f"{type(exc).__name__}: {exc}", timings)
        except (KeyboardInterrupt, SystemExit):
            self._stopped(observation.key, attempts, "stop requested")
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in one observation must not stop the stream
            log.exception("observation %s: unexpected error (a bug)", observation.key)
            return self._fail(
                observation.key, attempts, f"unexpected error: {type(exc).__name__}: {exc}", timings
            )
        record = self.ledger.record(
            observation.key,
            status="done",
            image=str(result.image),
            product=result.product,
            data_id=data_id,
            job_id=job_id,
            timings_s=timings,
        )
        log.info(
            "%s: %s image %s registered as %s%s (%.2f s)",
            observation.key,
            result.convention,
            result.image.name,
            data_id,
            f", photometry job {job_id}" if job_id else ", photometry not requested",
            sum(timings.values()),
        )
        return record

    def run(
        self,
        stop: threading.Event,
        *,
        poll_s: float = 5.0,
        use_polling: bool = False,
        every_pass: Callable[[], object] | None = None,
    ) -> None:
        """Process observations until ``stop`` is set.

        Parameters
        ----------
        stop : threading.Event
            Set it to finish after the current observation.
        poll_s : float
            Rescan at least this often (file events wake the loop sooner).
        use_polling : bool
            Use watchdog's polling observer (for network filesystems without events).
        every_pass : callable, optional
            Called after each pass (e.g. a `dsa110_contimg.jobs.reconcile.PeriodicSweep`). When
            it returns a result (the sweep ran), observations failed by process deaths before
            this run started are retried once (`retry_died_processing`).
        """
        self._stop = stop
        started_at = time.time()
        self.ledger.lock()
        wake = threading.Event()
        observer = PollingObserver(timeout=poll_s) if use_polling else Observer()
        observer.schedule(_Wake(wake), str(self.input_dir), recursive=False)
        observer.start()
        log.info(
            "watching %s (%s imager, photometry %s)",
            self.input_dir,
            self.imager.name,
            "on" if self.photometry else "off",
        )
        try:
            while not stop.is_set():
                self.run_once()
                if every_pass is not None and every_pass() is not None:
                    self.retry_died_processing(before=started_at)
                # Wake on events, and again once the newest file may have settled.
                wake.wait(min(poll_s, max(self.settle_s, 0.05)))
                wake.clear()
        finally:
            observer.stop()
            observer.join()
            self.ledger.unlock()

    def retry_died_processing(self, *, before: float) -> list[str]:
        """Give one more try to observations failed before ``before`` (a Unix time, the start
        of this run) because the process died while processing them; their keys.

        Each gets a single attempt (``retried_after_restart``): one that kills the process
        again is failed for good, so a poison observation cannot crash-loop the service.
        """
        retried = []
        for record in self.ledger.records():
            if (
                record.status == "failed"
                and record.died_processing
                and not record.retried_after_restart
                and record.updated_at < before
            ):
                log.warning(
                    "observation %s: retrying once after a restart (%s)", record.key, record.error
                )
                self.ledger.record(
                    record.key,
                    status="stopped",
                    attempts=MAX_ATTEMPTS - 1,
                    error=None,
                    died_processing=False,
                    retried_after_restart=True,
                )
                retried.append(record.key)
        return retried

    def _fail(
        self,
        key: str,
        attempts: int,
        reason: str,
        timings: dict[str, float] | None = None,
        *,
        died_processing: bool = False,
    ) -> ObservationRecord:
        log.warning("observation %s failed: %s", key, reason)
        return self.ledger.record(
            key,
            status="failed",
            attempts=attempts,
            error=reason,
            timings_s=timings or {},
            died_processing=died_processing,
        )

    def _stopped(self, key: str, attempts: int, cause: str) -> ObservationRecord:
        """Record an orderly stop during processing; the attempt is not counted."""
        log.warning(
            "observation %s: stopped while being processed (%s); it will be processed "
            "again after a restart",
            key,
            cause,
        )
        return self.ledger.record(
            key,
            status="stopped",
            attempts=attempts - 1,
            note=f"stopped while being processed ({cause})",
        )


class _Wake(FileSystemEventHandler):
    """Sets an event on any change in the watched directory."""

    def __init__(self, wake: threading.Event):
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.wake.set()


def _newest_mtime(paths: tuple[Path, ...]) -> float | None:
    """Newest modification time of ``paths`` (and directory contents); None if one vanished."""
    newest = 0.0
    for path in paths:
        try:
            newest = max(newest, path.stat().st_mtime)
            if path.is_dir():
                newest = max([newest, *(p.stat().st_mtime for p in path.rglob("*"))])
        except FileNotFoundError:
            return None
    return newest
