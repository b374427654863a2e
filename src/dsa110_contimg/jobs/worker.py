"""Claiming and processing job items under a lease.

A worker claims an item atomically (``pending``, due, in an active job — or ``running`` with an
expired lease, whose worker died) and holds it for ``lease_s``, renewed by a heartbeat while it
works. Processing reads the image once, selects sources, measures, upserts the rows, measures
the sources' sub-band spectra when the product has sub-band images, and moves the product's
registry status to a terminal state. What happens to an item that raises depends on the kind of
error (`dsa110_contimg.errors`): bad inputs (unreadable, missing, beamless images; unknown
catalogues or sources; paths outside the data roots; conflicts) fail the item at once with the
reason; external-tool and unavailable errors are retried with backoff up to ``max_attempts``,
then fail with the reason; any other exception is a bug, logged with its traceback at ERROR and
retried the same way (it may be a passing fault, such as a lost database connection). Attempts
are counted when an item is claimed, so an item whose worker dies while processing it is claimed
at most ``max_attempts`` times and then failed ("worker died 3 times while processing").
Counters are updated in O(1) per item, and the job reaches ``completed``,
``completed_with_errors`` or ``failed`` when its last item ends. A worker
never dies of one item.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import ColumnElement, and_, or_, select, update

from dsa110_contimg.config import JobSettings, get_settings
from dsa110_contimg.database.models import BatchJob, BatchJobItem, DataRegistry
from dsa110_contimg.database.products import photometry_insert
from dsa110_contimg.database.registry import (
    InvalidTransitionError,
    confine_product,
    update_photometry_status,
)
from dsa110_contimg.database.session import get_engine, session_scope
from dsa110_contimg.database.spectra import spectra_insert
from dsa110_contimg.errors import ContimgError, InputError, NotFoundError
from dsa110_contimg.imaging.fits_io import check_image, load_image, require_observation_time
from dsa110_contimg.imaging.primary_beam import PrimaryBeam
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.photometry.adaptive import measure_subbands, spectra
from dsa110_contimg.photometry.flags import decode_flags
from dsa110_contimg.photometry.sources import measure_targets, select_targets
from dsa110_contimg.variability.corrections import normalize_product

__all__ = [
    "ItemOutcome",
    "claim_item",
    "fail_exhausted_items",
    "process_item",
    "run_worker",
    "worker_name",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemOutcome:
    """How one item ended (``status`` is completed, failed or pending for a retry)."""

    item_id: int
    data_id: str
    status: str
    n_measured: int = 0
    n_failed: int = 0
    error: str | None = None


def worker_name() -> str:
    """``host:pid``, the lease owner recorded on claimed items."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_item(
    worker: str,
    *,
    item_id: int | None = None,
    settings: JobSettings | None = None,
    url: str | None = None,
    sweep_exhausted: bool = True,
) -> int | None:
    """Atomically claim the next due item (or ``item_id``); None when there is none.

    Items are claimed by descending priority, then in queue order: live products before
    submitted jobs before reprocessing (`dsa110_contimg.jobs.service.PRIORITY_LIVE`).

    Attempts are counted here, at claim time, so a worker that dies while processing (out of
    memory, a crash in a library) has used one. An item whose worker died with its last
    attempt (``jobs.max_attempts``) is failed with that reason instead of being claimed: a
    poison item ends after ``max_attempts`` crashes rather than crash-looping every worker.
    Such items are never claimed; with ``sweep_exhausted`` false they are left for a separate
    `fail_exhausted_items` call (a task claiming many items sweeps once, not per claim).
    """
    settings = settings or get_settings().jobs
    now = _now()
    due = _due(now)
    if sweep_exhausted:
        fail_exhausted_items(settings, url, now=now)
    claimable = and_(due, BatchJobItem.attempts < settings.max_attempts)
    candidate = (
        select(BatchJobItem.id)
        .join(BatchJob, BatchJob.id == BatchJobItem.job_id)
        .where(claimable, BatchJob.status.in_(("pending", "running")))
        .order_by(BatchJobItem.priority.desc(), BatchJobItem.id)
        .limit(1)
    )
    if item_id is not None:
        candidate = candidate.where(BatchJobItem.id == item_id)
    engine = get_engine(url)
    if engine.dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    with engine.begin() as conn:
        claimed = conn.execute(
            update(BatchJobItem)
            .where(BatchJobItem.id == candidate.scalar_subquery(), claimable)
            .values(
                status="running",
                lease_owner=worker,
                lease_expires_at=now + timedelta(seconds=settings.lease_s),
                attempts=BatchJobItem.attempts + 1,
                started_at=now,
            )
            .returning(BatchJobItem.id, BatchJobItem.job_id)
        ).first()
        if claimed is None:
            return None
        conn.execute(
            update(BatchJob)
            .where(BatchJob.id == claimed.job_id, BatchJob.status == "pending")
            .values(status="running", started_at=now)
        )
    return claimed.id


def _due(now: datetime) -> ColumnElement[bool]:
    """Items that may be claimed at ``now``: pending and due, or running with an expired
    lease."""
    return or_(
        and_(
            BatchJobItem.status == "pending",
            or_(BatchJobItem.not_before.is_(None), BatchJobItem.not_before <= now),
        ),
        and_(BatchJobItem.status == "running", BatchJobItem.lease_expires_at < now),
    )


def fail_exhausted_items(
    settings: JobSettings | None = None, url: str | None = None, *, now: datetime | None = None
) -> None:
    """Fail the due items that have used every attempt (``jobs.max_attempts``).

    Such an item is either ``running`` with an expired lease — its worker died during the last
    allowed attempt — or ``pending`` after ``max_attempts`` was lowered. Each is failed with
    the reason and logged at WARNING; its job's counters and the product's registry status
    follow as for any failure.

    Parameters
    ----------
    settings : JobSettings, optional
        Default: the ``jobs`` settings.
    url : str, optional
        Database URL.
    now : datetime, optional
        The time leases are compared with (default: now).
    """
    settings = settings or get_settings().jobs
    exhausted = and_(_due(now or _now()), BatchJobItem.attempts >= settings.max_attempts)
    with session_scope(url) as session:
        rows = session.execute(
            select(
                BatchJobItem.id,
                BatchJobItem.data_id,
                BatchJobItem.status,
                BatchJobItem.attempts,
                BatchJobItem.lease_owner,
                BatchJobItem.error,
            ).where(exhausted)
        ).all()
    for row in rows:
        if row.status == "running" and row.error is None:
            reason = (
                f"worker died {row.attempts} times while processing "
                f"(jobs.max_attempts = {settings.max_attempts}; last worker "
                f"{row.lease_owner})"
            )
        elif row.status == "running":
            reason = (
                f"worker {row.lease_owner} died while processing attempt {row.attempts} "
                f"of {settings.max_attempts}; an earlier attempt ended with {row.error}"
            )
        else:
            reason = (
                f"{row.attempts} attempts already made; jobs.max_attempts = "
                f"{settings.max_attempts} (last error: {row.error})"
            )
        log.warning("%s: item %d failed for good: %s", row.data_id, row.id, reason)
        _finish(
            row.id,
            row.data_id,
            row.lease_owner,
            "failed",
            error=reason,
            url=url,
            from_status=row.status,
            unless_renewed=True,
        )


def process_item(
    item_id: int, worker: str, *, settings: JobSettings | None = None, url: str | None = None
) -> ItemOutcome:
    """Measure a claimed item's product and record the outcome (never raises for bad data)."""
    settings = settings or get_settings().jobs
    with session_scope(url) as session:
        item = session.get_one(BatchJobItem, item_id)
        job = session.get_one(BatchJob, item.job_id)
        record = session.scalar(select(DataRegistry).where(DataRegistry.data_id == item.data_id))
        data_id, attempts, sources = item.data_id, item.attempts, dict(item.sources or {})
        params = PhotometryParams.model_validate(job.params or {})
        path = record.published_path or record.stage_path if record is not None else None
        metadata = record.metadata_json if record is not None else None
        digest = item.params_hash or params.digest()
        job_id = job.id
    if path is None:
        reason = f"product {data_id} is not registered (or has no file)"
        return _finish(item_id, data_id, worker, "failed", error=reason, url=url)
    _set_registry(data_id, "running", item_id, url)
    start = time.perf_counter()
    try:
        with _Heartbeat(item_id, worker, settings.lease_s, url):
            table = _measure(confine_product(data_id, path), sources, params, url, metadata)
            photometry_insert(data_id, table, params_hash=digest, job_id=job_id, url=url)
            if params.normalize:  # raw rows are stored: a product that cannot be normalized
                normalize_product(data_id, params_hash=digest, url=url)  # logs why and keeps them
            spectra_note = _measure_spectra(data_id, table, metadata, params, digest, url)
    except ContimgError as exc:
        if not exc.retryable:  # retrying cannot fix it: the reason is the item's error
            return _finish(item_id, data_id, worker, "failed", error=_reason(exc), url=url)
        log.warning(
            "%s: item %d, attempt %d: %s error: %s", data_id, item_id, attempts, exc.kind, exc
        )
        return _retry_or_fail(item_id, data_id, worker, exc, attempts, settings, url)
    except Exception as exc:  # noqa: BLE001 - a worker must survive any item; recorded below
        log.exception(
            "%s: unexpected error (a bug) in item %d (attempt %d)", data_id, item_id, attempts
        )
        return _retry_or_fail(item_id, data_id, worker, exc, attempts, settings, url)
    peaks = np.asarray(table["peak_jyb"], dtype=float)
    outcome = _finish(
        item_id,
        data_id,
        worker,
        "completed",
        n_measured=int(np.isfinite(peaks).sum()),
        n_failed=int((~np.isfinite(peaks)).sum()),
        error=spectra_note,
        url=url,
    )
    snr = np.asarray(table["snr"], dtype=float)
    median_snr = float(np.median(snr[np.isfinite(snr)])) if np.isfinite(snr).any() else math.nan
    log.info(
        "%s: %d sources measured (median S/N %.1f), %d unmeasurable, in %.2f s (item %d)",
        data_id,
        outcome.n_measured,
        median_snr,
        outcome.n_failed,
        time.perf_counter() - start,
        item_id,
    )
    if outcome.n_failed:
        flags = np.asarray(table["flags"])[~np.isfinite(peaks)]
        log.warning(
            "%s: %d of %d sources unmeasurable: %s",
            data_id,
            outcome.n_failed,
            len(peaks),
            _flag_counts(flags),
        )
    return outcome


def _retry_or_fail(
    item_id: int,
    data_id: str,
    worker: str,
    exc: Exception,
    attempts: int,
    settings: JobSettings,
    url: str | None,
) -> ItemOutcome:
    """Put the item back with exponential backoff while attempts remain, else fail it."""
    if attempts < settings.max_attempts:
        delay = settings.retry_backoff_s * 2 ** (attempts - 1)
        return _finish(
            item_id, data_id, worker, "pending", error=_reason(exc), url=url, retry_in_s=delay
        )
    return _finish(
        item_id,
        data_id,
        worker,
        "failed",
        error=f"{_reason(exc)} (after {attempts} attempts)",
        url=url,
    )


def run_worker(
    *,
    worker: str | None = None,
    stop_when_idle: bool = False,
    settings: JobSettings | None = None,
    url: str | None = None,
) -> int:
    """Claim and process items until stopped (SIGTERM/SIGINT finish the current item first).

    Returns the number of items processed. With ``stop_when_idle`` it returns as soon as no item
    is due (used by tests, ``--once`` and the executors).
    """
    settings = settings or get_settings().jobs
    worker = worker or worker_name()
    stopping = {"flag": False}

    def request_stop(signum, _frame):
        log.warning("worker %s: signal %d, stopping after the current item", worker, signum)
        stopping["flag"] = True

    previous = {}
    if _in_main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, request_stop)
    processed = 0
    try:
        while not stopping["flag"]:
            item_id = claim_item(worker, settings=settings, url=url)
            if item_id is None:
                if stop_when_idle:
                    break
                time.sleep(settings.poll_s)
                continue
            process_item(item_id, worker, settings=settings, url=url)
            processed += 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return processed


class _Heartbeat:
    """Renews an item's lease every third of the lease while it is being processed."""

    def __init__(self, item_id: int, worker: str, lease_s: float, url: str | None) -> None:
        self.item_id, self.worker, self.lease_s, self.url = item_id, worker, lease_s, url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"lease-{item_id}")

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3.0):
            with get_engine(self.url).begin() as conn:
                renewed = conn.execute(
                    update(BatchJobItem)
                    .where(
                        BatchJobItem.id == self.item_id,
                        BatchJobItem.status == "running",
                        BatchJobItem.lease_owner == self.worker,
                    )
                    .values(lease_expires_at=_now() + timedelta(seconds=self.lease_s))
                ).rowcount
            if not renewed:
                log.warning("item %d: lease lost by %s", self.item_id, self.worker)
                return


def _measure(
    path: str | Path,
    sources: dict,
    params: PhotometryParams,
    url: str | None,
    metadata: str | None = None,
):
    image = load_image(path)
    check_image(image)  # before any catalogue query: pixels and beam that can be measured
    require_observation_time(image)  # rows without a time cannot enter light curves
    maps = _noise_map(metadata)
    if "source_ids" in sources:
        targets = select_targets(image, source_ids=sources["source_ids"], url=url)
    else:
        targets = select_targets(
            image,
            catalog=sources.get("catalog", params.catalog),
            radius_deg=sources.get("radius_deg", params.radius_deg),
            options=params.fitting,
            url=url,
        )
    return measure_targets(
        image,
        targets,
        options=params.fitting,
        primary_beam=PrimaryBeam.from_settings(params.primary_beam),
        **maps,
    )


def _measure_spectra(
    data_id: str,
    table,
    metadata: str | None,
    params: PhotometryParams,
    digest: str,
    url: str | None,
) -> str | None:
    """Measure and store the sub-band spectra of the sources in ``table`` (the product's MFS
    photometry) when the registry metadata lists sub-band images and spectra are enabled.

    Returns
    -------
    str or None
        Why the spectra could not be measured (a missing or unreadable sub-band image, one
        without a frequency), recorded on the completed item; the MFS photometry stands.
        Unexpected errors propagate, so the item is retried like any other.
    """
    images = json.loads(metadata).get("subband_images") if metadata else None
    if not params.adaptive.enabled or not images:
        return None
    stored = np.asarray(table["source_id"], dtype=np.int64) > 0
    if not stored.any():
        return None
    rows = table[stored]
    start = time.perf_counter()
    try:
        measured = measure_subbands(
            images,
            rows["ra_deg"],
            rows["dec_deg"],
            names=list(rows["name"]),
            source_ids=list(rows["source_id"]),
            options=params.fitting,
            primary_beam=PrimaryBeam.from_settings(params.primary_beam),
        )
    except (InputError, NotFoundError) as exc:
        note = f"sub-band spectra not measured: {_reason(exc)}"
        log.warning("%s: %s", data_id, note)
        return note
    result = spectra(
        measured,
        target_snr=params.adaptive.target_snr,
        max_width=params.adaptive.max_width,
        bridge_gaps=params.adaptive.bridge_gaps,
        max_curvature_err=params.adaptive.max_curvature_err,
    )
    n_bins = spectra_insert(data_id, result, params_hash=digest, url=url)
    fitted = np.isfinite(np.asarray(result["alpha"], dtype=float)) if len(result) else []
    log.info(
        "%s: sub-band spectra of %d sources in %d sub-bands: %d bins, %d spectral "
        "indices, in %.2f s",
        data_id,
        len(rows),
        len(images),
        n_bins,
        len(set(np.asarray(result["source_id"])[fitted].tolist())) if len(result) else 0,
        time.perf_counter() - start,
    )
    return None


def _noise_map(metadata: str | None) -> dict:
    """``{"rms_map": path}`` when the registry metadata (JSON) names a noise map (mosaics).

    Raises
    ------
    NotFoundError
        The named noise map does not exist (the item fails with this reason).
    """
    noise_map = json.loads(metadata).get("noise_map") if metadata else None
    if noise_map is None:
        return {}
    if not Path(noise_map).is_file():
        raise NotFoundError(f"noise map {noise_map} named in the registry metadata does not exist")
    return {"rms_map": noise_map}


def _finish(
    item_id: int,
    data_id: str,
    worker: str | None,
    status: str,
    *,
    n_measured: int = 0,
    n_failed: int = 0,
    error: str | None = None,
    url: str | None = None,
    retry_in_s: float = 0.0,
    from_status: str = "running",
    unless_renewed: bool = False,
) -> ItemOutcome:
    """Record an item's end (if ``worker`` still holds it) and update counters in O(1).

    ``from_status`` is the status the item must still have; with ``unless_renewed`` the item's
    lease must still be expired (a dead worker's item, failed by another worker).
    """
    now = _now()
    values: dict[str, object] = {
        "status": status,
        "error": error,
        "n_measured": n_measured,
        "n_failed": n_failed,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if status == "pending":
        values["not_before"] = now + timedelta(seconds=retry_in_s)
    else:
        values["finished_at"] = now
    held_by = (
        BatchJobItem.lease_owner.is_(None) if worker is None else BatchJobItem.lease_owner == worker
    )
    still = [BatchJobItem.id == item_id, BatchJobItem.status == from_status, held_by]
    if unless_renewed and from_status == "running":
        still.append(BatchJobItem.lease_expires_at < now)
    with get_engine(url).begin() as conn:
        held = conn.execute(
            update(BatchJobItem).where(*still).values(**values).returning(BatchJobItem.job_id)
        ).first()
        if held is None:
            if unless_renewed:
                return ItemOutcome(item_id, data_id, "lost-lease", n_measured, n_failed, error)
            log.warning(
                "%s: item %d was re-claimed after this worker's lease expired; "
                "its result stays (rows are idempotent) but the item is not updated",
                data_id,
                item_id,
            )
            return ItemOutcome(item_id, data_id, "lost-lease", n_measured, n_failed, error)
        if status in ("completed", "failed"):
            counter = BatchJob.n_completed if status == "completed" else BatchJob.n_failed
            job = conn.execute(
                update(BatchJob)
                .where(BatchJob.id == held.job_id)
                .values({counter: counter + 1})
                .returning(
                    BatchJob.n_items, BatchJob.n_completed, BatchJob.n_failed, BatchJob.status
                )
            ).one()
            if job.n_completed + job.n_failed >= job.n_items and job.status in (
                "pending",
                "running",
            ):
                final = (
                    "completed"
                    if job.n_failed == 0
                    else "failed"
                    if job.n_completed == 0
                    else "completed_with_errors"
                )
                conn.execute(
                    update(BatchJob)
                    .where(BatchJob.id == held.job_id)
                    .values(status=final, finished_at=now)
                )
    registry_status = "pending" if status == "pending" else status
    _set_registry(
        data_id,
        registry_status,
        item_id,
        url,
        error=error,
        n_measured=n_measured,
        n_failed=n_failed,
    )
    return ItemOutcome(item_id, data_id, status, n_measured, n_failed, error)


def _set_registry(
    data_id: str,
    status: str,
    item_id: int,
    url: str | None,
    *,
    error: str | None = None,
    n_measured: int | None = None,
    n_failed: int | None = None,
) -> None:
    try:
        update_photometry_status(
            data_id,
            status,
            error=error if status == "failed" else None,
            n_measured=n_measured,
            n_failed=n_failed,
            url=url,
        )
    except InvalidTransitionError as exc:
        log.warning("%s: registry not updated for item %d: %s", data_id, item_id, exc)


def _flag_counts(flags: np.ndarray) -> str:
    """``"off_image: 3, nan_in_box: 1"`` for the flags of unmeasurable sources."""
    counts = Counter(name for value in flags for name in decode_flags(int(value)))
    return ", ".join(f"{name}: {n}" for name, n in counts.most_common()) or "no flag set"


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _now() -> datetime:
    return datetime.now(UTC)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
