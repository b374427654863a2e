"""Registry records: a product's identity and where it is, and looking records up.

`register_data` assigns a ``data_id`` once (type + observation start + a short discriminator
from the file name, e.g. ``image-20261124T060000-3f9a1c``), returns the same id for the same
file however often it is called, and records the product's science metadata from its FITS
header. Publishing moves the file and changes its path, never its id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from astropy.time import Time
from sqlalchemy import Connection, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsa110_contimg.config import get_settings
from dsa110_contimg.data_roots import confine
from dsa110_contimg.database.models import (
    DataRegistry,
    DataRelationship,
    Product,
    unix_seconds,
)
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.errors import NotFoundError
from dsa110_contimg.imaging.fits_io import (
    Image,
    check_image,
    load_image,
    require_observation_time,
)

__all__ = [
    "DATA_TYPES",
    "RECORD_FIELDS",
    "UnknownDataError",
    "get_data",
    "image_times",
    "list_data",
    "register_data",
    "registry_record",
    "unlinked_images",
]

log = logging.getLogger(__name__)

DATA_TYPES = ("image", "mosaic")
#: Registry and product fields of `get_data` / `list_data` records (``path`` is the current
#: location: the published path once published, else the staged one; times in Unix seconds).
RECORD_FIELDS = (
    "data_id",
    "data_type",
    "status",
    "path",
    "stage_path",
    "published_path",
    "created_at",
    "published_at",
    "qa_status",
    "validation_status",
    "finalization_status",
    "auto_publish_enabled",
    "photometry_status",
    "photometry_job_id",
    "photometry_error",
    "photometry_n_measured",
    "photometry_n_failed",
    "photometry_updated_at",
    "mjd_start",
    "mjd_mid",
    "mjd_end",
    "ra_deg",
    "dec_deg",
    "radius_deg",
    "freq_hz",
)
#: Registry times, stored as UTC timestamps, given in records as Unix seconds.
_TIMES = ("created_at", "published_at", "photometry_updated_at")


class UnknownDataError(NotFoundError):
    """A ``data_id`` that is not registered."""


def register_data(
    path: str | Path,
    data_type: str = "image",
    *,
    image: Image | None = None,
    metadata: dict | None = None,
    url: str | None = None,
    roots: Sequence[Path] | None = None,
    connection: Connection | None = None,
) -> str:
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
    connection : sqlalchemy.Connection, optional
        Register inside this connection's open transaction, which its owner commits or rolls
        back (e.g. a schema upgrade's), instead of in a transaction of its own on ``url``.

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
    path = confine(Path(path).absolute(), roots or get_settings().data_roots, what=Path(path).name)
    existing = _registered_id(path, url, connection)
    if existing is not None:
        return existing
    image = image or load_image(path)
    check_image(image)
    require_observation_time(image)
    footprint = image.footprint()
    for data_id in _candidate_ids(data_type, image, path):
        now = datetime.now(UTC)
        try:
            with _scope(url, connection) as session:
                session.add(
                    DataRegistry(
                        data_type=data_type,
                        data_id=data_id,
                        base_path=str(path.parent),
                        status="staging",
                        stage_path=str(path),
                        created_at=now,
                        staged_at=now,
                        metadata_json=json.dumps(metadata) if metadata else None,
                        finalization_status="pending",
                        auto_publish_enabled=1,
                    )
                )
                session.flush()
                session.add(
                    Product(
                        data_id=data_id,
                        data_type=data_type,
                        mjd_start=image.mjd_start,
                        mjd_mid=image.mjd_mid,
                        mjd_end=image.mjd_end,
                        ra_deg=footprint.ra_deg,
                        dec_deg=footprint.dec_deg,
                        radius_deg=footprint.radius_deg,
                        beam_major_arcsec=image.beam.major_arcsec,
                        beam_minor_arcsec=image.beam.minor_arcsec,
                        beam_pa_deg=image.beam.pa_deg,
                        freq_hz=image.freq_hz,
                        pb_corrected=image.pb_corrected,
                        created_at=now,
                    )
                )
        except IntegrityError:
            # Either this file was registered concurrently, or another file has this id.
            existing = _registered_id(path, url, connection)
            if existing is not None:
                return existing
            log.info("data_id %s is taken by another file; %s gets a longer one", data_id, path)
            continue
        log.info("registered %s %s as %s", data_type, path, data_id)
        return data_id
    raise ValueError(f"{path}: every candidate data_id is taken by other files")


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
        return _record_dict(row[0], row[1])


def list_data(
    *,
    data_type: str | None = None,
    photometry_status: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    url: str | None = None,
) -> tuple[list[dict], int]:
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
        rows = session.execute(
            _records_query()
            .where(*conditions)
            .order_by(DataRegistry.created_at.desc(), DataRegistry.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return [_record_dict(row[0], row[1]) for row in rows], int(total or 0)


def unlinked_images(relationship: str, *, url: str | None = None) -> list[dict]:
    """Registered images that are not the parent of any ``relationship`` link, oldest first
    (e.g. the images not yet an input of a mosaic), as records (keys `RECORD_FIELDS`).

    One query, however long the history of products and links.
    """
    linked = select(DataRelationship.parent_data_id).where(
        DataRelationship.relationship_type == relationship
    )
    with session_scope(url) as session:
        rows = session.execute(
            _records_query()
            .where(DataRegistry.data_type == "image", DataRegistry.data_id.not_in(linked))
            .order_by(Product.mjd_mid, DataRegistry.id)
        ).all()
        return [_record_dict(row[0], row[1]) for row in rows]


def image_times(since_mjd: float, *, url: str | None = None) -> list[tuple[float, float]]:
    """``(dec_deg, mjd_mid)`` of every registered image observed at or after ``since_mjd``."""
    with session_scope(url) as session:
        rows = session.execute(
            select(Product.dec_deg, Product.mjd_mid).where(
                Product.data_type == "image",
                Product.mjd_mid >= since_mjd,
                Product.dec_deg.is_not(None),
            )
        ).all()
    return [(float(dec), float(mjd)) for dec, mjd in rows if dec is not None and mjd is not None]


def _records_query():
    return select(DataRegistry, Product).outerjoin(Product, Product.data_id == DataRegistry.data_id)


def _record_dict(record: DataRegistry, product: Product | None) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in RECORD_FIELDS:
        if name == "path":
            out[name] = record.published_path or record.stage_path
        elif name in _TIMES:
            out[name] = unix_seconds(getattr(record, name))
        elif hasattr(DataRegistry, name):
            out[name] = getattr(record, name)
        else:
            out[name] = getattr(product, name) if product is not None else None
    return out


@contextmanager
def _scope(url: str | None, connection: Connection | None) -> Iterator[Session]:
    """`session_scope` on ``url``, or a session inside ``connection``'s open transaction whose
    work is a savepoint: released on success, rolled back on an exception."""
    if connection is None:
        with session_scope(url) as session:
            yield session
        return
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session
        session.commit()


def _registered_id(path: Path, url: str | None, connection: Connection | None) -> str | None:
    """The ``data_id`` of the product staged or published at ``path``, if any."""
    with _scope(url, connection) as session:
        return session.scalar(
            select(DataRegistry.data_id).where(
                or_(DataRegistry.stage_path == str(path), DataRegistry.published_path == str(path))
            )
        )


def registry_record(session: Session, data_id: str, *, lock: bool = False) -> DataRegistry:
    """The registry row of ``data_id`` in ``session``, locked for update with ``lock``.

    Raises
    ------
    UnknownDataError
        ``data_id`` is not registered.
    """
    query = select(DataRegistry).where(DataRegistry.data_id == data_id)
    if lock:
        query = query.with_for_update()
    record = session.scalar(query)
    if record is None:
        raise UnknownDataError(f"no registered product with data_id {data_id!r}")
    return record


def _candidate_ids(data_type: str, image: Image, path: Path) -> tuple[str, str]:
    """``<type>-<observation start>-<discriminator>``, e.g. ``image-20261124T060000-3f9a1c``.

    The discriminator is 6 hex digits of a hash of the file name; should another file with the
    same name and start already hold that id, the second candidate hashes the full path.
    """
    start = (
        "unknown-time"
        if image.mjd_start is None
        else Time(image.mjd_start, format="mjd", scale="utc").strftime("%Y%m%dT%H%M%S")
    )
    return (
        f"{data_type}-{start}-{hashlib.sha1(path.name.encode()).hexdigest()[:6]}",
        f"{data_type}-{start}-{hashlib.sha1(str(path).encode()).hexdigest()[:12]}",
    )
