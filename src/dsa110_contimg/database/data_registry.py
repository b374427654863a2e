"""The data registry: product identity, location, lineage and photometry status.

Identity: `register_data` assigns a ``data_id`` once (type + observation start + a short
discriminator from the file name, e.g. ``image-20261124T060000-3f9a1c``), returns the same id
for the same file however often it is called, and records the product's science metadata from
its FITS header. Publishing moves the file and changes its path, never its id.

Photometry status follows one state machine (`PHOTOMETRY_TRANSITIONS`)::

    NULL ─► pending ─► running ─► completed
               ▲          │
               └──────────┴─► failed (reason)      completed/failed ─► pending (reprocess)

and a transition not in the table raises `InvalidTransitionError`. A change is a
compare-and-set on the status read, so two processes can never both make a transition that
only one of them may make (e.g. two workers failing the same product).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from astropy.time import Time
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from dsa110_contimg.config import get_settings
from dsa110_contimg.data_roots import confine
from dsa110_contimg.database.models import DataRegistry, DataRelationship, Product
from dsa110_contimg.database.session import session_factory, session_scope
from dsa110_contimg.errors import ConflictError, NotFoundError
from dsa110_contimg.imaging.fits_io import (
    Image,
    check_image,
    load_image,
    require_observation_time,
)

__all__ = [
    "DATA_TYPES",
    "PHOTOMETRY_TRANSITIONS",
    "InvalidTransitionError",
    "PhotometryStatus",
    "UnknownDataError",
    "confine_product",
    "finalize_data",
    "RECORD_FIELDS",
    "get_data",
    "get_data_lineage",
    "get_photometry_status",
    "image_times",
    "link_data",
    "link_photometry_to_data",
    "list_data",
    "not_ready_reason",
    "photometry_latency_stats",
    "register_data",
    "trigger_auto_publish",
    "unlinked_images",
    "update_photometry_status",
]

log = logging.getLogger(__name__)

DATA_TYPES = ("image", "mosaic")
TERMINAL = ("completed", "failed")
#: Why a product whose photometry was never requested may not be finalized or published.
NEVER_REQUESTED = "its photometry was never requested"
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


class UnknownDataError(NotFoundError):
    """A ``data_id`` that is not registered."""


@dataclass(frozen=True)
class PhotometryStatus:
    """The photometry fields of one registry record."""

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


def register_data(path: str | Path, data_type: str = "image", *, image: Image | None = None,
                  metadata: dict | None = None, url: str | None = None,
                  roots: Sequence[Path] | None = None) -> str:
    """Register an image or mosaic file (idempotent) and return its ``data_id``.

    Parameters
    ----------
    path : str or Path
        The file as staged; resolved (symlinks followed) and registered under that path.
    data_type : {"image", "mosaic"}
    image : Image, optional
        The already loaded image (avoids reading the header again).
    metadata : dict, optional
        Stored as JSON with the record.
    url : str, optional
        Database URL (default from settings).
    roots : sequence of Path, optional
        The data roots the resolved file must lie in (default: setting ``data_roots``).

    Raises
    ------
    ValueError
        Unknown ``data_type``.
    dsa110_contimg.data_roots.PathOutsideRootsError
        The resolved file lies outside the data roots (e.g. a symlink out of them).
    dsa110_contimg.imaging.fits_io.ImageReadError
        The file is not a readable image, or not an image at all (pixels all blank, zero or
        constant: ``NotAnImageError``), or has no usable observation time
        (``MissingTimeError``); nothing is registered then.
    """
    if data_type not in DATA_TYPES:
        raise ValueError(f"data_type must be one of {DATA_TYPES}, got {data_type!r}")
    path = confine(Path(path).absolute(), roots or get_settings().data_roots,
                   what=Path(path).name)
    existing = _registered_id(path, url)
    if existing is not None:
        return existing
    image = image or load_image(path)
    check_image(image)
    require_observation_time(image)
    footprint = image.footprint()
    for data_id in _candidate_ids(data_type, image, path):
        now = time.time()
        try:
            with session_scope(url) as session:
                session.add(DataRegistry(
                    data_type=data_type, data_id=data_id, base_path=str(path.parent),
                    status="staging", stage_path=str(path), created_at=now, staged_at=now,
                    metadata_json=json.dumps(metadata) if metadata else None,
                    finalization_status="pending", auto_publish_enabled=1))
                session.flush()
                session.add(Product(
                    data_id=data_id, data_type=data_type, mjd_start=image.mjd_start,
                    mjd_mid=image.mjd_mid, mjd_end=image.mjd_end, ra_deg=footprint.ra_deg,
                    dec_deg=footprint.dec_deg, radius_deg=footprint.radius_deg,
                    beam_major_arcsec=image.beam.major_arcsec,
                    beam_minor_arcsec=image.beam.minor_arcsec, beam_pa_deg=image.beam.pa_deg,
                    freq_hz=image.freq_hz, pb_corrected=image.pb_corrected,
                    created_at=datetime.now(timezone.utc)))
        except IntegrityError:
            # Either this file was registered concurrently, or another file has this id.
            existing = _registered_id(path, url)
            if existing is not None:
                return existing
            log.info("data_id %s is taken by another file; %s gets a longer one", data_id, path)
            continue
        log.info("registered %s %s as %s", data_type, path, data_id)
        return data_id
    raise ValueError(f"{path}: every candidate data_id is taken by other files")


def get_photometry_status(data_id: str, *, url: str | None = None) -> PhotometryStatus:
    """The photometry status of a registered product."""
    with session_scope(url) as session:
        return _status_of(_record(session, data_id))


def update_photometry_status(data_id: str, status: str, job_id: int | None = None,
                             error: str | None = None, *, n_measured: int | None = None,
                             n_failed: int | None = None, url: str | None = None,
                             session: Session | None = None) -> PhotometryStatus:
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


def _apply_status(session: Session, data_id: str, status: str, job_id: int | None,
                  error: str | None, n_measured: int | None,
                  n_failed: int | None) -> PhotometryStatus:
    """The compare-and-set status change of `update_photometry_status`, in ``session``."""
    for _attempt in range(_STATUS_ATTEMPTS):
        current = session.execute(select(DataRegistry.photometry_status).where(
            DataRegistry.data_id == data_id)).first()
        if current is None:
            raise UnknownDataError(f"no registered product with data_id {data_id!r}")
        current = current.photometry_status
        allowed = PHOTOMETRY_TRANSITIONS.get(current, frozenset())
        if status not in allowed:
            raise InvalidTransitionError(
                f"{data_id}: photometry status cannot go from {current!r} to {status!r} "
                f"(allowed: {sorted(allowed)})")
        values = {"photometry_status": status, "photometry_updated_at": time.time(),
                  "photometry_error": error if status == "failed" else None}
        for column, value in (("photometry_job_id", job_id),
                              ("photometry_n_measured", n_measured),
                              ("photometry_n_failed", n_failed)):
            if value is not None:
                values[column] = value
        changed = session.execute(
            update(DataRegistry)
            .where(DataRegistry.data_id == data_id,
                   DataRegistry.photometry_status.is_not_distinct_from(current))
            .values(values).execution_options(synchronize_session=False)).rowcount
        if changed:
            break
        log.debug("%s: photometry status changed concurrently; re-reading", data_id)
    else:
        raise InvalidTransitionError(f"{data_id}: photometry status kept changing "
                                     f"concurrently; {status!r} not applied")
    if status == "failed":
        log.warning("%s: photometry failed: %s", data_id, error)
    return _status_of(_record(session, data_id))


def link_photometry_to_data(data_id: str, photometry_job_id: int, *,
                            url: str | None = None) -> None:
    """Record which photometry job measures ``data_id``."""
    with session_scope(url) as session:
        _record(session, data_id, lock=True).photometry_job_id = photometry_job_id


def finalize_data(data_id: str, *, wait_for_photometry: bool | None = None,
                  photometry_enabled: bool | None = None, url: str | None = None,
                  roots: Sequence[Path] | None = None) -> bool:
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
        record = _record(session, data_id, lock=True)
        confine_product(data_id, record.published_path or record.stage_path, roots)
        reason = _not_ready_reason(record, wait, _enabled(photometry_enabled))
        if reason:
            log.warning("%s: not finalized: %s", data_id, reason)
            return False
        record.finalization_status = "finalized"
        return True


def trigger_auto_publish(data_id: str, published_dir: str | Path | None = None, *,
                         wait_for_photometry: bool | None = None,
                         photometry_enabled: bool | None = None, url: str | None = None,
                         roots: Sequence[Path] | None = None) -> Path | None:
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
    published_dir = Path(published_dir or get_settings().publish.published_dir)
    session = session_factory(url)()
    try:
        record = _record(session, data_id, lock=True)
        if record.status == "published":
            return Path(record.published_path)
        roots = roots or get_settings().data_roots
        source = confine_product(data_id, record.stage_path, roots)
        target = confine(published_dir.absolute() / source.name, roots,
                         what=f"{data_id}: the published name (publish.published_dir)")
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
            raise FileExistsError(f"{data_id}: {source.name} already exists in the published "
                                  "directory; not overwritten")
        target.parent.mkdir(parents=True, exist_ok=True)
        record.status = "published"
        record.published_path = str(target)
        record.published_at = time.time()
        record.publish_mode = "auto"
        record.finalization_status = "finalized"
        session.flush()  # the update is valid (and the row locked) before the file moves
        _move(source, target)
        try:
            session.commit()
        except SQLAlchemyError:
            log.error("%s: registry update failed; moving %s back to %s", data_id, target,
                      source)
            _move(target, source)
            raise
    finally:
        session.close()
    log.info("%s: published to %s", data_id, target)
    return target


def link_data(parent_data_id: str, child_data_id: str, relationship: str = "derived_from", *,
              url: str | None = None) -> None:
    """Record that ``child`` was made from ``parent`` (idempotent)."""
    with session_scope(url) as session:
        _record(session, parent_data_id)
        _record(session, child_data_id)
        exists = session.scalar(select(DataRelationship.id).where(
            DataRelationship.parent_data_id == parent_data_id,
            DataRelationship.child_data_id == child_data_id,
            DataRelationship.relationship_type == relationship))
        if exists is None:
            session.add(DataRelationship(parent_data_id=parent_data_id,
                                         child_data_id=child_data_id,
                                         relationship_type=relationship,
                                         created_at=time.time()))


def get_data_lineage(data_id: str, *, url: str | None = None) -> dict[str, list[dict]]:
    """Parents and children of a product: ``{"parents": [...], "children": [...]}``."""
    with session_scope(url) as session:
        _record(session, data_id)
        rows = session.scalars(select(DataRelationship).where(or_(
            DataRelationship.parent_data_id == data_id,
            DataRelationship.child_data_id == data_id))).all()
        return {
            "parents": [{"data_id": r.parent_data_id, "relationship": r.relationship_type}
                        for r in rows if r.child_data_id == data_id],
            "children": [{"data_id": r.child_data_id, "relationship": r.relationship_type}
                         for r in rows if r.parent_data_id == data_id],
        }


#: Registry and product fields of `get_data` / `list_data` records (``path`` is the current
#: location: the published path once published, else the staged one).
RECORD_FIELDS = (
    "data_id", "data_type", "status", "path", "stage_path", "published_path", "created_at",
    "published_at", "qa_status", "validation_status", "finalization_status",
    "auto_publish_enabled", "photometry_status", "photometry_job_id", "photometry_error",
    "photometry_n_measured", "photometry_n_failed", "photometry_updated_at", "mjd_start",
    "mjd_mid", "mjd_end", "ra_deg", "dec_deg", "radius_deg", "freq_hz")


def get_data(data_id: str, *, url: str | None = None) -> dict:
    """One product's registry record and science metadata (keys `RECORD_FIELDS`).

    Raises
    ------
    UnknownDataError
        ``data_id`` is not registered.
    """
    with session_scope(url) as session:
        row = session.execute(_records_query().where(DataRegistry.data_id == data_id)).first()
        if row is None:
            raise UnknownDataError(f"no registered product with data_id {data_id!r}")
        return _record_dict(*row)


def list_data(*, data_type: str | None = None, photometry_status: str | None = None,
              status: str | None = None, limit: int | None = None, offset: int = 0,
              url: str | None = None) -> tuple[list[dict], int]:
    """Registered products, newest first, and how many match in total.

    Parameters
    ----------
    data_type : {"image", "mosaic"}, optional
    photometry_status : str, optional
        ``pending``, ``running``, ``completed``, ``failed``, or ``none`` (never requested).
    status : {"staging", "published"}, optional
        Where the product is.
    limit, offset : int
        The page of records returned (the total counts every match).
    url : str, optional
        Database URL (default from settings).

    Returns
    -------
    (list of dict, int)
        Records (keys `RECORD_FIELDS`) and the number of matching products.
    """
    conditions = []
    if data_type:
        conditions.append(DataRegistry.data_type == data_type)
    if status:
        conditions.append(DataRegistry.status == status)
    if photometry_status == "none":
        conditions.append(DataRegistry.photometry_status.is_(None))
    elif photometry_status:
        conditions.append(DataRegistry.photometry_status == photometry_status)
    with session_scope(url) as session:
        total = session.scalar(select(func.count()).select_from(DataRegistry).where(*conditions))
        rows = session.execute(_records_query().where(*conditions)
                               .order_by(DataRegistry.created_at.desc(), DataRegistry.id.desc())
                               .limit(limit).offset(offset)).all()
        return [_record_dict(*row) for row in rows], int(total)


def unlinked_images(relationship: str, *, url: str | None = None) -> list[dict]:
    """Registered images that are not the parent of any ``relationship`` link, oldest first
    (e.g. the images not yet an input of a mosaic), as records (keys `RECORD_FIELDS`).

    One query, however long the history of products and links.
    """
    linked = select(DataRelationship.parent_data_id).where(
        DataRelationship.relationship_type == relationship)
    with session_scope(url) as session:
        rows = session.execute(_records_query().where(
            DataRegistry.data_type == "image", DataRegistry.data_id.not_in(linked))
            .order_by(Product.mjd_mid, DataRegistry.id)).all()
        return [_record_dict(*row) for row in rows]


def image_times(since_mjd: float, *, url: str | None = None) -> list[tuple[float, float]]:
    """``(dec_deg, mjd_mid)`` of every registered image observed at or after ``since_mjd``."""
    with session_scope(url) as session:
        rows = session.execute(select(Product.dec_deg, Product.mjd_mid).where(
            Product.data_type == "image", Product.mjd_mid >= since_mjd,
            Product.dec_deg.is_not(None))).all()
    return [(float(dec), float(mjd)) for dec, mjd in rows]


def not_ready_reason(data_id: str, *, wait_for_photometry: bool | None = None,
                     photometry_enabled: bool | None = None,
                     url: str | None = None) -> str | None:
    """Why a product may not be finalized or published yet (None when it may; the rules of
    `finalize_data`).

    Raises
    ------
    UnknownDataError
        ``data_id`` is not registered.
    """
    with session_scope(url) as session:
        return _not_ready_reason(_record(session, data_id), _wait(wait_for_photometry),
                                 _enabled(photometry_enabled))


def photometry_latency_stats(*, recent: int = 1000, url: str | None = None) -> dict[str, float]:
    """Seconds from registration to completed photometry, over products whose photometry
    completed.

    Returns ``count`` and ``sum_s`` over all of them, and ``p50_s``, ``p90_s`` and ``max_s``
    over the ``recent`` most recently completed (NaN when there are none).
    """
    latency = DataRegistry.photometry_updated_at - DataRegistry.created_at
    completed = DataRegistry.photometry_status == "completed"
    with session_scope(url) as session:
        count, total = session.execute(select(func.count(), func.sum(latency))
                                       .where(completed)).one()
        values = session.scalars(select(latency).where(completed)
                                 .order_by(DataRegistry.photometry_updated_at.desc())
                                 .limit(recent)).all()
    recent_s = [float(v) for v in values if v is not None]
    p50 = p90 = top = math.nan
    if recent_s:
        p50, p90 = (float(q) for q in np.quantile(recent_s, [0.5, 0.9]))
        top = max(recent_s)
    return {"count": int(count), "sum_s": float(total or 0.0), "p50_s": p50, "p90_s": p90,
            "max_s": top}


def _records_query():
    return select(DataRegistry, Product).outerjoin(Product,
                                                   Product.data_id == DataRegistry.data_id)


def _record_dict(record: DataRegistry, product: Product | None) -> dict:
    out = {}
    for name in RECORD_FIELDS:
        if name == "path":
            out[name] = record.published_path or record.stage_path
        elif hasattr(DataRegistry, name):
            out[name] = getattr(record, name)
        else:
            out[name] = getattr(product, name) if product is not None else None
    return out


def confine_product(data_id: str, path: str | Path,
                    roots: Sequence[Path] | None = None) -> Path:
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


def _registered_id(path: Path, url: str | None) -> str | None:
    """The ``data_id`` of the product staged or published at ``path``, if any."""
    with session_scope(url) as session:
        return session.scalar(select(DataRegistry.data_id).where(or_(
            DataRegistry.stage_path == str(path), DataRegistry.published_path == str(path))))


def _not_ready_reason(record: DataRegistry, wait_for_photometry: bool,
                      photometry_enabled: bool) -> str | None:
    if record.qa_status == "failed":
        return "QA failed"
    if record.validation_status == "invalid":
        return "validation failed"
    if wait_for_photometry and photometry_enabled and record.photometry_status is None:
        return NEVER_REQUESTED
    if wait_for_photometry and record.photometry_status is not None \
            and record.photometry_status not in TERMINAL:
        return f"photometry is {record.photometry_status}, not yet completed or failed"
    return None


def _record(session: Session, data_id: str, *, lock: bool = False) -> DataRegistry:
    query = select(DataRegistry).where(DataRegistry.data_id == data_id)
    if lock:
        query = query.with_for_update()
    record = session.scalar(query)
    if record is None:
        raise UnknownDataError(f"no registered product with data_id {data_id!r}")
    return record


def _status_of(record: DataRegistry) -> PhotometryStatus:
    return PhotometryStatus(record.data_id, record.photometry_status, record.photometry_job_id,
                            record.photometry_error, record.photometry_n_measured,
                            record.photometry_n_failed, record.photometry_updated_at)


def _candidate_ids(data_type: str, image: Image, path: Path) -> tuple[str, str]:
    """``<type>-<observation start>-<discriminator>``, e.g. ``image-20261124T060000-3f9a1c``.

    The discriminator is 6 hex digits of a hash of the file name; should another file with the
    same name and start already hold that id, the second candidate hashes the full path.
    """
    start = "unknown-time" if image.mjd_start is None else Time(
        image.mjd_start, format="mjd", scale="utc").strftime("%Y%m%dT%H%M%S")
    return (f"{data_type}-{start}-{hashlib.sha1(path.name.encode()).hexdigest()[:6]}",
            f"{data_type}-{start}-{hashlib.sha1(str(path).encode()).hexdigest()[:12]}")
