"""``/api/variability``: variable and ESE candidates (`dsa110_contimg.variability.candidates`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from dsa110_contimg.api.deps import PageDep, SettingsDep
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.schemas import MAX_ID, OptFloat, Page
from dsa110_contimg.api.security import TokenDep
from dsa110_contimg.variability.candidates import (
    CandidateOrder,
    UnknownCandidateError,
    list_candidates,
    set_candidate_status,
)

__all__ = ["CandidateOut", "CandidateStatusIn", "router"]

ReviewStatus = Literal["active", "dismissed", "confirmed"]

router = APIRouter(prefix="/api/variability", tags=["variability"])


class CandidateOut(BaseModel):
    """A flagged source with its metrics (normalized light curve) and review status."""

    source_id: int
    name: str
    kind: Literal["ese", "variable"] = Field(
        description="ese: the most significant epoch is a dip; variable otherwise."
    )
    score: float = Field(description="Strongest criterion over its preset threshold (≥ 1).")
    status: Literal["active", "dismissed", "confirmed"]
    preset: str
    n_epochs: int
    weighted_mean_jy: OptFloat
    eta: OptFloat = Field(description="Weighted reduced χ² about the weighted mean.")
    v: OptFloat = Field(description="Modulation index (std / mean).")
    vs_max: OptFloat = Field(description="Vs of the extreme pair of fluxes.")
    m_max: OptFloat = Field(description="Fractional difference of the extreme pair.")
    deviation_sigma: OptFloat = Field(
        description="Leave-one-out deviation of the most significant epoch (σ; negative = dip)."
    )


@router.get(
    "/candidates",
    response_model=Page[CandidateOut],
    summary="Variability candidates",
    responses=responses(422),
)
def candidates(
    settings: SettingsDep,
    page: PageDep,
    status: Annotated[
        ReviewStatus | None, Query(description="Only candidates with this review status.")
    ] = None,
    kind: Annotated[
        Literal["ese", "variable"] | None, Query(description="Only candidates of this kind.")
    ] = None,
    order: Annotated[
        CandidateOrder, Query(description="Sort key (then score, highest first).")
    ] = "score",
    descending: Annotated[bool, Query(description="Sort key descending.")] = True,
) -> Page[CandidateOut]:
    """Candidates flagged by the last detection (`contimg variability detect`) or reviewed,
    highest score first (or by ``order``)."""
    rows, total = list_candidates(
        status=status,
        kind=kind,
        order=order,
        descending=descending,
        limit=page.limit,
        offset=page.offset,
        url=settings.database_url,
    )
    return Page[CandidateOut](
        data=[CandidateOut(**r) for r in rows], count=total, limit=page.limit, offset=page.offset
    )


class CandidateStatusIn(BaseModel):
    """A review decision."""

    model_config = ConfigDict(extra="forbid")

    status: ReviewStatus


@router.post(
    "/candidates/{source_id}/status",
    response_model=CandidateOut,
    summary="Confirm or dismiss a candidate",
    dependencies=[TokenDep],
    responses=responses(400, 401, 404, 422),
)
def candidate_status(
    source_id: Annotated[int, Path(ge=1, le=MAX_ID, description="Catalogue source id.")],
    decision: CandidateStatusIn,
    settings: SettingsDep,
) -> CandidateOut:
    """Record a review decision (``confirmed``, ``dismissed``, or back to ``active``); later
    detections keep it."""
    url = settings.database_url
    try:
        set_candidate_status(source_id, decision.status, url=url)
    except UnknownCandidateError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    rows, _ = list_candidates(source_id=source_id, url=url)
    return CandidateOut(**rows[0])
