"""Mounting the pages and their static assets on the application."""

from __future__ import annotations

from pathlib import Path

from bokeh.util.paths import bokehjs_path
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from dsa110_contimg.web.pages import candidates, jobs, overview, products, sources

__all__ = ["PAGE_ROUTERS", "install_web"]

#: The page routers (not part of the OpenAPI document).
PAGE_ROUTERS = (overview.router, products.router, sources.router, candidates.router, jobs.router)
_STATIC = Path(__file__).parent / "static"


def install_web(app: FastAPI) -> None:
    """Add the pages at ``/`` and their assets under ``/static`` (``/static/bokeh`` is the
    BokehJS of the installed bokeh package, so its version always matches)."""
    app.mount("/static/bokeh", StaticFiles(directory=bokehjs_path()), name="bokehjs")
    app.mount("/static/app", StaticFiles(directory=_STATIC), name="web-static")
    for router in PAGE_ROUTERS:
        app.include_router(router)
