"""Variability statistics from sufficient statistics, updated in O(1) per measurement.

For a source with fluxes ``S_i`` and errors ``σ_i`` (weights ``w_i = 1/σ_i²``) the running
sums ``N, Σw, ΣwS, ΣwS², ΣS, ΣS²`` give every metric here, whatever the order in which
measurements arrive:

* weighted mean ``S̄_w = ΣwS/Σw``;
* ``η`` (weighted reduced χ² about ``S̄_w``, Swinbank et al. 2015) =
  ``N/(N−1) · (ΣwS²/N − (ΣwS)²/(N Σw))``, the same as ``χ²_ν``;
* modulation index ``V = s/S̄`` with ``s`` the unweighted sample standard deviation.

The *deviation* statistic of one measurement compares it with a baseline that excludes it (the
leave-one-out weighted mean), so a single dip is not capped by ``√(N−1)`` as a statistic built
on the population standard deviation is: ``(S_i − S̄_w,−i) / √(σ_i² + var(S̄_w,−i))`` with
``var(S̄_w,−i) = max(1/Σw_−i, s²_−i/N_−i)`` (the larger of the formal and the empirical
uncertainty of the baseline). For a constant source it has unit variance.

Examples
--------
>>> import numpy as np
>>> from dsa110_contimg.photometry.variability import RunningStats
>>> stats = RunningStats.empty(1)
>>> for flux in (1.0, 1.1, 0.9, 1.0):
...     stats.add(np.array([0]), np.array([flux]), np.array([0.05]))
>>> round(float(stats.eta()[0]), 3)
2.667
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RunningStats", "deviation_sigma"]


@dataclass
class RunningStats:
    """Sufficient statistics of many sources' light curves (arrays indexed by source)."""

    n: np.ndarray
    sum_w: np.ndarray
    sum_ws: np.ndarray
    sum_ws2: np.ndarray
    sum_s: np.ndarray
    sum_s2: np.ndarray

    @classmethod
    def empty(cls, n_sources: int) -> RunningStats:
        """Statistics of ``n_sources`` sources with no measurement yet."""
        zeros = [np.zeros(n_sources) for _ in range(5)]
        return cls(np.zeros(n_sources, dtype=np.int64), *zeros)

    @classmethod
    def from_measurements(cls, n_sources: int, index: np.ndarray, flux: np.ndarray,
                          error: np.ndarray) -> RunningStats:
        """Batch computation from all measurements (``index`` = source of each)."""
        stats = cls.empty(n_sources)
        stats.add(index, flux, error)
        return stats

    def add(self, index: np.ndarray, flux: np.ndarray, error: np.ndarray) -> None:
        """Add measurements (any order; non-finite flux or error ≤ 0 are ignored). O(1) each."""
        index, flux, error = (np.asarray(v) for v in (index, flux, error))
        good = np.isfinite(flux) & np.isfinite(error) & (error > 0)
        index, flux, error = index[good], flux[good], error[good]
        weight = 1.0 / error ** 2
        np.add.at(self.n, index, 1)
        np.add.at(self.sum_w, index, weight)
        np.add.at(self.sum_ws, index, weight * flux)
        np.add.at(self.sum_ws2, index, weight * flux ** 2)
        np.add.at(self.sum_s, index, flux)
        np.add.at(self.sum_s2, index, flux ** 2)

    def weighted_mean(self) -> np.ndarray:
        """Inverse-variance weighted mean flux (NaN without measurements)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum_ws / self.sum_w

    def eta(self) -> np.ndarray:
        """Weighted reduced χ² about the weighted mean (NaN for fewer than 2 points)."""
        n = self.n.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = n / (n - 1) * (self.sum_ws2 / n - self.sum_ws ** 2 / (n * self.sum_w))
        return np.where(self.n > 1, value, np.nan)

    def chi2_nu(self) -> np.ndarray:
        """χ²_ν of a constant-flux model (equal to `eta`)."""
        return self.eta()

    def std(self) -> np.ndarray:
        """Unweighted sample standard deviation of the fluxes."""
        n = self.n.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (self.sum_s2 - self.sum_s ** 2 / n) / (n - 1)
        return np.where(self.n > 1, np.sqrt(np.clip(var, 0.0, None)), np.nan)

    def modulation_index(self) -> np.ndarray:
        """V = sample standard deviation / mean flux."""
        n = self.n.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.std() / (self.sum_s / n)


def deviation_sigma(stats: RunningStats, index: np.ndarray, flux: np.ndarray,
                    error: np.ndarray) -> np.ndarray:
    """Significance of measurements against their source's *other* measurements.

    ``stats`` must already contain the measurements; each is removed from its source's sums
    (leave-one-out) before comparing, so the statistic grows with the deviation however few
    epochs there are. NaN when the source has fewer than 3 measurements.
    """
    index, flux, error = (np.asarray(v, dtype=float) for v in (index, flux, error))
    index = index.astype(np.int64)
    weight = 1.0 / error ** 2
    n = stats.n[index] - 1.0
    sum_w = stats.sum_w[index] - weight
    mean = (stats.sum_ws[index] - weight * flux) / sum_w
    sum_s = stats.sum_s[index] - flux
    sum_s2 = stats.sum_s2[index] - flux ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        scatter2 = np.clip((sum_s2 - sum_s ** 2 / n) / (n - 1), 0.0, None)
        baseline_var = np.maximum(1.0 / sum_w, scatter2 / n)
        value = (flux - mean) / np.sqrt(error ** 2 + baseline_var)
    return np.where(n >= 2, value, np.nan)
