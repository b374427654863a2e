"""The HTTP API (FastAPI): photometry, batch jobs, the data registry and light curves."""

from dsa110_contimg.api.app import create_app

__all__ = ["create_app"]
