"""Finalizing and publishing products: the checks that a product may leave (its photometry
ended, it validates), and the file move into ``publish.published_dir`` inside the data roots
with its registry path updated in the same transaction.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from dsa110_contimg.config import derived_dir, get_settings
from dsa110_contimg.data_roots import confine
from dsa110_contimg.database.models import DataRegistry
from dsa110_contimg.database.registry.records import registry_record
from dsa110_contimg.database.registry.status import TERMINAL
from dsa110_contimg.database.session import session_factory, session_scope

__all__ = [
    "NEVER_REQUESTED",
    "confine_product",
    "finalize_data",
    "not_ready_reason",
    "trigger_auto_publish",
]

log = logging.getLogger(__name__)

#: Why a product whose photometry was never requested may not be finalized or published.
NEVER_REQUESTED = "its photometry was never requested"


def finalize_data(
    data_id: str,
    *,
    wait_for_photometry: bool | None = None,
    photometry_enabled: bool | None = None,
    url: str | None = None,
    roots: Sequence[Path] | None = None,
) -> bool:
    """Mark a product finalized when its QA, validation and photometry allow it.

    QA and validation must not have failed. With ``wait_for_photometry`` (default: setting
    ``publish.wait_for_photometry``), a product must have its photometry completed or failed
    first; while photometry is enabled (``photometry_enabled``, default: setting
    ``photometry.enabled``) that includes a product whose photometry was never requested — no
    product leaves without its photometry (`dsa110_contimg.jobs.triggers.
    request_missing_photometry` queues it). Returns True when finalized; False (with the reason
    logged at WARNING) otherwise.

    Raises
    ------
    UnknownDataError
        ``data_id`` is not registered.
    dsa110_contimg.data_roots.PathOutsideRootsError
        The product's file now resolves outside the data roots (``roots``, default setting
        ``data_roots``), e.g. it was replaced by a symlink out of them.
    """
    wait = _wait(wait_for_photometry)
    with session_scope(url) as session:
        record = registry_record(session, data_id, lock=True)
        confine_product(data_id, record.published_path or record.stage_path, roots)
        reason = _not_ready_reason(record, wait, _enabled(photometry_enabled))
        if reason:
            log.warning("%s: not finalized: %s", data_id, reason)
            return False
        record.finalization_status = "finalized"
        return True


def trigger_auto_publish(
    data_id: str,
    published_dir: str | Path | None = None,
    *,
    wait_for_photometry: bool | None = None,
    photometry_enabled: bool | None = None,
    url: str | None = None,
    roots: Sequence[Path] | None = None,
) -> Path | None:
    """Move a staged product into ``published_dir`` once it may be published.

    The product must have auto-publishing enabled and be finalizable (see `finalize_data`);
    then its file is moved (an atomic rename on one filesystem; across filesystems a copy to a
    hidden temporary name, renamed into place) and the registry records the new path,
    ``published`` status and time in the same transaction. The ``data_id`` never changes.

    Parameters
    ----------
    data_id : str
    published_dir : str or Path, optional
        Default: setting ``publish.published_dir``.
    wait_for_photometry : bool, optional
        Default: setting ``publish.wait_for_photometry``.
    photometry_enabled : bool, optional
        Default: setting ``photometry.enabled`` (see `finalize_data`).
    url : str, optional
        Database URL (default from settings).
    roots : sequence of Path, optional
        Data roots that both the staged file and its published name must lie in (default:
        setting ``data_roots``); a file is never moved out of them, nor one from outside.

    Returns
    -------
    Path or None
        The published path (also when it was published before), or None when not yet allowed.

    Raises
    ------
    UnknownDataError
        ``data_id`` is not registered.
    dsa110_contimg.data_roots.PathOutsideRootsError
        The staged file or the published name resolves outside the data roots (nothing moves).
    FileNotFoundError
        The staged file is missing (the registry is left unchanged).
    FileExistsError
        Another file already has the published name (nothing is moved).
    """
    wait = _wait(wait_for_photometry)
    published_dir = Path(published_dir or derived_dir(get_settings().publish.published_dir))
    session = session_factory(url)()
    try:
        record = registry_record(session, data_id, lock=True)
        if record.status == "published":
            assert record.published_path is not None  # recorded with the status
            return Path(record.published_path)
        roots = roots or get_settings().data_roots
        source = confine_product(data_id, record.stage_path, roots)
        target = confine(
            published_dir.absolute() / source.name,
            roots,
            what=f"{data_id}: the published name (publish.published_dir)",
        )
        if record.auto_publish_enabled == 0:
            log.info("%s: auto-publish disabled for this product", data_id)
            return None
        reason = _not_ready_reason(record, wait, _enabled(photometry_enabled))
        if reason:
            log.warning("%s: not published: %s", data_id, reason)
            return None
        if not source.is_file():
            raise FileNotFoundError(f"{data_id}: staged file {source.name} is missing")
        if target.exists():
            raise FileExistsError(
                f"{data_id}: {source.name} already exists in the published "
                "directory; not overwritten"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        record.status = "published"
        record.published_path = str(target)
        record.published_at = datetime.now(UTC)
        record.publish_mode = "auto"
        record.finalization_status = "finalized"
        session.flush()  # the update is valid (and the row locked) before the file moves
        _move(source, target)
        try:
            session.commit()
        except SQLAlchemyError:
            log.error("%s: registry update failed; moving %s back to %s", data_id, target, source)
            _move(target, source)
            raise
    finally:
        session.close()
    log.info("%s: published to %s", data_id, target)
    return target


def not_ready_reason(
    data_id: str,
    *,
    wait_for_photometry: bool | None = None,
    photometry_enabled: bool | None = None,
    url: str | None = None,
) -> str | None:
    """Why a product may not be finalized or published yet (None when it may; the rules of
    `finalize_data`).

    Raises
    ------
    UnknownDataError
        ``data_id`` is not registered.
    """
    with session_scope(url) as session:
        return _not_ready_reason(
            registry_record(session, data_id),
            _wait(wait_for_photometry),
            _enabled(photometry_enabled),
        )


def confine_product(data_id: str, path: str | Path, roots: Sequence[Path] | None = None) -> Path:
    """The file ``path`` of product ``data_id``, resolved now and checked to lie inside the
    data roots (``roots``, default setting ``data_roots``).

    Registration checked the path once; checking again at each use (measuring by ``data_id``,
    finalizing, publishing) catches a file replaced by a symlink out of the roots since, or
    roots that were narrowed.

    Raises
    ------
    dsa110_contimg.data_roots.PathOutsideRootsError
        It resolves outside the data roots.
    """
    return confine(path, roots or get_settings().data_roots, what=f"{data_id}: its file")


def _wait(wait_for_photometry: bool | None) -> bool:
    if wait_for_photometry is None:
        return get_settings().publish.wait_for_photometry
    return wait_for_photometry


def _enabled(photometry_enabled: bool | None) -> bool:
    if photometry_enabled is None:
        return get_settings().photometry.enabled
    return photometry_enabled


def _move(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; across filesystems copy to a temporary name first, so
    ``target`` never exists half-written."""
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        partial = target.with_name(f".{target.name}.partial")
        shutil.copy2(source, partial)
        os.replace(partial, target)
        source.unlink()


def _not_ready_reason(
    record: DataRegistry, wait_for_photometry: bool, photometry_enabled: bool
) -> str | None:
    if record.qa_status == "failed":
        return "QA failed"
    if record.validation_status == "invalid":
        return "validation failed"
    if wait_for_photometry and photometry_enabled and record.photometry_status is None:
        return NEVER_REQUESTED
    if (
        wait_for_photometry
        and record.photometry_status is not None
        and record.photometry_status not in TERMINAL
    ):
        return f"photometry is {record.photometry_status}, not yet completed or failed"
    return None
