"""What the streaming converter has done with each observation, kept across restarts.

One small JSON file per observation under ``<state_dir>/stream/ledger`` (written to a temporary
name and renamed, so a record is either the old or the new one, never half), plus an exclusive
lock so that two converters never work on the same state. An observation with a ``done`` or
``failed`` record is not processed again. A ``started`` record left behind means the process
died while processing that observation: such deaths count as attempts, so an observation that
keeps killing the process is failed after `MAX_ATTEMPTS` (``died_processing``). An orderly stop
(SIGTERM, Ctrl-C) during processing leaves a ``stopped`` record that does not count.

Examples
--------
>>> import tempfile
>>> ledger = Ledger(tempfile.mkdtemp())
>>> ledger.record("obs1", status="done", data_id="image-x").status
'done'
>>> ledger.get("obs1").data_id
'image-x'
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TextIO

from dsa110_contimg.errors import UnavailableError

__all__ = ["Ledger", "LedgerLockedError", "MAX_ATTEMPTS", "ObservationRecord"]

MAX_ATTEMPTS = 3
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


class LedgerLockedError(UnavailableError):
    """Another converter holds the ledger."""


@dataclass(frozen=True)
class ObservationRecord:
    """One observation's outcome: status, product, job, reason (``error``), anything worth
    knowing about a success (``note``, e.g. missing sub-bands) and stage timings."""

    key: str
    status: str = "started"  # started | stopped | done | failed
    attempts: int = 0
    died_processing: bool = False  # failed because the process died MAX_ATTEMPTS times
    retried_after_restart: bool = False  # such a failure already had its one automatic retry
    image: str | None = None
    product: str | None = None
    data_id: str | None = None
    job_id: int | None = None
    error: str | None = None
    note: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    updated_at: float = 0.0


class Ledger:
    """Per-observation records in ``directory`` (created when missing)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file: TextIO | None = None

    def get(self, key: str) -> ObservationRecord | None:
        """The record of ``key``, or None when the observation is new."""
        path = self._path(key)
        try:
            return ObservationRecord(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None

    def record(self, key: str, **fields) -> ObservationRecord:
        """Update (or create) the record of ``key`` with ``fields`` and return it."""
        current = self.get(key) or ObservationRecord(key)
        updated = replace(current, **fields, updated_at=time.time())
        path = self._path(key)
        partial = path.with_name(f".{path.name}.tmp")
        partial.write_text(json.dumps(asdict(updated), indent=1))
        os.replace(partial, path)
        return updated

    def forget_failed(self) -> list[str]:
        """Delete the records of failed observations (so they are tried again); their keys."""
        keys = []
        for path in self.directory.glob("*.json"):
            record = ObservationRecord(**json.loads(path.read_text()))
            if record.status == "failed":
                path.unlink()
                keys.append(record.key)
        return sorted(keys)

    def records(self) -> list[ObservationRecord]:
        """Every record, oldest update first."""
        found = [
            ObservationRecord(**json.loads(p.read_text())) for p in self.directory.glob("*.json")
        ]
        return sorted(found, key=lambda r: r.updated_at)

    def lock(self) -> None:
        """Take the exclusive lock, or raise `LedgerLockedError` naming the holder."""
        handle = open(self.directory / ".lock", "a+")  # noqa: SIM115 - held until unlock()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise LedgerLockedError(f"{self.directory} is in use by {holder}") from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._lock_file = handle

    def unlock(self) -> None:
        """Release the lock taken by `lock`."""
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _path(self, key: str) -> Path:
        return self.directory / f"{_UNSAFE.sub('_', key)}.json"
