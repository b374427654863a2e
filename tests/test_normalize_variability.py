"""Normalization against reference ensembles and variability statistics (flux-level simulation)."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.variability.metrics import RunningStats, deviation_sigma
from dsa110_contimg.variability.normalize import (
    correction_factor,
    normalize_measurement,
    reference_baselines,
    select_references,
)

N_SOURCES, N_EPOCHS, NOISE = 600, 30, 1e-3


@pytest.fixture(scope="module")
def survey():
    """30 epochs of 600 sources with a ~5 % gain error per epoch and 10 dipping variables."""
    rng = np.random.default_rng(42)
    true = 10 ** rng.uniform(-2.3, -0.3, N_SOURCES)
    gains = 1 + 0.05 * rng.standard_normal(N_EPOCHS)
    variables = rng.choice(np.flatnonzero(true > 0.02), 10, replace=False)
    intrinsic = np.tile(true, (N_EPOCHS, 1))
    for k, src in enumerate(variables):
        start = 5 + 2 * k
        intrinsic[start : start + 4, src] *= 1 - rng.uniform(0.2, 0.5)  # ESE-like dip
    measured = intrinsic * gains[:, None] + NOISE * rng.standard_normal((N_EPOCHS, N_SOURCES))
    return true, gains, variables, measured


def test_correction_factor_recovers_the_gain(survey):
    true, gains, variables, measured = survey
    # ~20 bright references, one of which (a variable) must be clipped when it dips.
    refs = np.argsort(-true)[:20]
    refs = np.union1d(refs[:19], variables[:1])
    errors, normalized = [], []
    for epoch in range(N_EPOCHS):
        factor = correction_factor(measured[epoch, refs], np.full(refs.size, NOISE), true[refs])
        assert factor.error < 0.01
        errors.append(factor.value / gains[epoch] - 1)
        normalized.append(
            normalize_measurement(measured[epoch], NOISE, factor.value, factor.error)[0]
        )
    assert np.median(np.abs(errors)) <= 0.005
    constant_bright = np.setdiff1d(np.flatnonzero(true / NOISE > 50), variables)
    fractional = np.std(np.array(normalized)[:, constant_bright], axis=0) / true[constant_bright]
    assert np.median(fractional) <= 0.01


def test_a_dipping_reference_is_excluded():
    baseline = np.linspace(0.1, 0.3, 20)
    measured = 1.03 * baseline
    measured[4] *= 0.6  # this reference dips by 40 %
    factor = correction_factor(measured, np.full(20, 1e-3), baseline)
    assert not factor.used[4] and factor.n_used == 19
    assert factor.value == pytest.approx(1.03, rel=1e-3)
    assert np.isnan(correction_factor(measured[:2], [1e-3] * 2, baseline[:2]).value)


def test_normalization_propagates_both_errors():
    value, error = normalize_measurement(0.2, 0.004, 1.05, 0.01)
    assert value == pytest.approx(0.2 / 1.05)
    assert error == pytest.approx(np.hypot(0.004 / 1.05, 0.2 * 0.01 / 1.05**2))


def test_incremental_statistics_equal_batch_in_any_order(survey):
    _, _, _, measured = survey
    index = np.tile(np.arange(N_SOURCES), N_EPOCHS)
    flux = measured.ravel()
    error = np.full(flux.size, NOISE)
    batch = RunningStats.from_measurements(N_SOURCES, index, flux, error)
    running = RunningStats.empty(N_SOURCES)
    for k in np.random.default_rng(0).permutation(flux.size).reshape(-1, 600):
        running.add(index[k], flux[k], error[k])
    for metric in ("eta", "modulation_index", "weighted_mean", "chi2_nu"):
        np.testing.assert_allclose(getattr(running, metric)(), getattr(batch, metric)(), rtol=1e-9)
    # Against a direct computation for one source.
    s = measured[:, 7]
    w = 1 / NOISE**2
    mean_w = np.sum(w * s) / (w * s.size)
    eta = np.sum(w * (s - mean_w) ** 2) / (s.size - 1)
    assert batch.eta()[7] == pytest.approx(eta, rel=1e-9)
    assert batch.modulation_index()[7] == pytest.approx(np.std(s, ddof=1) / np.mean(s), rel=1e-9)


def test_deviation_flags_dips_and_has_unit_width_for_constant_sources(survey):
    true, _, variables, measured = survey
    factors = [
        correction_factor(measured[e], np.full(N_SOURCES, NOISE), true) for e in range(N_EPOCHS)
    ]
    normalized = np.array([measured[e] / factors[e].value for e in range(N_EPOCHS)])
    index = np.tile(np.arange(N_SOURCES), N_EPOCHS)
    flux = normalized.ravel()
    error = np.full(flux.size, NOISE)
    stats = RunningStats.from_measurements(N_SOURCES, index, flux, error)
    deviation = deviation_sigma(stats, index, flux, error).reshape(N_EPOCHS, N_SOURCES)
    worst = np.nanmin(deviation, axis=0)
    flagged = worst < -5
    assert flagged[variables].mean() >= 0.9
    constant = np.setdiff1d(np.arange(N_SOURCES), variables)
    assert flagged[constant].mean() <= 0.01
    core = deviation[:, np.setdiff1d(np.flatnonzero(true < 0.01), variables)].ravel()
    assert 1.4826 * np.median(np.abs(core - np.median(core))) == pytest.approx(1.0, abs=0.1)


def test_pair_metrics_and_shift_match_direct_computation(survey):
    _, _, variables, measured = survey
    rng = np.random.default_rng(3)
    error = NOISE * rng.uniform(0.8, 1.5, measured.shape)
    index = np.tile(np.arange(N_SOURCES), N_EPOCHS)
    shift = measured.mean(axis=0) * rng.uniform(0.9, 1.1, N_SOURCES)
    stats = RunningStats.from_measurements(
        N_SOURCES, index, measured.ravel(), error.ravel(), shift=shift
    )
    unshifted = RunningStats.from_measurements(N_SOURCES, index, measured.ravel(), error.ravel())
    for name, values in stats.metrics().items():
        np.testing.assert_allclose(values, unshifted.metrics()[name], rtol=1e-7, err_msg=name)
    src = variables[0]
    s, e = measured[:, src], error[:, src]
    hi, lo = np.argmax(s), np.argmin(s)
    assert stats.vs_max()[src] == pytest.approx((s[hi] - s[lo]) / np.hypot(e[hi], e[lo]))
    assert stats.m_max()[src] == pytest.approx(2 * (s[hi] - s[lo]) / (s[hi] + s[lo]))
    pairs = 2 * (s[:, None] - s[None, :]) / (s[:, None] + s[None, :])
    assert stats.m_max()[src] == pytest.approx(pairs.max())  # exact over all pairs
    w = 1 / e**2
    others = np.arange(N_EPOCHS) != lo
    mean = np.sum(w[others] * s[others]) / np.sum(w[others])
    var = max(1 / np.sum(w[others]), np.var(s[others], ddof=1) / others.sum())
    assert stats.extreme_deviation()[src] == pytest.approx(
        (s[lo] - mean) / np.sqrt(e[lo] ** 2 + var)
    )


def test_deviation_is_not_capped_by_the_number_of_epochs():
    flux = np.array([1.001, 0.999, 1.0, 0.5])  # a population-σ statistic stays ≤ √(N−1)
    stats = RunningStats.from_measurements(1, np.zeros(4, dtype=int), flux, np.full(4, 0.01))
    population = (flux[3] - flux.mean()) / flux.std()
    assert abs(population) <= np.sqrt(3) + 1e-12
    assert stats.extreme_deviation()[0] < -40


def test_references_are_spread_over_the_field():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 1, 300), rng.uniform(0, 1, 300)
    priority = np.where(x < 0.5, 100.0, 1.0) + rng.uniform(0, 1, 300)  # bright half on the left
    chosen = select_references(x, y, priority, 18)
    assert chosen.size == 18 and np.unique(chosen).size == 18
    cells = {(int(3 * x[k]), int(3 * y[k])) for k in chosen}
    assert len(cells) == 9  # every part of the field has references
    first_of_cell = select_references(x, y, priority, 9)
    assert np.isin(np.argsort(-priority)[:1], first_of_cell).all()  # the brightest is in


def test_baselines_from_history_and_rescaled_catalogue():
    history_mean = np.array([1.1, 2.2, 3.3, np.nan, 0.0])
    history_n = np.array([10, 10, 10, 0, 1])
    catalog = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    baseline, error, from_history = reference_baselines(
        history_mean, np.full(5, 0.01), history_n, catalog, 0.03 * catalog, min_history=3
    )
    np.testing.assert_allclose(baseline, [1.1, 2.2, 3.3, 4.4, 5.5])
    np.testing.assert_allclose(error[3:], 1.1 * 0.03 * catalog[3:])
    assert from_history.tolist() == [True, True, True, False, False]


def test_trimmed_mean_ignores_one_outlying_epoch():
    flux = np.array([1.0, 1.01, 0.99, 1.0, 1.0, 0.4])
    stats = RunningStats.from_measurements(
        1, np.zeros(6, dtype=int), flux, np.full(6, 0.01), shift=np.array([0.8])
    )
    mean, error = stats.trimmed_mean()
    assert mean[0] == pytest.approx(np.mean([1.0, 0.99, 1.0, 1.0]))  # 1.01 and 0.4 trimmed
    assert error[0] == pytest.approx(np.std(flux, ddof=1) / np.sqrt(6))
    short = RunningStats.from_measurements(1, np.zeros(3, dtype=int), flux[:3], np.full(3, 0.01))
    assert short.trimmed_mean()[0][0] == pytest.approx(flux[:3].mean())
