"""The photometry status of a registry record and its one state machine
(`PHOTOMETRY_TRANSITIONS`)::

    NULL ─► pending ─► running ─► completed
               ▲          │
               └──────────┴─► failed (reason)      completed/failed ─► pending (reprocess)

A transition not in the table raises `InvalidTransitionError`. A change is a compare-and-set
on the status read, so two processes can never both make a transition that only one of them
may make (e.g. two workers failing the same product).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from dsa110_contimg.database.models import DataRegistry, unix_seconds
from dsa110_contimg.database.registry.records import UnknownDataError, registry_record
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.errors import ConflictError

__all__ = [
    "InvalidTransitionError",
    "PHOTOMETRY_TRANSITIONS",
    "PhotometryStatus",
    "TERMINAL",
    "get_photometry_status",
    "link_photometry_to_data",
    "update_photometry_status",
]

log = logging.getLogger(__name__)

TERMINAL = ("completed", "failed")
#: Compare-and-set attempts of a status change that races with other writers.
_STATUS_ATTEMPTS = 5
#: Allowed photometry-status transitions (None = photometry not requested).
PHOTOMETRY_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"pending"}),
    "pending": frozenset({"pending", "running", "failed"}),
    "running": frozenset({"running", "completed", "failed", "pending"}),
    "completed": frozenset({"pending"}),
    "failed": frozenset({"pending"}),
}


class InvalidTransitionError(ConflictError):
    """A photometry-status change that the state machine does not allow."""


@dataclass(frozen=True)
class PhotometryStatus:
    """The photometry fields of one registry record (``updated_at`` in Unix seconds)."""

    data_id: str
    status: str | None
    job_id: int | None
    error: str | None
    n_measured: int | None
    n_failed: int | None
    updated_at: float | None

    @property
    def terminal(self) -> bool:
        """True when photometry has completed or failed."""
        return self.status in TERMINAL


def get_photometry_status(data_id: str, *, url: str | None = None) -> PhotometryStatus:
    """The photometry status of a registered product."""
    with session_scope(url) as session:
        return _status_of(registry_record(session, data_id))


def update_photometry_status(
    data_id: str,
    status: str,
    job_id: int | None = None,
    error: str | None = None,
    *,
    n_measured: int | None = None,
    n_failed: int | None = None,
    url: str | None = None,
    session: Session | None = None,
) -> PhotometryStatus:
    """Move a product's photometry to ``status`` (see `PHOTOMETRY_TRANSITIONS`).

    ``failed`` requires an ``error`` (the reason); other statuses clear it. With ``session``
    the change joins that session's transaction (e.g. queueing a job and marking its products
    pending commit together, so no worker can see one without the other).

    Raises
    ------
    InvalidTransitionError
        The transition is not allowed, or ``failed`` comes without a reason.
    UnknownDataError
        ``data_id`` is not registered.
    """
    if status == "failed" and not error:
        raise InvalidTransitionError(f"{data_id}: a failed photometry status needs a reason")
    if session is not None:
        return _apply_status(session, data_id, status, job_id, error, n_measured, n_failed)
    with session_scope(url) as own:
        return _apply_status(own, data_id, status, job_id, error, n_measured, n_failed)


def _apply_status(
    session: Session,
    data_id: str,
    status: str,
    job_id: int | None,
    error: str | None,
    n_measured: int | None,
    n_failed: int | None,
) -> PhotometryStatus:
    """The compare-and-set status change of `update_photometry_status`, in ``session``."""
    for _attempt in range(_STATUS_ATTEMPTS):
        current = session.execute(
            select(DataRegistry.photometry_status).where(DataRegistry.data_id == data_id)
        ).first()
        if current is None:
            raise UnknownDataError(f"no registered product with data_id {data_id!r}")
        current = current.photometry_status
        allowed = PHOTOMETRY_TRANSITIONS.get(current, frozenset())
        if status not in allowed:
            raise InvalidTransitionError(
                f"{data_id}: photometry status cannot go from {current!r} to {status!r} "
                f"(allowed: {sorted(allowed)})"
            )
        values = {
            "photometry_status": status,
            "photometry_updated_at": datetime.now(UTC),
            "photometry_error": error if status == "failed" else None,
        }
        for column, value in (
            ("photometry_job_id", job_id),
            ("photometry_n_measured", n_measured),
            ("photometry_n_failed", n_failed),
        ):
            if value is not None:
                values[column] = value
        result = session.execute(
            update(DataRegistry)
            .where(
                DataRegistry.data_id == data_id,
                DataRegistry.photometry_status.is_not_distinct_from(current),
            )
            .values(values)
            .execution_options(synchronize_session=False)
        )
        if cast("CursorResult[Any]", result).rowcount:  # an UPDATE's result has a cursor
            break
        log.debug("%s: photometry status changed concurrently; re-reading", data_id)
    else:
        raise InvalidTransitionError(
            f"{data_id}: photometry status kept changing concurrently; {status!r} not applied"
        )
    if status == "failed":
        log.warning("%s: photometry failed: %s", data_id, error)
    return _status_of(registry_record(session, data_id))


def link_photometry_to_data(
    data_id: str, photometry_job_id: int, *, url: str | None = None
) -> None:
    """Record which photometry job measures ``data_id``."""
    with session_scope(url) as session:
        registry_record(session, data_id, lock=True).photometry_job_id = photometry_job_id


def _status_of(record: DataRegistry) -> PhotometryStatus:
    return PhotometryStatus(
        record.data_id,
        record.photometry_status,
        record.photometry_job_id,
        record.photometry_error,
        record.photometry_n_measured,
        record.photometry_n_failed,
        unix_seconds(record.photometry_updated_at),
    )
