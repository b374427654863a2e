"""Logging configuration shared by the CLI and the services."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

__all__ = ["configure_logging"]


def configure_logging(level: str = "INFO") -> None:
    """Send package logs to stderr through Rich, at ``level``; safe to call twice."""
    root = logging.getLogger("dsa110_contimg")
    root.setLevel(level.upper())
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        handler = RichHandler(
            console=Console(stderr=True), show_path=False, rich_tracebacks=False, markup=False
        )
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.addHandler(handler)
