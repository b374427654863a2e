"""``/health`` and ``/metrics``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from dsa110_contimg.api.deps import SettingsDep
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.schemas import Health
from dsa110_contimg.database.migrate import current_revision

__all__ = ["package_version", "router"]

router = APIRouter(tags=["service"])


def package_version() -> str:
    """The installed version of the package."""
    try:
        return version("dsa110-contimg")
    except PackageNotFoundError:
        return "unknown"


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness and database check",
    responses=responses(503),
)
def health(settings: SettingsDep) -> Health:
    """``ok`` when the service runs and its database answers (503 otherwise)."""
    try:
        revision = current_revision(settings.database_url)
    except SQLAlchemyError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"database unreachable: {type(exc).__name__}"
        ) from exc
    return Health(status="ok", database="ok", revision=revision, version=package_version())


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        }
    },
)
def metrics(request: Request) -> Response:
    """Queue depth, jobs by status, photometry latency and request counts/latencies."""
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
