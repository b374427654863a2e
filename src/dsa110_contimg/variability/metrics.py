"""Variability statistics from sufficient statistics, updated in O(1) per measurement.

For a source with fluxes ``S_i`` and errors ``σ_i`` (weights ``w_i = 1/σ_i²``) the running
sums ``N, Σw, ΣwS, ΣwS², ΣS, ΣS²`` and the extreme fluxes (with their errors) give every metric
here, whatever the order in which measurements arrive. The sums are taken about a fixed
per-source ``shift`` (``S − K``; e.g. the catalogue flux), which changes no metric but keeps the
variance terms from cancelling catastrophically for bright sources:

* weighted mean ``S̄_w = K + Σw(S−K)/Σw``;
* ``η`` (weighted reduced χ² about ``S̄_w``, Swinbank et al. 2015) =
  ``N/(N−1) · (ΣwS²/N − (ΣwS)²/(N Σw))``, the same as ``χ²_ν``;
* modulation index ``V = s/S̄`` with ``s`` the unweighted sample standard deviation;
* the pair metrics of the VAST pipeline without materialising pairs: ``max |V_s|`` and
  ``max |m|`` are taken on the pair of extreme fluxes, ``V_s = (S_max − S_min)/√(σ_max² +
  σ_min²)`` and ``m = 2 (S_max − S_min)/(S_max + S_min)`` (``m`` is exactly the maximum over
  pairs for positive fluxes; ``V_s`` is when the errors are equal).

The *deviation* statistic of one measurement compares it with a baseline that excludes it (the
leave-one-out weighted mean), so a single dip is not capped by ``√(N−1)`` as a statistic built
on the population standard deviation is: ``(S_i − S̄_w,−i) / √(σ_i² + var(S̄_w,−i))`` with
``var(S̄_w,−i) = max(1/Σw_−i, s²_−i/N_−i)`` (the larger of the formal and the empirical
uncertainty of the baseline). For a constant source it has unit variance. A source's
`RunningStats.extreme_deviation` is that of its lowest or highest point, whichever is more
significant (signed: negative for a dip).

Examples
--------
>>> import numpy as np
>>> from dsa110_contimg.variability.metrics import RunningStats
>>> stats = RunningStats.empty(1)
>>> for flux in (1.0, 1.1, 0.9, 1.0):
...     stats.add(np.array([0]), np.array([flux]), np.array([0.05]))
>>> round(float(stats.eta()[0]), 3), round(float(stats.m_max()[0]), 3)
(2.667, 0.2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["METRICS", "RunningStats", "deviation_sigma"]

#: Metric names of `RunningStats.metrics`, in order.
METRICS = ("n", "weighted_mean_jy", "eta", "v", "vs_max", "m_max", "deviation_sigma")


@dataclass
class RunningStats:
    """Sufficient statistics of many sources' light curves (arrays indexed by source).

    ``sum_*`` are sums of ``S − shift`` (per source); ``max_flux``/``min_flux`` and their
    errors are NaN until a source has a measurement.
    """

    n: np.ndarray
    sum_w: np.ndarray
    sum_ws: np.ndarray
    sum_ws2: np.ndarray
    sum_s: np.ndarray
    sum_s2: np.ndarray
    shift: np.ndarray
    max_flux: np.ndarray
    max_err: np.ndarray
    min_flux: np.ndarray
    min_err: np.ndarray

    @classmethod
    def empty(cls, n_sources: int, shift: np.ndarray | None = None) -> RunningStats:
        """Statistics of ``n_sources`` sources with no measurement yet (sums about ``shift``,
        default 0)."""
        shift = np.zeros(n_sources) if shift is None else np.asarray(shift, dtype=float).copy()
        sums = ("sum_w", "sum_ws", "sum_ws2", "sum_s", "sum_s2")
        extremes = ("max_flux", "max_err", "min_flux", "min_err")
        return cls(
            n=np.zeros(n_sources, dtype=np.int64),
            shift=shift,
            **{name: np.zeros(n_sources) for name in sums},
            **{name: np.full(n_sources, np.nan) for name in extremes},
        )

    @classmethod
    def from_measurements(
        cls,
        n_sources: int,
        index: np.ndarray,
        flux: np.ndarray,
        error: np.ndarray,
        *,
        shift: np.ndarray | None = None,
    ) -> RunningStats:
        """Batch computation from all measurements (``index`` = source of each)."""
        stats = cls.empty(n_sources, shift)
        stats.add(index, flux, error)
        return stats

    def add(self, index: np.ndarray, flux: np.ndarray, error: np.ndarray) -> None:
        """Add measurements (any order; non-finite flux or error ≤ 0 are ignored). O(1) each."""
        index, flux, error = (np.asarray(v) for v in (index, flux, error))
        good = np.isfinite(flux) & np.isfinite(error) & (error > 0)
        index, flux, error = index[good].astype(np.int64), flux[good], error[good]
        weight = 1.0 / error**2
        offset = flux - self.shift[index]
        np.add.at(self.n, index, 1)
        np.add.at(self.sum_w, index, weight)
        np.add.at(self.sum_ws, index, weight * offset)
        np.add.at(self.sum_ws2, index, weight * offset**2)
        np.add.at(self.sum_s, index, offset)
        np.add.at(self.sum_s2, index, offset**2)
        self._update_extremes(index, flux, error)

    def _update_extremes(self, index: np.ndarray, flux: np.ndarray, error: np.ndarray) -> None:
        if index.size == 0:
            return
        order = np.lexsort((flux, index))
        sorted_index = index[order]
        boundary = sorted_index[1:] != sorted_index[:-1]
        lowest = order[np.r_[True, boundary]]
        highest = order[np.r_[boundary, True]]
        for rows, values, errors, better in (
            (lowest, self.min_flux, self.min_err, np.less),
            (highest, self.max_flux, self.max_err, np.greater),
        ):
            source = index[rows]
            replace = ~np.isfinite(values[source]) | better(flux[rows], values[source])
            values[source[replace]] = flux[rows][replace]
            errors[source[replace]] = error[rows][replace]

    def weighted_mean(self) -> np.ndarray:
        """Inverse-variance weighted mean flux (NaN without measurements)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.shift + self.sum_ws / self.sum_w

    def trimmed_mean(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean without the highest and lowest flux (a robust baseline), and its error.

        The error is the larger of the formal one and the sample standard deviation / √N. With
        fewer than 5 measurements nothing is trimmed.
        """
        w_max, w_min = 1.0 / self.max_err**2, 1.0 / self.min_err**2
        trim = self.n >= 5
        with np.errstate(invalid="ignore", divide="ignore"):
            sum_w = self.sum_w - np.where(trim, w_max + w_min, 0.0)
            sum_ws = self.sum_ws - np.where(
                trim,
                w_max * (self.max_flux - self.shift) + w_min * (self.min_flux - self.shift),
                0.0,
            )
            mean = self.shift + sum_ws / sum_w
            error = np.maximum(1.0 / np.sqrt(sum_w), self.std() / np.sqrt(self.n))
        return mean, error

    def eta(self) -> np.ndarray:
        """Weighted reduced χ² about the weighted mean (NaN for fewer than 2 points)."""
        n = self.n.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = n / (n - 1) * (self.sum_ws2 / n - self.sum_ws**2 / (n * self.sum_w))
        return np.where(self.n > 1, value, np.nan)

    def chi2_nu(self) -> np.ndarray:
        """χ²_ν of a constant-flux model (equal to `eta`)."""
        return self.eta()

    def std(self) -> np.ndarray:
        """Unweighted sample standard deviation of the fluxes."""
        n = self.n.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (self.sum_s2 - self.sum_s**2 / n) / (n - 1)
        return np.where(self.n > 1, np.sqrt(np.clip(var, 0.0, None)), np.nan)

    def modulation_index(self) -> np.ndarray:
        """V = sample standard deviation / mean flux."""
        n = self.n.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.std() / (self.shift + self.sum_s / n)

    def vs_max(self) -> np.ndarray:
        """``V_s`` of the extreme pair: (S_max − S_min)/√(σ_max² + σ_min²)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            value = (self.max_flux - self.min_flux) / np.hypot(self.max_err, self.min_err)
        return np.where(self.n > 1, value, np.nan)

    def m_max(self) -> np.ndarray:
        """Largest fractional pair difference 2 (S_max − S_min)/(S_max + S_min)."""
        total = self.max_flux + self.min_flux
        with np.errstate(invalid="ignore", divide="ignore"):
            value = 2.0 * (self.max_flux - self.min_flux) / total
        return np.where((self.n > 1) & (total > 0), value, np.nan)

    def extreme_deviation(self) -> np.ndarray:
        """Signed leave-one-out deviation (σ) of the more significant extreme point.

        Negative values are dips. NaN for fewer than 3 measurements.
        """
        index = np.arange(self.n.size)
        with np.errstate(invalid="ignore"):
            low = deviation_sigma(self, index, self.min_flux, self.min_err)
            high = deviation_sigma(self, index, self.max_flux, self.max_err)
        return np.where(
            np.nan_to_num(-low, nan=-np.inf) >= np.nan_to_num(high, nan=-np.inf), low, high
        )

    def metrics(self) -> dict[str, np.ndarray]:
        """Every metric per source, keyed by `METRICS`."""
        return dict(
            zip(
                METRICS,
                (
                    self.n.copy(),
                    self.weighted_mean(),
                    self.eta(),
                    self.modulation_index(),
                    self.vs_max(),
                    self.m_max(),
                    self.extreme_deviation(),
                ),
            )
        )


def deviation_sigma(
    stats: RunningStats, index: np.ndarray, flux: np.ndarray, error: np.ndarray
) -> np.ndarray:
    """Significance of measurements against their source's *other* measurements.

    ``stats`` must already contain the measurements; each is removed from its source's sums
    (leave-one-out) before comparing, so the statistic grows with the deviation however few
    epochs there are. NaN when the source has fewer than 3 measurements.
    """
    index, flux, error = (np.asarray(v, dtype=float) for v in (index, flux, error))
    index = index.astype(np.int64)
    offset = flux - stats.shift[index]
    weight = 1.0 / error**2
    n = stats.n[index] - 1.0
    sum_w = stats.sum_w[index] - weight
    sum_s = stats.sum_s[index] - offset
    sum_s2 = stats.sum_s2[index] - offset**2
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (stats.sum_ws[index] - weight * offset) / sum_w
        scatter2 = np.clip((sum_s2 - sum_s**2 / n) / (n - 1), 0.0, None)
        baseline_var = np.maximum(1.0 / sum_w, scatter2 / n)
        value = (offset - mean) / np.sqrt(error**2 + baseline_var)
    return np.where(n >= 2, value, np.nan)
