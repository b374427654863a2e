"""``/``: the pipeline at a glance, refreshing itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from dsa110_contimg.api.deps import SettingsDep
from dsa110_contimg.config import Settings
from dsa110_contimg.database.registry import list_data, photometry_latency_stats
from dsa110_contimg.jobs.service import item_counts, list_jobs
from dsa110_contimg.web import queries
from dsa110_contimg.web.plots import STATUS_COLOURS, status_plot
from dsa110_contimg.web.templating import render

__all__ = ["REFRESH_S", "router"]

router = APIRouter(include_in_schema=False)

#: How often the overview reloads its figures, seconds.
REFRESH_S = 15


def _live(settings: Settings) -> dict:
    """Everything the refreshing part of the overview shows."""
    url = settings.database_url
    counts = queries.status_counts(url=url)
    failed_products, n_failed = list_data(photometry_status="failed", limit=10, url=url)
    return {
        "counts": counts,
        "statuses": queries.STATUSES,
        "colours": STATUS_COLOURS,
        "totals": {s: sum(c.get(s, 0) for c in counts.values()) for s in queries.STATUSES},
        "items": item_counts(url=url),
        "running_jobs": list_jobs(status="running", limit=20, url=url),
        "pending_jobs": list_jobs(status="pending", limit=20, url=url),
        "failed_products": failed_products,
        "n_failed_products": n_failed,
        "failed_items": queries.failed_items(url=url),
        "failed_observations": queries.failed_observations(settings.state_dir),
        "latency": photometry_latency_stats(url=url),
        "last": queries.last_product(url=url),
        "refresh_s": REFRESH_S,
    }


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    settings: SettingsDep,
    refresh: Annotated[int, Query(ge=1, le=3600)] = REFRESH_S,
) -> HTMLResponse:
    """Products by photometry status (and per day), queue, running jobs, recent failures
    with their reasons, latency and the last image; the figures reload every ``refresh``
    seconds."""
    plot = status_plot(queries.status_by_day(url=settings.database_url))
    return render(
        request,
        "overview.html",
        {
            **_live(settings),
            "plot": plot,
            "refresh_s": refresh,
            "title": "Overview",
            "nav": "overview",
        },
    )


@router.get("/overview/live", response_class=HTMLResponse)
def overview_live(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The overview's figures alone (the page fetches them every `REFRESH_S` seconds)."""
    return render(request, "_overview_live.html", _live(settings))
