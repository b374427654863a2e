"""``/candidates``: variability and ESE candidates to review (confirm / dismiss)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from dsa110_contimg.api.deps import SettingsDep
from dsa110_contimg.variability.candidates import CandidateOrder, list_candidates
from dsa110_contimg.web.pages.common import PAGE_SIZES, PagerDep
from dsa110_contimg.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/candidates", response_class=HTMLResponse)
def candidates(
    request: Request,
    settings: SettingsDep,
    page: PagerDep,
    status: Annotated[Literal["", "active", "dismissed", "confirmed"], Query()] = "",
    kind: Annotated[Literal["", "ese", "variable"], Query()] = "",
    order: Annotated[CandidateOrder, Query()] = "score",
    direction: Annotated[Literal["desc", "asc"], Query()] = "desc",
) -> HTMLResponse:
    """Candidates by score (or kind, name, epochs, deviation), filtered by review status and
    kind; each row can be confirmed or dismissed (with the API token when one is set)."""
    rows, total = list_candidates(
        status=status or None,
        kind=kind or None,
        order=order,
        descending=direction == "desc",
        limit=page.limit,
        offset=page.offset,
        url=settings.database_url,
    )
    return render(
        request,
        "candidates.html",
        {
            "title": "Candidates",
            "nav": "candidates",
            "rows": rows,
            "pages": page.links(request, total),
            "sizes": PAGE_SIZES,
            "limit": page.limit,
            "filters": {"status": status, "kind": kind, "order": order, "direction": direction},
        },
    )
