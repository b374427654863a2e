"""Synthetic light curves for the ESE and significance tests and the ESE benchmark: constant
sources with Gaussian errors, and box dips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsa110_contimg.variability.candidates import PRESETS, significance
from dsa110_contimg.variability.significance import LightCurve, excess_factor, excess_spread


@dataclass(frozen=True)
class Outcome:
    """What the detection tests made of one light curve."""

    flagged: bool
    ese: bool
    start: int | None
    end: int | None


def classify(
    curve: LightCurve, false_alarm: float, excess: float = 1.0, spread: float = 0.0
) -> Outcome:
    """Flag ``curve`` at ``false_alarm`` (η and dip tests), with the dip's epochs."""
    found = significance(curve.eta(), curve.flux.size, curve, excess, spread)
    ese = found.dip_false_alarm <= false_alarm
    start = int(np.searchsorted(curve.mjd, found.dip.start_mjd)) if ese else None
    end = int(np.searchsorted(curve.mjd, found.dip.end_mjd)) if ese else None
    return Outcome(found.false_alarm <= false_alarm, ese, start, end)


def dipped_curve(
    rng: np.random.Generator, n: int, snr: float, depth: float, width: int, start: int
) -> LightCurve:
    """A unit-flux source at per-epoch ``snr`` whose flux drops by ``depth`` in epochs
    ``start … start + width − 1``."""
    flux = np.ones(n)
    flux[start : start + width] -= depth
    error = np.full(n, 1.0 / snr)
    return LightCurve(np.arange(float(n)), flux + error * rng.standard_normal(n), error)


def dip_width(n: int, fraction: float) -> int:
    """Epochs of a dip lasting ``fraction`` of ``n`` epochs (at least 2)."""
    return max(2, int(round(fraction * n)))


def recall(
    rng: np.random.Generator,
    n: int,
    snr: float,
    depth: float,
    fraction: float,
    trials: int,
    preset: str = "moderate",
) -> tuple[float, float]:
    """Fraction of dips (random start) found as ESE, and of those with start and end within one
    epoch."""
    width = dip_width(n, fraction)
    found = located = 0
    for _ in range(trials):
        start = int(rng.integers(0, n - width + 1))
        outcome = classify(
            dipped_curve(rng, n, snr, depth, width, start), PRESETS[preset].false_alarm
        )
        if outcome.ese:
            found += 1
            end = start + width - 1
            located += abs(outcome.start - start) <= 1 and abs(outcome.end - end) <= 1
    return found / trials, located / trials


def false_positive_rate(
    rng: np.random.Generator,
    n: int,
    snr: float,
    false_alarm: float,
    trials: int,
    underestimate: float = 1.0,
) -> float:
    """Fraction of constant sources flagged at ``false_alarm`` (errors quoted smaller than
    the true scatter by ``underestimate``, or larger when it is below 1, folded back in through
    the ensemble's η scale)."""
    error = np.full(n, 1.0 / snr)
    flux = 1 + underestimate * error * rng.standard_normal((trials, n))
    curves = [LightCurve(np.arange(float(n)), f, error) for f in flux]
    eta, epochs = np.array([c.eta() for c in curves]), np.full(trials, n)
    excess, spread = excess_factor(eta, epochs), excess_spread(eta, epochs)
    return float(np.mean([classify(c, false_alarm, excess, spread).flagged for c in curves]))
