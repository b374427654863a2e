"""Variable and ESE candidates: detection presets, a score, and the candidates table.

`detect` computes every source's metrics from its stored statistics
(`dsa110_contimg.photometry.variability_store`) and flags those whose score under a preset is
at least 1:

``score = max(|D| / D_min, min(η / η_min, V / V_min))``

where ``D`` is the signed leave-one-out deviation of the most significant epoch (negative for a
dip: an ESE-like event; not capped by √(N−1)), η the weighted reduced χ² and V the modulation
index, for sources with at least ``min_epochs`` normalized measurements. A single deep epoch
passes through ``D``; a sustained variation needs both a significant η and a fractional
amplitude V. The score is thus the factor by which the strongest criterion exceeds its threshold.

Flagged sources are upserted in ``variability_candidate`` with their metrics: new ones are
``active``; sources already ``dismissed`` or ``confirmed`` keep that decision (metrics updated);
``active`` candidates that no longer pass are removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import CatalogSource, VariabilityCandidate
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.photometry.variability import METRICS
from dsa110_contimg.photometry.variability_store import read_stats

__all__ = ["CANDIDATE_FIELDS", "CANDIDATE_ORDERS", "CANDIDATE_STATUSES", "PRESETS", "Preset", "UnknownCandidateError",
           "detect", "list_candidates", "score", "set_candidate_status"]

#: Review states of a candidate.
CANDIDATE_STATUSES = ("active", "dismissed", "confirmed")
#: Fields of each candidate returned by `detect` and `list_candidates`.
CANDIDATE_FIELDS = ("source_id", "name", "kind", "score", "status", "preset", "n_epochs",
                    "weighted_mean_jy", "eta", "v", "vs_max", "m_max", "deviation_sigma")
#: Orders of `list_candidates`: the first key, then score (highest first) and source id.
CANDIDATE_ORDERS = ("score", "kind", "name", "n_epochs", "deviation_sigma")


class UnknownCandidateError(LookupError):
    """No candidate for that source."""


@dataclass(frozen=True)
class Preset:
    """Detection thresholds (see the module docstring for how they combine)."""

    name: str
    min_epochs: int
    eta: float
    v: float
    deviation: float


#: The detection presets, strictest first.
PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("conservative", min_epochs=10, eta=5.0, v=0.10, deviation=7.0),
    Preset("moderate", min_epochs=5, eta=3.0, v=0.05, deviation=5.0),
    Preset("sensitive", min_epochs=3, eta=2.0, v=0.03, deviation=4.0),
)}


def _preset(name: str | None) -> Preset:
    name = name or get_settings().variability.preset
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def score(metrics: dict[str, np.ndarray], preset: Preset) -> np.ndarray:
    """Each source's score under ``preset`` (≥ 1 means flagged; 0 with too few epochs).

    A significant single deviation counts only when the source's largest change between two
    epochs (``m_max``) is at least twice the preset's modulation threshold: very bright steady
    sources have tiny errors, so a residual calibration error of a percent or two would
    otherwise look like a many-σ event.

    Examples
    --------
    >>> import numpy as np
    >>> m = {"n": np.array([30, 30, 2, 30]), "eta": np.array([1.0, 9.0, 50.0, 1.0]),
    ...      "v": np.array([0.01, 0.2, 0.5, 0.01]),
    ...      "deviation_sigma": np.array([-2.5, -4.0, -9.0, 8.0]),
    ...      "m_max": np.array([0.05, 0.5, 0.9, 0.03])}
    >>> score(m, PRESETS["moderate"]).round(2).tolist()
    [0.2, 3.0, 0.0, 0.2]
    """
    large = np.nan_to_num(metrics["m_max"]) >= 2 * preset.v
    deviation = (np.where(large, np.abs(np.nan_to_num(metrics["deviation_sigma"])), 0.0)
                 / preset.deviation)
    sustained = np.minimum(np.nan_to_num(metrics["eta"]) / preset.eta,
                           np.nan_to_num(metrics["v"]) / preset.v)
    value = np.maximum(deviation, sustained)
    return np.where(np.asarray(metrics["n"]) >= preset.min_epochs, value, 0.0)


def detect(*, preset: str | None = None, url: str | None = None) -> list[dict]:
    """Flag variable sources from their statistics and update the candidates table.

    Parameters
    ----------
    preset : str, optional
        One of `PRESETS` (default: the configured ``variability.preset``).
    url : str, optional
        Database URL.

    Returns
    -------
    list of dict
        The flagged sources (fields `CANDIDATE_FIELDS`), highest score first.

    Raises
    ------
    ValueError
        An unknown preset.
    """
    chosen = _preset(preset)
    now = datetime.now(timezone.utc)
    with get_engine(url).begin() as conn:
        stored = read_stats(conn)
        metrics = stored.stats.metrics()
        scores = score(metrics, chosen)
        flagged = np.flatnonzero(scores >= 1.0)
        rows = []
        for k in flagged[np.argsort(-scores[flagged], kind="stable")]:
            row = {"source_id": int(stored.source_id[k]), "preset": chosen.name,
                   "kind": "ese" if metrics["deviation_sigma"][k] < 0 else "variable",
                   "score": float(scores[k]), "n_epochs": int(metrics["n"][k])}
            row.update({name: _finite(metrics[name][k]) for name in METRICS if name != "n"})
            rows.append(row)
        keep = [r["source_id"] for r in rows]
        conn.execute(delete(VariabilityCandidate).where(
            VariabilityCandidate.status == "active", VariabilityCandidate.source_id.not_in(keep)))
        if rows:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(VariabilityCandidate.__table__)
            updated = {c: statement.excluded[c] for c in rows[0] if c != "source_id"}
            conn.execute(statement.on_conflict_do_update(
                index_elements=["source_id"], set_={**updated, "updated_at": now}),
                [{**r, "status": "active", "detected_at": now, "updated_at": now}
                 for r in rows])
    flagged_ids = {r["source_id"] for r in rows}
    return [c for c in list_candidates(url=url)[0] if c["source_id"] in flagged_ids]


def list_candidates(*, status: str | None = None, kind: str | None = None,
                    min_abs_deviation: float | None = None, order: str = "score",
                    descending: bool = True, limit: int | None = None, offset: int = 0,
                    with_position: bool = False, source_id: int | None = None,
                    url: str | None = None) -> tuple[list[dict], int]:
    """Stored candidates and their total count.

    Parameters
    ----------
    status : str, optional
        Only this review status (`CANDIDATE_STATUSES`).
    kind : {"ese", "variable"}, optional
        Only this kind.
    min_abs_deviation : float, optional
        Only candidates whose most significant epoch deviates by at least this many σ.
    order : str
        First sort key (`CANDIDATE_ORDERS`; default the score), then the score (highest
        first) and the source id.
    descending : bool
        Sort the first key in descending order.
    limit, offset : int
        The page returned (the total counts every match).
    with_position : bool
        Add the catalogue position (``ra_deg``, ``dec_deg``) and the detection and update
        times (``detected_at``, ``updated_at``).
    source_id : int, optional
        Only this source's candidate.
    url : str, optional
        Database URL.

    Raises
    ------
    ValueError
        An unknown ``status``, ``kind`` or ``order``.
    """
    conditions = []
    if status is not None:
        if status not in CANDIDATE_STATUSES:
            raise ValueError(f"unknown status {status!r}; choose one of "
                             f"{', '.join(CANDIDATE_STATUSES)}")
        conditions.append(VariabilityCandidate.status == status)
    if kind is not None:
        if kind not in ("ese", "variable"):
            raise ValueError(f"unknown kind {kind!r}; choose ese or variable")
        conditions.append(VariabilityCandidate.kind == kind)
    if source_id is not None:
        conditions.append(VariabilityCandidate.source_id == int(source_id))
    if min_abs_deviation is not None:
        conditions.append(func.abs(VariabilityCandidate.deviation_sigma) >= min_abs_deviation)
    if order not in CANDIDATE_ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(CANDIDATE_ORDERS)}")
    first = CatalogSource.name if order == "name" else getattr(VariabilityCandidate, order)
    extra = (CatalogSource.ra_deg, CatalogSource.dec_deg, VariabilityCandidate.detected_at,
             VariabilityCandidate.updated_at) if with_position else ()
    query = select(VariabilityCandidate, CatalogSource.name, *extra).join(
        CatalogSource, CatalogSource.id == VariabilityCandidate.source_id).where(*conditions)
    count = select(func.count()).select_from(VariabilityCandidate).where(*conditions)
    query = query.order_by(first.desc() if descending else first.asc(),
                           VariabilityCandidate.score.desc(), VariabilityCandidate.source_id)
    fields = [f for f in CANDIDATE_FIELDS if f not in ("source_id", "name")]
    if with_position:
        fields += ["ra_deg", "dec_deg", "detected_at", "updated_at"]
    with get_engine(url).connect() as conn:
        total = int(conn.execute(count).scalar_one())
        rows = conn.execute(query.offset(offset).limit(limit)).mappings().all()
    return [{"source_id": r["source_id"], "name": r["name"], **{f: r[f] for f in fields}}
            for r in rows], total


def set_candidate_status(source_id: int, status: str, *, url: str | None = None) -> None:
    """Record a review decision (``active``, ``dismissed`` or ``confirmed``).

    Raises
    ------
    ValueError
        An unknown ``status``.
    UnknownCandidateError
        The source is not a candidate.
    """
    if status not in CANDIDATE_STATUSES:
        raise ValueError(f"unknown status {status!r}; choose one of "
                         f"{', '.join(CANDIDATE_STATUSES)}")
    with get_engine(url).begin() as conn:
        changed = conn.execute(update(VariabilityCandidate)
                               .where(VariabilityCandidate.source_id == int(source_id))
                               .values(status=status, updated_at=datetime.now(timezone.utc)))
    if changed.rowcount == 0:
        raise UnknownCandidateError(f"source {source_id} is not a variability candidate")


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
