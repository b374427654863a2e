"""``/api/variability``: variable and ESE candidates (`dsa110_contimg.photometry.candidates`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dsa110_contimg.api.deps import PageDep, SettingsDep
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.schemas import OptFloat, Page
from dsa110_contimg.photometry.candidates import list_candidates

__all__ = ["CandidateOut", "router"]

router = APIRouter(prefix="/api/variability", tags=["variability"])


class CandidateOut(BaseModel):
    """A flagged source with its metrics (normalized light curve) and review status."""

    source_id: int
    name: str
    kind: Literal["ese", "variable"] = Field(description="ese: the most significant epoch is "
                                                         "a dip; variable otherwise.")
    score: float = Field(description="Strongest criterion over its preset threshold (≥ 1).")
    status: Literal["active", "dismissed", "confirmed"]
    preset: str
    n_epochs: int
    weighted_mean_jy: OptFloat
    eta: OptFloat = Field(description="Weighted reduced χ² about the weighted mean.")
    v: OptFloat = Field(description="Modulation index (std / mean).")
    vs_max: OptFloat = Field(description="Vs of the extreme pair of fluxes.")
    m_max: OptFloat = Field(description="Fractional difference of the extreme pair.")
    deviation_sigma: OptFloat = Field(description="Leave-one-out deviation of the most "
                                                  "significant epoch (σ; negative = dip).")


@router.get("/candidates", response_model=Page[CandidateOut], summary="Variability candidates",
            responses=responses(422))
def candidates(settings: SettingsDep, page: PageDep,
               status: Annotated[Literal["active", "dismissed", "confirmed"] | None, Query(
                   description="Only candidates with this review status.")] = None,
               ) -> Page[CandidateOut]:
    """Candidates flagged by the last detection (`contimg variability detect`) or reviewed,
    highest score first."""
    rows, total = list_candidates(status=status, limit=page.limit, offset=page.offset,
                                  url=settings.database_url)
    return Page[CandidateOut](data=[CandidateOut(**r) for r in rows], count=total,
                              limit=page.limit, offset=page.offset)
