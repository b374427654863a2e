"""``contimg serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import typer

__all__ = ["serve"]


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default: api.host, 127.0.0.1)."),
    port: int | None = typer.Option(None, min=1, max=65535, help="Port (default: api.port, 8000)."),
) -> None:
    """Serve the HTTP API (OpenAPI document at /docs and /openapi.json).

    Without an API token (api.token, CONTIMG_API__TOKEN) the write endpoints are open, so the
    server then refuses any address other than a loopback one. The fitting kernels are made
    ready (compiled, or loaded from numba's cache) before the port is opened, so the first
    measurement is not charged for them.
    """
    import uvicorn

    from dsa110_contimg.api import create_app
    from dsa110_contimg.api.security import check_bind
    from dsa110_contimg.config import get_settings

    settings = get_settings()
    host = host or settings.api.host
    port = port or settings.api.port
    check_bind(settings.api, host)
    uvicorn.run(create_app(settings, warm_kernels=True), host=host, port=port, log_level="info")
