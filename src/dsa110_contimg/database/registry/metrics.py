"""Figures over the registry that operators watch (image-to-photometry latency)."""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import ColumnElement, Float, cast, func, select
from sqlalchemy.orm import InstrumentedAttribute

from dsa110_contimg.database.models import DataRegistry
from dsa110_contimg.database.session import session_scope

__all__ = ["photometry_latency_stats"]


def photometry_latency_stats(*, recent: int = 1000, url: str | None = None) -> dict[str, float]:
    """Seconds from registration to completed photometry, over products whose photometry
    completed.

    Returns ``count`` and ``sum_s`` over all of them, and ``p50_s``, ``p90_s`` and ``max_s``
    over the ``recent`` most recently completed (NaN when there are none).
    """
    completed = DataRegistry.photometry_status == "completed"
    with session_scope(url) as session:
        latency = _seconds_between(
            DataRegistry.photometry_updated_at,
            DataRegistry.created_at,
            session.get_bind().dialect.name,
        )
        count, total = session.execute(
            select(func.count(), func.sum(latency)).where(completed)
        ).one()
        values = session.scalars(
            select(latency)
            .where(completed)
            .order_by(DataRegistry.photometry_updated_at.desc())
            .limit(recent)
        ).all()
    recent_s = [float(v) for v in values if v is not None]
    p50 = p90 = top = math.nan
    if recent_s:
        p50, p90 = (float(q) for q in np.quantile(recent_s, [0.5, 0.9]))
        top = max(recent_s)
    return {
        "count": int(count),
        "sum_s": float(total or 0.0),
        "p50_s": p50,
        "p90_s": p90,
        "max_s": top,
    }


def _seconds_between(
    later: InstrumentedAttribute, earlier: InstrumentedAttribute, dialect: str
) -> ColumnElement[float]:
    """SQL for the seconds from one stored time to another (PostgreSQL subtracts timestamps;
    SQLite holds them as text, which ``julianday`` reads, to ~50 µs)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0
