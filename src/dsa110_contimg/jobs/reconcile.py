"""The reconciliation sweep: no registered product goes without current photometry.

`reconcile` looks at every registered image and mosaic and queues photometry (one job, current
parameters) for those whose photometry is

* **missing** — never requested (photometry status NULL);
* **failed** — with ``retry_failed="all"`` every failed product; with ``"changed"`` (what the
  running service does periodically) only those whose file or catalogue changed after the
  failure, so a product that cannot be measured is not retried in a loop;
* **stale** — completed with other parameters than the current ones, or before its catalogue
  was re-ingested;
* **stuck** — ``pending``/``running`` in the registry with no live job item behind it (e.g. its
  job was cancelled or its item lost).

Items whose worker died keep their status until their lease expires and another worker claims
them again; the report counts them (``expired_leases``) but they need no new job.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import (
    BatchJob,
    BatchJobItem,
    Catalog,
    DataRegistry,
    unix_seconds,
)
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import ACTIVE_ITEM_STATES, create_batch_photometry_job

__all__ = ["PeriodicSweep", "ReconcileReport", "reconcile"]

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What a sweep found (``data_id`` lists) and the job it queued (None when nothing)."""

    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    expired_leases: int = 0
    job_id: int | None = None

    @property
    def queued(self) -> list[str]:
        """Every product queued again."""
        return self.missing + self.failed + self.stale + self.stuck


def reconcile(
    *,
    params: PhotometryParams | None = None,
    retry_failed: Literal["all", "changed", "none"] = "all",
    dry_run: bool = False,
    url: str | None = None,
) -> ReconcileReport:
    """Find products whose photometry is missing, failed, stale or stuck and queue them.

    Parameters
    ----------
    params : PhotometryParams, optional
        The current parameters (default: settings); completed products measured with others are
        stale.
    retry_failed : {"all", "changed", "none"}
        Which failed products to queue again (see the module docstring).
    dry_run : bool
        Report only; queue nothing.
    url : str, optional
        Database URL.
    """
    params = params or PhotometryParams.from_settings(get_settings())
    digest = params.digest()
    report = ReconcileReport()
    now = datetime.now(UTC)
    with session_scope(url) as session:
        catalogue_time = session.scalar(
            select(Catalog.ingested_at).where(Catalog.name == params.catalog.lower())
        )
        live = set(
            session.scalars(
                select(BatchJobItem.data_id).where(BatchJobItem.status.in_(ACTIVE_ITEM_STATES))
            )
        )
        report.expired_leases = len(
            session.scalars(
                select(BatchJobItem.id).where(
                    BatchJobItem.status == "running", BatchJobItem.lease_expires_at < now
                )
            ).all()
        )
        rows = session.execute(
            select(
                DataRegistry.data_id,
                DataRegistry.photometry_status,
                DataRegistry.photometry_updated_at,
                DataRegistry.stage_path,
                DataRegistry.published_path,
                BatchJob.params_hash,
            )
            .outerjoin(BatchJob, BatchJob.id == DataRegistry.photometry_job_id)
            .order_by(DataRegistry.id)
        ).all()
    for row in rows:
        reason = _reason(row, digest, catalogue_time, live, retry_failed)
        if reason is not None:
            getattr(report, reason).append(row.data_id)
    if report.queued and not dry_run:
        report.job_id = create_batch_photometry_job(report.queued, params=params, url=url)
    for reason in ("missing", "failed", "stale", "stuck"):
        if getattr(report, reason):
            log.warning(
                "reconcile: %d product(s) with %s photometry %s (e.g. %s)",
                len(getattr(report, reason)),
                reason,
                "found" if dry_run else f"queued in job {report.job_id}",
                getattr(report, reason)[0],
            )
    return report


class PeriodicSweep:
    """A reconciliation that runs at most every ``interval_s`` when called (from a service loop).

    Failed products are retried only when their file or catalogue changed (``"changed"``).
    """

    def __init__(self, interval_s: float, *, url: str | None = None):
        self.interval_s = interval_s
        self.url = url
        self._last = -math.inf

    def __call__(self) -> ReconcileReport | None:
        """Sweep if the interval has passed since the last sweep; the report, or None."""
        if time.monotonic() - self._last < self.interval_s:
            return None
        self._last = time.monotonic()
        return reconcile(retry_failed="changed", url=self.url)


def _reason(
    row, digest: str, catalogue_time: datetime | None, live: set[str], retry_failed: str
) -> str | None:
    status = row.photometry_status
    if status is None:
        return "missing"
    if status in ACTIVE_ITEM_STATES:
        return None if row.data_id in live else "stuck"
    measured_at = unix_seconds(row.photometry_updated_at) or 0.0
    catalogue_changed = catalogue_time is not None and unix_seconds(catalogue_time) > measured_at
    if status == "failed":
        if retry_failed == "all":
            return "failed"
        if retry_failed == "changed" and (catalogue_changed or _file_time(row) > measured_at):
            return "failed"
        return None
    if row.params_hash != digest or catalogue_changed:
        return "stale"
    return None


def _file_time(row) -> float:
    try:
        return Path(row.published_path or row.stage_path).stat().st_mtime
    except OSError:
        return 0.0
