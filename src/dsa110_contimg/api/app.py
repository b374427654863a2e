"""The FastAPI application: routers, error handling, metrics, start-up.

Start it with ``contimg serve`` (uvicorn), or build it with `create_app` for tests and other
servers. The database schema is upgraded at start-up, as by every service.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from dsa110_contimg.api.budget import BUDGET_RESPONSES, MEASURE_PREFIX, MeasurementBudget
from dsa110_contimg.api.errors import install_handlers
from dsa110_contimg.api.limits import BodySizeLimit
from dsa110_contimg.api.metrics import install_metrics
from dsa110_contimg.api.routes import (
    batch,
    data,
    health,
    legacy,
    photometry,
    sources,
    variability,
)
from dsa110_contimg.api.warmup import warm_up_measurements
from dsa110_contimg.config import Settings, get_settings
from dsa110_contimg.database.migrate import upgrade

__all__ = ["ROUTERS", "create_app"]

log = logging.getLogger(__name__)

#: The routers of the API, in documentation order (adding an area is one entry here).
ROUTERS = (
    health.router,
    photometry.router,
    batch.router,
    data.router,
    sources.router,
    variability.router,
    legacy.router,
)

_DESCRIPTION = """\
Forced photometry, batch photometry jobs, the data registry and light curves of the DSA-110
continuum imaging pipeline.

* **Paths** in requests must lie inside the configured data roots (``data_roots``,
  ``CONTIMG_DATA_ROOTS``) after resolving ``..`` and symlinks; anything else is refused (403).
  Answers name files relative to the data root that holds them.
* **Write endpoints** (creating/cancelling jobs, finalizing, publishing) need
  ``Authorization: Bearer <token>`` when ``api.token`` is configured (401 otherwise).
* **Lists** are paged with ``limit`` and ``offset`` and return ``count`` (the total).
* **Errors** have a ``detail`` message: 400 a body that is not JSON, 404 unknown id, 409 state
  conflict, 413 a body over ``api.max_body_bytes``, 422 invalid request, unreadable image or
  not an image (pixels all blank, zero or constant), 503 over a budget (below) or the database
  unreachable.
* **Limits**: request bodies at most ``api.max_body_bytes`` (1 MiB); synchronous measurements
  at most ``api.max_sync_positions`` (1000) positions on an image of at most
  ``api.max_sync_image_pixels`` (8192²) pixels; a beam's minor axis at least 0.5 pixel and its
  major axis at most a quarter of the image's smaller side (422 otherwise).
* **Budgets of synchronous measurements** (``POST /api/photometry/…``, 503 with the reason
  beyond them): ``api.max_concurrent_measurements`` (2) at once, each waiting at most
  ``api.queue_timeout_s`` (10 s) for its turn; admitted only while the server's memory is
  below ``api.memory_budget_bytes`` (1.5 GiB); answered within ``api.request_timeout_s``
  (30 s). Larger work goes through ``POST /api/batch/photometry``.
"""


def create_app(settings: Settings | None = None, *, warm_kernels: bool = False) -> FastAPI:
    """Build the API application.

    Parameters
    ----------
    settings : Settings, optional
        Database, data roots, photometry and API settings (default: `get_settings()`).
    warm_kernels : bool
        Make the fitting kernels ready while the application starts, before it answers any
        request (`dsa110_contimg.api.warmup`; ``contimg serve`` does).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(upgrade, settings.database_url)
        if warm_kernels:
            seconds = await run_in_threadpool(warm_up_measurements, settings)
            log.info("fitting kernels ready in %.1f s", seconds)
        if settings.api.token is None:
            log.warning(
                "API running without a token: write endpoints (jobs, finalize, "
                "publish) are open to anyone who can reach this server; set api.token "
                "(CONTIMG_API__TOKEN) to require one"
            )
        log.info("API data roots: %s", ", ".join(str(r) for r in settings.data_roots))
        yield

    app = FastAPI(
        title="dsa110-contimg API",
        version=health.package_version(),
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = install_metrics(app, settings.database_url)
    app.add_middleware(MeasurementBudget, settings=settings.api)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)  # outermost
    install_handlers(app)
    for router in ROUTERS:
        app.include_router(
            router, responses=BUDGET_RESPONSES if router.prefix + "/" == MEASURE_PREFIX else None
        )
    # Imported here: the pages use the API's dependencies (dsa110_contimg.api.deps), so a
    # module-level import would be circular when dsa110_contimg.web is imported first.
    from dsa110_contimg.web import install_web

    install_web(app)
    return app
