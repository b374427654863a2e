"""False-alarm probabilities and the ESE (dip) search on synthetic light curves at scale."""

from __future__ import annotations

import numpy as np
import pytest
from ese_support import classify, dipped_curve, false_positive_rate, recall

from dsa110_contimg.variability.candidates import PRESETS
from dsa110_contimg.variability.significance import (
    EXCESS_FLOOR,
    LightCurve,
    box_dip,
    eta_false_alarm,
    excess_factor,
    excess_spread,
)


@pytest.mark.parametrize("n", [6, 12, 30])
@pytest.mark.parametrize("underestimate", [0.8, 1.0, 1.3])
def test_false_positive_rate_is_the_configured_one_at_any_number_of_epochs(n, underestimate):
    """Errors quoted 1.3 times too small (η scale 1.7) or 1.25 times too large (0.64): the
    ensemble's η scale is folded in either way."""
    rng = np.random.default_rng(n)
    sensitive = PRESETS["sensitive"].false_alarm
    rate = false_positive_rate(rng, n, 20.0, sensitive, 2000, underestimate)
    assert sensitive / 2 <= rate <= 2 * sensitive
    assert (
        false_positive_rate(rng, n, 20.0, PRESETS["moderate"].false_alarm, 1000, underestimate)
        <= 0.01
    )


def test_eta_false_alarm_is_uniform_for_constant_sources():
    rng = np.random.default_rng(1)
    n = rng.integers(2, 200, 20000)
    eta = np.array([rng.chisquare(k - 1) / (k - 1) for k in n])
    p = eta_false_alarm(eta, n)
    assert np.mean(p < 0.1) == pytest.approx(0.1, abs=0.01)
    assert eta_false_alarm(np.array([np.nan]), np.array([1]))[0] == 1.0


def test_excess_below_one_only_as_far_as_the_ensemble_shows_it():
    rng = np.random.default_rng(5)
    few = rng.chisquare(5, 40) / 5 * 0.6
    assert excess_factor(few, np.full(40, 6)) == 1.0
    many = rng.chisquare(29, 600) / 29 * 0.6
    assert 0.6 < excess_factor(many, np.full(600, 30)) < 0.66
    assert excess_factor(many / 10, np.full(600, 30)) == EXCESS_FLOOR
    assert excess_factor(many * 2, np.full(600, 30)) == pytest.approx(1.2, rel=0.05)


def test_a_spread_of_error_scales_is_folded_into_the_eta_false_alarm():
    """Sources whose errors are misestimated by different factors (log-normal, σ 0.3): a
    single scale leaves η's tail heavy; the measured spread restores the configured rate."""
    rng = np.random.default_rng(8)
    n = np.full(5000, 12)
    eta = rng.chisquare(11, n.size) / 11 * np.exp(0.3 * rng.standard_normal(n.size))
    excess, spread = excess_factor(eta, n), excess_spread(eta, n)
    assert 0.2 < spread < 0.4
    assert np.mean(eta_false_alarm(eta, n, excess) <= 0.01) > 0.02
    assert 0.005 <= np.mean(eta_false_alarm(eta, n, excess, spread) <= 0.01) <= 0.015
    steady = rng.chisquare(11, n.size) / 11
    assert excess_spread(steady, n) < 0.1


@pytest.mark.parametrize("n", [12, 30])
def test_dip_false_alarm_bounds_the_rate_on_constant_sources_closely(n):
    """The look-elsewhere bound holds and is close: measured 1.3 (12 epochs) and 1.5 (30)
    times the true probability, where the number of runs times the two-sided single-run
    probability is 3–6 times it."""
    rng = np.random.default_rng(40 + n)
    error = np.full(n, 0.05)
    mjd = np.arange(float(n))
    dips = [box_dip(mjd, flux, error) for flux in 1 + error * rng.standard_normal((5000, n))]
    rate = np.mean([dip is not None and dip.false_alarm <= 0.01 for dip in dips])
    assert 0.004 <= rate <= 0.011


@pytest.mark.parametrize(
    "n,depth,fraction",
    [
        (12, 0.3, 0.2),
        (12, 0.2, 0.4),
        (12, 0.5, 0.6),
        (30, 0.2, 0.2),
        (30, 0.15, 0.4),
        (30, 0.5, 0.6),
    ],
)
def test_dips_are_found_as_ese_with_their_start_and_end(n, depth, fraction):
    """Per-epoch S/N 20, moderate preset (shallower, shorter dips: benchmarks/bench_ese.py)."""
    found, located = recall(np.random.default_rng(7), n, 20.0, depth, fraction, 100)
    assert found >= 0.9 and located >= 0.9


def test_one_bad_epoch_is_not_an_ese():
    rng = np.random.default_rng(3)
    flagged = ese = 0
    for _ in range(200):
        curve = dipped_curve(rng, 12, 50.0, 0.5, 1, int(rng.integers(0, 12)))
        outcome = classify(curve, PRESETS["moderate"].false_alarm)
        flagged += outcome.flagged
        ese += outcome.ese
    assert flagged == 200 and ese <= 2


def test_a_dip_at_the_start_is_located():
    flux = np.r_[np.full(4, 0.6), np.ones(8)]
    curve = LightCurve(np.arange(12.0) + 60000, flux, np.full(12, 0.01))
    outcome = classify(curve, PRESETS["conservative"].false_alarm)
    assert outcome.ese and (outcome.start, outcome.end) == (0, 3)
