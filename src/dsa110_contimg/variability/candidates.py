"""Variable and ESE candidates: detection presets, a significance, and the candidates table.

`detect` computes every source's metrics from its stored statistics
(`dsa110_contimg.variability.store`) and flags sources with at least the preset's
``min_epochs`` normalized measurements whose false-alarm probability (the probability of
statistics this extreme for a constant source, `dsa110_contimg.variability.significance`) is at
most the preset's ``false_alarm``, whatever their number of epochs:

* ``eta``: the probability of the source's η from χ² with ``n − 1`` degrees of freedom, errors
  scaled by the η scale of the field's sources (their median, above or below 1, see
  `~dsa110_contimg.variability.significance.excess_factor`) and averaged over the spread of
  the sources' own scales (`~dsa110_contimg.variability.significance.excess_spread`), as is
  the dip test's;
* ``dip``: the look-elsewhere corrected probability of the most significant run of low epochs
  (`~dsa110_contimg.variability.significance.box_dip`: a known-error likelihood ratio, its
  probability over all runs bounded through their correlations), searched in the light curves
  of the sources whose χ² could hold such a dip; it counts only when the run stays significant
  without its lowest epoch, so one bad epoch is not a dip.

A candidate's ``false_alarm`` is the smaller of the two, ``driver`` names the tests passing
(``eta``, ``dip`` or ``eta+dip``), and ``kind`` is ``ese`` when the dip test passes (with the
dip's start and end MJD and fractional depth), ``variable`` otherwise.
``score = log10(1/false_alarm) / log10(1/preset.false_alarm)`` (≥ 1 when flagged). The expected
number of constant sources flagged is about ``false_alarm`` times the number of sources tested.

Flagged sources are upserted in ``variability_candidate`` with their metrics: new ones are
``active``; sources already ``dismissed`` or ``confirmed`` keep that decision (metrics updated);
``active`` candidates that no longer pass are removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

import numpy as np
from scipy import stats
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dsa110_contimg.choices import CANDIDATE_STATUSES, PRESETS, Preset
from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import CatalogSource, VariabilityCandidate
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.errors import InputError, NotFoundError
from dsa110_contimg.variability.metrics import METRICS
from dsa110_contimg.variability.significance import (
    Dip,
    LightCurve,
    box_dip,
    eta_false_alarm,
    excess_factor,
    excess_spread,
)
from dsa110_contimg.variability.store import light_curves, read_stats

__all__ = [
    "CANDIDATE_FIELDS",
    "CANDIDATE_ORDERS",
    "CandidateOrder",
    "CANDIDATE_STATUSES",
    "PRESETS",
    "Preset",
    "SIGNIFICANCE_FIELDS",
    "Significance",
    "UnknownCandidateError",
    "count_tested",
    "detect",
    "dip_search_needed",
    "list_candidates",
    "set_candidate_status",
    "significance",
]

#: Fields of each candidate returned by `detect` and `list_candidates`.
CANDIDATE_FIELDS = (
    "source_id",
    "name",
    "kind",
    "score",
    "status",
    "preset",
    "n_epochs",
    "weighted_mean_jy",
    "eta",
    "v",
    "vs_max",
    "m_max",
    "deviation_sigma",
)
#: Orders of `list_candidates`: the first key, then score (highest first) and source id.
#: Sort keys of candidate lists.
CandidateOrder = Literal["score", "kind", "name", "n_epochs", "deviation_sigma"]
CANDIDATE_ORDERS: tuple[str, ...] = get_args(CandidateOrder)
#: Fields `detect` adds to each flagged candidate: its false-alarm probabilities, the test that
#: flagged it, and the dip found (MJD of its first and last epochs, fractional depth).
SIGNIFICANCE_FIELDS = (
    "false_alarm",
    "driver",
    "eta_false_alarm",
    "dip_false_alarm",
    "dip_start_mjd",
    "dip_end_mjd",
    "dip_depth",
    "excess",
    "excess_spread",
)


class UnknownCandidateError(NotFoundError):
    """No candidate for that source."""


def _preset(name: str | None) -> Preset:
    name = name or get_settings().variability.preset
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


@dataclass(frozen=True)
class Significance:
    """A source's false-alarm probabilities (see the module docstring).

    Attributes
    ----------
    eta_false_alarm : float
    dip : Dip or None
        The most significant dip searched (None when not searched or none below baseline).
    """

    eta_false_alarm: float
    dip: Dip | None

    @property
    def dip_false_alarm(self) -> float:
        """The dip's false-alarm probability (1 without a robust dip)."""
        return self.dip.false_alarm if self.dip is not None and self.dip.robust else 1.0

    @property
    def false_alarm(self) -> float:
        """The smaller of the η and dip false-alarm probabilities."""
        return min(self.eta_false_alarm, self.dip_false_alarm)

    def drivers(self, false_alarm: float) -> str:
        """The tests passing at ``false_alarm``: ``eta``, ``dip`` or ``eta+dip``."""
        passing = [
            name
            for name, value in (("eta", self.eta_false_alarm), ("dip", self.dip_false_alarm))
            if value <= false_alarm
        ]
        return "+".join(passing)


def significance(
    eta: float, n: int, curve: LightCurve | None, excess: float = 1.0, spread: float = 0.0
) -> Significance:
    """A source's false-alarm probabilities from its η, epochs and (optionally) light curve.

    Examples
    --------
    >>> import numpy as np
    >>> flux = np.r_[np.ones(8), np.full(4, 0.8)] + 0.01 * np.cos(np.arange(12))
    >>> curve = LightCurve(np.arange(12.0), flux, np.full(12, 0.03))
    >>> found = significance(curve.eta(), 12, curve)
    >>> found.drivers(1e-3), found.dip.start_mjd, found.dip.end_mjd
    ('eta+dip', 8.0, 11.0)
    """
    p_eta = float(eta_false_alarm(np.array([eta]), np.array([n]), excess, spread)[0])
    dip = (
        box_dip(curve.mjd, curve.flux, curve.error, excess=excess, spread=spread) if curve else None
    )
    return Significance(p_eta, dip)


def dip_search_needed(
    eta: np.ndarray, n: np.ndarray, false_alarm: float, excess: float = 1.0
) -> np.ndarray:
    """Sources whose χ² is large enough to hold a dip flagged at ``false_alarm``.

    A dip's likelihood ratio never exceeds the χ² about the weighted mean, and its false-alarm
    probability is never below the single-run one ``P(χ²_1 ≥ LR) / 2``, so only these
    sources' light curves need to be read.
    """
    n = np.asarray(n, dtype=float)
    needed = stats.chi2.isf(2 * false_alarm, 1)
    chi2 = np.nan_to_num(np.asarray(eta, dtype=float)) * np.maximum(n - 1, 1) / excess
    return (n >= 4) & (chi2 >= needed)


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
        The flagged sources (fields `CANDIDATE_FIELDS` and `SIGNIFICANCE_FIELDS`), highest
        score first.

    Raises
    ------
    InputError
        An unknown preset.
    """
    chosen = _preset(preset)
    now = datetime.now(UTC)
    with get_engine(url).begin() as conn:
        stored = read_stats(conn)
        metrics = stored.stats.metrics()
        n, eta = metrics["n"], metrics["eta"]
        tested = n >= chosen.min_epochs
        excess = excess_factor(eta[tested], n[tested])
        spread = excess_spread(eta[tested], n[tested])
        search = np.flatnonzero(tested & dip_search_needed(eta, n, chosen.false_alarm, excess))
        curves = light_curves(conn, stored.source_id[search])
        found = {}
        for k in np.flatnonzero(tested):
            curve = curves.get(int(stored.source_id[k]))
            result = significance(eta[k], int(n[k]), curve, excess, spread)
            if result.false_alarm <= chosen.false_alarm:
                found[k] = result
        rows, details = [], {}
        for k, result in sorted(found.items(), key=lambda item: item[1].false_alarm):
            source = int(stored.source_id[k])
            rows.append(
                {
                    "source_id": source,
                    "preset": chosen.name,
                    "kind": ("ese" if result.dip_false_alarm <= chosen.false_alarm else "variable"),
                    "score": _score(result.false_alarm, chosen),
                    "n_epochs": int(n[k]),
                    **{name: _finite(metrics[name][k]) for name in METRICS if name != "n"},
                }
            )
            details[source] = _details(result, chosen, excess, spread)
        keep = [r["source_id"] for r in rows]
        conn.execute(
            delete(VariabilityCandidate).where(
                VariabilityCandidate.status == "active", VariabilityCandidate.source_id.not_in(keep)
            )
        )
        if rows:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(VariabilityCandidate.__table__)
            updated = {c: statement.excluded[c] for c in rows[0] if c != "source_id"}
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["source_id"], set_={**updated, "updated_at": now}
                ),
                [{**r, "status": "active", "detected_at": now, "updated_at": now} for r in rows],
            )
    return [
        {**c, **details[c["source_id"]]}
        for c in list_candidates(url=url)[0]
        if c["source_id"] in details
    ]


def count_tested(preset: Preset, *, url: str | None = None) -> int:
    """Number of sources with enough epochs to be tested under ``preset`` (the expected number
    of false candidates is this times ``preset.false_alarm``)."""
    with get_engine(url).connect() as conn:
        return int(np.sum(read_stats(conn).stats.n >= preset.min_epochs))


def _score(false_alarm: float, preset: Preset) -> float:
    """``log10(1/false_alarm) / log10(1/preset.false_alarm)`` (capped at 1e-300)."""
    return float(np.log10(max(false_alarm, 1e-300)) / np.log10(preset.false_alarm))


def _details(result: Significance, preset: Preset, excess: float, spread: float) -> dict:
    """The `SIGNIFICANCE_FIELDS` of a candidate."""
    dip = result.dip if result.dip_false_alarm <= preset.false_alarm else None
    return {
        "false_alarm": result.false_alarm,
        "driver": result.drivers(preset.false_alarm),
        "eta_false_alarm": result.eta_false_alarm,
        "dip_false_alarm": result.dip_false_alarm,
        "dip_start_mjd": _finite(dip.start_mjd) if dip else None,
        "dip_end_mjd": _finite(dip.end_mjd) if dip else None,
        "dip_depth": dip.depth if dip else None,
        "excess": excess,
        "excess_spread": spread,
    }


def list_candidates(
    *,
    status: str | None = None,
    kind: str | None = None,
    min_abs_deviation: float | None = None,
    order: str = "score",
    descending: bool = True,
    limit: int | None = None,
    offset: int = 0,
    with_position: bool = False,
    source_id: int | None = None,
    url: str | None = None,
) -> tuple[list[dict], int]:
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
    InputError
        An unknown ``status``, ``kind`` or ``order``.
    """
    conditions = []
    if status is not None:
        if status not in CANDIDATE_STATUSES:
            raise InputError(
                f"unknown status {status!r}; choose one of {', '.join(CANDIDATE_STATUSES)}"
            )
        conditions.append(VariabilityCandidate.status == status)
    if kind is not None:
        if kind not in ("ese", "variable"):
            raise InputError(f"unknown kind {kind!r}; choose ese or variable")
        conditions.append(VariabilityCandidate.kind == kind)
    if source_id is not None:
        conditions.append(VariabilityCandidate.source_id == int(source_id))
    if min_abs_deviation is not None:
        conditions.append(func.abs(VariabilityCandidate.deviation_sigma) >= min_abs_deviation)
    if order not in CANDIDATE_ORDERS:
        raise InputError(f"unknown order {order!r}; choose one of {', '.join(CANDIDATE_ORDERS)}")
    first = CatalogSource.name if order == "name" else getattr(VariabilityCandidate, order)
    extra = (
        (
            CatalogSource.ra_deg,
            CatalogSource.dec_deg,
            VariabilityCandidate.detected_at,
            VariabilityCandidate.updated_at,
        )
        if with_position
        else ()
    )
    query = (
        select(VariabilityCandidate, CatalogSource.name, *extra)
        .join(CatalogSource, CatalogSource.id == VariabilityCandidate.source_id)
        .where(*conditions)
    )
    count = select(func.count()).select_from(VariabilityCandidate).where(*conditions)
    query = query.order_by(
        first.desc() if descending else first.asc(),
        VariabilityCandidate.score.desc(),
        VariabilityCandidate.source_id,
    )
    fields = [f for f in CANDIDATE_FIELDS if f not in ("source_id", "name")]
    if with_position:
        fields += ["ra_deg", "dec_deg", "detected_at", "updated_at"]
    with get_engine(url).connect() as conn:
        total = int(conn.execute(count).scalar_one())
        rows = conn.execute(query.offset(offset).limit(limit)).mappings().all()
    return [
        {"source_id": r["source_id"], "name": r["name"], **{f: r[f] for f in fields}} for r in rows
    ], total


def set_candidate_status(source_id: int, status: str, *, url: str | None = None) -> None:
    """Record a review decision (``active``, ``dismissed`` or ``confirmed``).

    Raises
    ------
    InputError
        An unknown ``status``.
    UnknownCandidateError
        The source is not a candidate.
    """
    if status not in CANDIDATE_STATUSES:
        raise InputError(
            f"unknown status {status!r}; choose one of {', '.join(CANDIDATE_STATUSES)}"
        )
    with get_engine(url).begin() as conn:
        changed = conn.execute(
            update(VariabilityCandidate)
            .where(VariabilityCandidate.source_id == int(source_id))
            .values(status=status, updated_at=datetime.now(UTC))
        )
    if changed.rowcount == 0:
        raise UnknownCandidateError(f"source {source_id} is not a variability candidate")


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
