"""Endpoints that only the original DSA-110 clients use (deprecated request shapes).

New clients use ``POST /api/batch/photometry`` and ``GET /api/variability/candidates``.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from dsa110_contimg.api.deps import PageDep, SettingsDep
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.routes.batch import create_photometry_job
from dsa110_contimg.api.schemas import BatchPhotometryRequest, JobDetail, OptFloat, UtcTime
from dsa110_contimg.api.security import TokenDep
from dsa110_contimg.api.tables import records
from dsa110_contimg.database.products import light_curve
from dsa110_contimg.variability.candidates import list_candidates

__all__ = ["BatchJobCreateRequest", "EseCandidate", "EseCandidatesResponse", "router"]

router = APIRouter(prefix="/api", tags=["legacy DSA-110 shapes (deprecated)"])


class BatchJobCreateRequest(BaseModel):
    """The original DSA-110 job request: a job type and its parameters."""

    model_config = ConfigDict(extra="forbid")

    job_type: Literal["photometry"] = Field(description="Only 'photometry' jobs exist here.")
    params: BatchPhotometryRequest = Field(
        description="As the body of POST /api/batch/photometry (old or new shape)."
    )


@router.post(
    "/batch",
    response_model=JobDetail,
    status_code=status.HTTP_201_CREATED,
    summary="Create a job (original DSA-110 shape)",
    deprecated=True,
    dependencies=[TokenDep],
    responses=responses(400, 401, 403, 404, 422),
)
def create_job(
    request: BatchJobCreateRequest, settings: SettingsDep, page: PageDep, response: Response
) -> JobDetail:
    """``{"job_type": "photometry", "params": {...}}``: the same job as
    ``POST /api/batch/photometry`` with ``params`` as its body."""
    return create_photometry_job(request.params, settings, page, response)


class EseCandidate(BaseModel):
    """An ESE candidate under the original DSA-110 field names."""

    id: int = Field(description="Catalogue source id.")
    source_id: str = Field(description="The source's catalogue name.")
    ra_deg: float
    dec_deg: float
    first_detection_at: UtcTime | None
    last_detection_at: UtcTime | None
    max_sigma_dev: OptFloat = Field(description="|deviation| of the deepest epoch, σ.")
    current_flux_jy: OptFloat = Field(
        description="Latest normalized flux (raw when the latest product is not normalized)."
    )
    baseline_flux_jy: OptFloat = Field(description="Weighted mean normalized flux.")
    status: str = Field(description="active, dismissed or confirmed.")
    notes: str | None = None


class EseCandidatesResponse(BaseModel):
    """The original DSA-110 list shape."""

    candidates: list[EseCandidate]
    total: int = Field(description="Candidates matching (all pages).")


@router.get(
    "/ese/candidates",
    response_model=EseCandidatesResponse,
    deprecated=True,
    summary="ESE candidates (original DSA-110 shape)",
    responses=responses(422),
)
def ese_candidates(
    settings: SettingsDep,
    page: PageDep,
    min_sigma: Annotated[
        float,
        Query(
            ge=0,
            le=1e6,
            allow_inf_nan=False,
            description="Smallest |deviation| of the deepest epoch, σ.",
        ),
    ] = 5.0,
) -> EseCandidatesResponse:
    """Candidates of kind ``ese`` (a dip), highest score first. New clients use
    ``GET /api/variability/candidates?kind=ese``."""
    url = settings.database_url
    rows, total = list_candidates(
        kind="ese",
        min_abs_deviation=min_sigma,
        limit=page.limit,
        offset=page.offset,
        with_position=True,
        url=url,
    )
    return EseCandidatesResponse(candidates=[_ese(row, url) for row in rows], total=total)


def _ese(row: dict, url: str) -> EseCandidate:
    points = records(light_curve(row["source_id"], url=url)[-1:])
    current = None
    if points:
        current = points[0]["peak_norm_jyb"]
        if current is None or not math.isfinite(current):
            current = points[0]["peak_jyb"]
    deviation = row["deviation_sigma"]
    return EseCandidate(
        id=row["source_id"],
        source_id=row["name"],
        ra_deg=row["ra_deg"],
        dec_deg=row["dec_deg"],
        first_detection_at=row["detected_at"],
        last_detection_at=row["updated_at"],
        max_sigma_dev=None if deviation is None else abs(deviation),
        current_flux_jy=current,
        baseline_flux_jy=row["weighted_mean_jy"],
        status=row["status"],
    )
