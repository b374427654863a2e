"""The one entry point through which new images and mosaics get their photometry queued.

Every trigger (the streaming converter after imaging, the mosaic orchestrator after
mosaicking, the API, the reconciliation sweep) registers the product and calls
`trigger_photometry` here; this module decides the parameters (from settings unless given) and
leaves idempotency to `jobs.service.create_batch_photometry_job`, so asking twice queues once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.registry import get_photometry_status, register_data
from dsa110_contimg.imaging.fits_io import Image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import PRIORITY_LIVE, create_batch_photometry_job

__all__ = [
    "request_missing_photometry",
    "trigger_photometry",
    "trigger_photometry_for_image",
    "trigger_photometry_for_mosaic",
]

log = logging.getLogger(__name__)


def trigger_photometry(
    path: str | Path,
    data_type: str = "image",
    sources: Table | Sequence[int] | None = None,
    *,
    params: PhotometryParams | None = None,
    image: Image | None = None,
    metadata: dict | None = None,
    url: str | None = None,
) -> tuple[str, int]:
    """Register a product (idempotent) and queue its forced photometry.

    Parameters
    ----------
    path : str or Path
        The FITS image or mosaic.
    data_type : {"image", "mosaic"}
    sources : Table or sequence of int, optional
        Measure exactly these catalogue sources: a table from
        `dsa110_contimg.photometry.sources.query_sources_for_image` (its ``in_field`` rows) or
        source ids. By default the worker cone-searches the configured catalogue over the
        product's footprint, which also fits the known neighbours of sources near its edge.
    params : PhotometryParams, optional
        Default: the ``photometry`` settings.
    image : Image, optional
        The already loaded image (spares reading its header again at registration).
    metadata : dict, optional
        Stored with the registry record (e.g. ``{"noise_map": ...}`` for a mosaic).
    url : str, optional
        Database URL.

    Returns
    -------
    (str, int)
        The product's ``data_id`` and the photometry job id. A product whose photometry was
        already requested is not queued again: its existing job id is returned.
    """
    params = params or PhotometryParams.from_settings(get_settings())
    data_id = register_data(path, data_type, image=image, metadata=metadata, url=url)
    status = get_photometry_status(data_id, url=url)
    if status.status is not None and status.job_id is not None:
        # Asked before (e.g. by a trigger that was interrupted and restarted): never queue
        # twice. Measuring again is a reprocess (`jobs.service.reprocess`, reconciliation).
        log.info("%s: photometry already %s in job %d", data_id, status.status, status.job_id)
        return data_id, status.job_id
    job_id = create_batch_photometry_job(
        [data_id], params=params, source_ids=_source_ids(sources), priority=PRIORITY_LIVE, url=url
    )
    log.info("%s: photometry queued in job %d (catalogue %s)", data_id, job_id, params.catalog)
    return data_id, job_id


def trigger_photometry_for_image(
    image_path: str | Path,
    sources: Table | Sequence[int] | None = None,
    *,
    params: PhotometryParams | None = None,
    url: str | None = None,
) -> int:
    """Register an image and queue its photometry; returns the job id (see `trigger_photometry`)."""
    return trigger_photometry(image_path, "image", sources, params=params, url=url)[1]


def trigger_photometry_for_mosaic(
    mosaic_path: str | Path,
    sources: Table | Sequence[int] | None = None,
    *,
    params: PhotometryParams | None = None,
    metadata: dict | None = None,
    url: str | None = None,
) -> int:
    """Register a mosaic and queue its photometry; returns the job id (see `trigger_photometry`)."""
    return trigger_photometry(
        mosaic_path, "mosaic", sources, params=params, metadata=metadata, url=url
    )[1]


def request_missing_photometry(
    data_id: str, *, params: PhotometryParams | None = None, url: str | None = None
) -> int | None:
    """Queue the photometry of a registered product that never had it requested.

    Finalizing and publishing wait for a product's photometry
    (`dsa110_contimg.database.registry.finalize_data`); a product registered without it
    (photometry disabled when it arrived, registered by hand) is queued here, as a triggered
    product would have been, instead of leaving without photometry.

    Parameters
    ----------
    data_id : str
        A registered product.
    params : PhotometryParams, optional
        Default: the ``photometry`` settings.
    url : str, optional
        Database URL.

    Returns
    -------
    int or None
        The job now measuring it, or None when its photometry had been requested before.

    Raises
    ------
    dsa110_contimg.database.registry.UnknownDataError
        ``data_id`` is not registered.
    """
    if get_photometry_status(data_id, url=url).status is not None:
        return None
    params = params or PhotometryParams.from_settings(get_settings())
    job_id = create_batch_photometry_job([data_id], params=params, priority=PRIORITY_LIVE, url=url)
    log.warning(
        "%s: photometry was never requested; queued in job %d (the product is "
        "finalized and published once it has completed or failed)",
        data_id,
        job_id,
    )
    return job_id


def _source_ids(sources: Table | Sequence[int] | None) -> list[int] | None:
    if sources is None:
        return None
    if isinstance(sources, Table):
        in_field = (
            sources[np.asarray(sources["in_field"], dtype=bool)]
            if "in_field" in sources.colnames
            else sources
        )
        return [int(s) for s in in_field["source_id"]]
    return [int(s) for s in sources]
