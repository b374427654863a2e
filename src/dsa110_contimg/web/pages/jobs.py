"""``/jobs``: batch jobs with their progress, items and errors; cancelling (token)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from dsa110_contimg.api.deps import SettingsDep
from dsa110_contimg.errors import NotFoundError
from dsa110_contimg.jobs.service import get_job, job_counts, list_jobs
from dsa110_contimg.web.pages.common import PAGE_SIZES, PagerDep, not_found
from dsa110_contimg.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
JobStatus = Literal[
    "", "pending", "running", "completed", "completed_with_errors", "failed", "cancelled"
]


@router.get("/jobs", response_class=HTMLResponse)
def jobs(
    request: Request,
    settings: SettingsDep,
    page: PagerDep,
    status: Annotated[JobStatus, Query()] = "",
) -> HTMLResponse:
    """Jobs, newest first, with counts by status."""
    url = settings.database_url
    counts = job_counts(url=url)
    total = counts.get(status, 0) if status else sum(counts.values())
    found = list_jobs(status=status or None, limit=page.limit, offset=page.offset, url=url)
    return render(
        request,
        "jobs.html",
        {
            "title": "Jobs",
            "nav": "jobs",
            "jobs": found,
            "counts": counts,
            "pages": page.links(request, total),
            "sizes": PAGE_SIZES,
            "limit": page.limit,
            "status": status,
        },
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job(request: Request, job_id: int, settings: SettingsDep, page: PagerDep) -> HTMLResponse:
    """One job: progress, parameters and a page of its items with their errors."""
    try:
        found = get_job(job_id, url=settings.database_url)
    except NotFoundError as exc:
        return not_found(request, str(exc))
    return render(
        request,
        "job.html",
        {
            "title": f"Job {job_id}",
            "nav": "jobs",
            "job": found,
            "items": found.items[page.offset : page.offset + page.limit],
            "pages": page.links(request, len(found.items)),
            "sizes": PAGE_SIZES,
            "limit": page.limit,
        },
    )
