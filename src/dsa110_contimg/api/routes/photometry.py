"""``/api/photometry``: synchronous forced photometry and normalization.

These endpoints compute and return; they store nothing (batch jobs store measurements).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Annotated

import numpy as np
from astropy.table import Table
from fastapi import APIRouter, Depends, HTTPException, status

from dsa110_contimg.api.budget import cancel_event, refuse_large_image
from dsa110_contimg.api.deps import PageDep, SettingsDep, confined_file
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.schemas import (
    LegacyMeasureResult,
    MeasureBatchRequest,
    MeasureBatchResponse,
    Measurement,
    MeasureRequest,
    MeasureResponse,
    NormalizedMeasurement,
    NormalizeRequest,
    NormalizeResponse,
)
from dsa110_contimg.api.tables import records
from dsa110_contimg.catalog.sources import resolve_source
from dsa110_contimg.config import Settings
from dsa110_contimg.data_roots import display_path
from dsa110_contimg.database.products import light_curve, photometry_count, photometry_for_product
from dsa110_contimg.database.registry import confine_product, get_data
from dsa110_contimg.imaging.fits_io import Image, load_image
from dsa110_contimg.imaging.primary_beam import PrimaryBeam
from dsa110_contimg.photometry.forced import MEASUREMENT_COLUMNS, measure_forced_peak
from dsa110_contimg.photometry.sources import measure_targets, select_targets
from dsa110_contimg.variability.corrections import get_image_correction
from dsa110_contimg.variability.normalize import normalize_measurement

__all__ = ["router"]

router = APIRouter(prefix="/api/photometry", tags=["photometry"])

#: Set when the request passed api.request_timeout_s: the measurement stops (`cancel_event`).
CancelDep = Annotated[threading.Event, Depends(cancel_event)]


def _image(request: MeasureRequest | MeasureBatchRequest, settings: Settings) -> Image:
    """Load the requested image: a confined path, or a registered product's file."""
    if request.image is not None:
        path = confined_file(settings, request.image)
    else:
        assert request.data_id is not None  # the request validates: image or data_id
        record = get_data(request.data_id, url=settings.database_url)
        path = confine_product(request.data_id, record["path"], settings.data_roots)
    refuse_large_image(path, settings.api.max_sync_image_pixels)
    return load_image(path, beam=request.beam.to_beam() if request.beam else None)


@router.post(
    "/measure",
    response_model=MeasureResponse,
    summary="Measure one position",
    responses=responses(400, 403, 404, 422),
)
def measure(request: MeasureRequest, settings: SettingsDep, cancel: CancelDep) -> MeasureResponse:
    """Forced photometry of one position on one image (an isolated beam fit).

    Returns the peak, its error, the local rms, S/N, χ², flags and method. A position that
    cannot be measured (off the image, blanked) gets a null peak and a flag, not an error.

    Deprecated original DSA-110 shape, still accepted: ``fits_path`` for ``image``; the answer
    also carries ``result`` with the old field names (``local_rms_jy``, ``success``,
    ``error_message``).
    """
    image = _image(request, settings)
    result = measure_forced_peak(
        image,
        request.ra_deg,
        request.dec_deg,
        options=settings.photometry.fitting,
        primary_beam=PrimaryBeam.from_settings(settings.primary_beam),
        cancel=cancel,
    )
    measured = Measurement.model_validate(dataclasses.asdict(result))
    return MeasureResponse(
        **measured.model_dump(), result=LegacyMeasureResult.from_measurement(measured)
    )


@router.post(
    "/measure-batch",
    response_model=MeasureBatchResponse,
    summary="Measure many positions synchronously",
    responses=responses(400, 403, 404, 422),
)
def measure_batch(
    request: MeasureBatchRequest, settings: SettingsDep, cancel: CancelDep
) -> MeasureBatchResponse:
    """Forced photometry of listed positions (results in input order), or of a catalogue's
    sources in the image field (nearest the field centre first), fitted jointly.

    At most ``api.max_sync_positions`` targets (default 1000); more are refused with 422 (use
    ``POST /api/batch/photometry``).

    Deprecated original DSA-110 shape, still accepted: ``fits_path`` + ``coordinates`` (a list
    of ``{ra_deg, dec_deg}``) for ``image`` + ``positions``.
    """
    image = _image(request, settings)
    limit = settings.api.max_sync_positions
    options = settings.photometry.fitting
    positions = None
    if request.positions is not None:
        positions = Table(
            {
                "ra_deg": [p.ra_deg for p in request.positions],
                "dec_deg": [p.dec_deg for p in request.positions],
                "name": [p.name or f"pos{i}" for i, p in enumerate(request.positions)],
                "source_id": [p.source_id or -1 for p in request.positions],
            }
        )
    targets = select_targets(
        image,
        positions=positions,
        catalog=request.catalog if positions is None else None,
        radius_deg=request.radius_deg,
        options=options,
        url=settings.database_url,
    )
    if len(targets) > limit:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{len(targets)} targets exceed the synchronous limit of {limit} "
            "(api.max_sync_positions); submit a batch job instead",
        )
    table = measure_targets(
        image,
        targets,
        options=options,
        primary_beam=PrimaryBeam.from_settings(settings.primary_beam),
        cancel=cancel,
    )
    method = table.meta["method"]
    rows = [Measurement(**row, method=method) for row in records(table, MEASUREMENT_COLUMNS)]
    return MeasureBatchResponse(
        image=display_path(image.path, settings.data_roots),
        data_id=request.data_id,
        mjd_mid=table.meta.get("mjd_mid"),
        error_scale=table.meta.get("error_scale"),
        error_calibration=str(table.meta.get("error_calibration")),
        count=len(rows),
        measurements=rows,
    )


@router.post(
    "/normalize",
    response_model=NormalizeResponse,
    summary="Normalize stored measurements",
    responses=responses(400, 404, 409, 422),
)
def normalize(request: NormalizeRequest, settings: SettingsDep, page: PageDep) -> NormalizeResponse:
    """Divide a product's stored measurement (``source_id``) or all its measurements (paged)
    by a correction factor: the product's stored factor, or ``factor`` ± ``factor_err`` from
    the request. A product without a stored factor gives 409 unless one is given.

    Normalized flux ``S/C`` with error ``√((σ/C)² + (S σ_C/C²)²)``.
    """
    url = settings.database_url
    get_data(request.data_id, url=url)  # 404 for an unknown product
    if request.factor is not None and request.factor_err is not None:  # given together
        factor, factor_err, origin, n_refs, ref_ids = (
            request.factor,
            request.factor_err,
            "request",
            None,
            None,
        )
    else:
        stored = get_image_correction(request.data_id, url=url)
        if stored is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"product {request.data_id} has no stored correction factor (not yet "
                "normalized, or too few references); pass 'factor' and 'factor_err'",
            )
        factor, factor_err, origin = stored.value, stored.error, "stored"
        n_refs, ref_ids = stored.n_references, list(stored.reference_source_ids)
    if request.source_id is not None:
        rows, total = _one_measurement(request.data_id, request.source_id, url), 1
        rows = rows[page.offset : page.offset + page.limit]
    else:
        table = photometry_for_product(
            request.data_id, limit=page.limit, offset=page.offset, url=url
        )
        rows, total = records(table), photometry_count(request.data_id, url=url)
    peaks = np.array([np.nan if r["peak_jyb"] is None else r["peak_jyb"] for r in rows])
    errors = np.array([np.nan if r["peak_err_jyb"] is None else r["peak_err_jyb"] for r in rows])
    flux, flux_err = normalize_measurement(peaks, errors, factor, factor_err)
    data = [
        NormalizedMeasurement(
            source_id=r["source_id"],
            name=r["name"],
            mjd_mid=r["mjd_mid"],
            peak_jyb=r["peak_jyb"],
            peak_err_jyb=r["peak_err_jyb"],
            peak_norm_jyb=f,
            peak_norm_err_jyb=e,
            flags=r["flags"],
        )
        for r, f, e in zip(rows, np.atleast_1d(flux).tolist(), np.atleast_1d(flux_err).tolist())
    ]
    return NormalizeResponse(
        data=data,
        count=total,
        limit=page.limit,
        offset=page.offset,
        data_id=request.data_id,
        factor=factor,
        factor_err=factor_err,
        factor_source=origin,
        n_references=n_refs,
        reference_source_ids=ref_ids,
    )


def _one_measurement(data_id: str, source_id: int, url: str) -> list[dict]:
    """The current measurement of one source on one product (404 when there is none)."""
    _, name = resolve_source(source_id, url=url)  # unknown: NotFoundError, 404
    curve = light_curve(source_id, url=url)
    point = [r for r in records(curve) if r["data_id"] == data_id]
    if not point:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"source {source_id} has no measurement on {data_id}"
        )
    p = point[0]
    return [
        {
            "source_id": source_id,
            "name": name,
            "mjd_mid": p["mjd_mid"],
            "peak_jyb": p["peak_jyb"],
            "peak_err_jyb": p["peak_err_jyb"],
            "flags": p["flags"],
        }
    ]
