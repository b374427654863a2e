"""The Jinja2 environment of the pages: autoescaping everywhere, and display filters."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from astropy.time import Time
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

__all__ = ["TEMPLATES", "fmt_mjd", "fmt_num", "fmt_unix", "render"]


def fmt_mjd(value: float | None) -> str:
    """An MJD as a UTC calendar time (``2026-11-24 06:02:30``); ``–`` when unknown.

    Examples
    --------
    >>> fmt_mjd(61000.5)
    '2025-11-21 12:00:00'
    >>> fmt_mjd(None)
    '–'
    """
    if value is None or not math.isfinite(value):
        return "–"
    return Time(value, format="mjd", scale="utc").strftime("%Y-%m-%d %H:%M:%S")


def fmt_unix(value: float | datetime | None) -> str:
    """A Unix time (or a datetime) as UTC ``YYYY-MM-DD HH:MM:SS``; ``–`` when unknown.

    Examples
    --------
    >>> fmt_unix(0)
    '1970-01-01 00:00:00'
    """
    if value is None:
        return "–"
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif math.isfinite(value):
        stamp = datetime.fromtimestamp(value, tz=UTC)
    else:
        return "–"
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_num(value: Any, spec: str = ".4g") -> str:
    """A number with ``spec``; ``–`` for None and non-finite values.

    Examples
    --------
    >>> fmt_num(0.012345, ".3f"), fmt_num(float("nan")), fmt_num(None)
    ('0.012', '–', '–')
    """
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return format(number, spec) if math.isfinite(number) else "–"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(mjd=fmt_mjd, unix=fmt_unix, num=fmt_num)
    return env


#: The pages' templates (autoescaped: catalogue names and error messages are data).
TEMPLATES = Jinja2Templates(env=_environment())


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The template ``name`` rendered with ``context`` (plus the request)."""
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
