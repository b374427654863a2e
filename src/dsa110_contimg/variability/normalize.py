"""Per-image flux normalization against an ensemble of stable reference sources.

The correction factor ``C`` of an image is the robust ensemble ratio of the references'
measured fluxes to their baseline fluxes: the inverse-variance weighted mean of the ratios after
iterative σ-clipping (MAD scale, 3σ), so a reference that varies in this image is dropped. Its
uncertainty is the formal weighted-mean error, scaled up by √χ²_ν of the kept ratios when they
scatter more than their errors say. Measurements are normalized as ``S_n = S / C`` with
``σ_n² = (σ/C)² + (S σ_C / C²)²``; raw fluxes are kept.

References are chosen by `select_references` (the brightest in this image, spread over the
field) and compared with `reference_baselines`: a reference's own mean normalized flux once it
has enough history, else its catalogue flux rescaled to the same flux scale.

Examples
--------
>>> import numpy as np
>>> from dsa110_contimg.variability.normalize import correction_factor, normalize_measurement
>>> rng = np.random.default_rng(0)
>>> baseline = rng.uniform(0.05, 0.5, 20)
>>> factor = correction_factor(1.05 * baseline, 0.001 * np.ones(20), baseline)
>>> round(factor.value, 3), factor.n_used
(1.05, 20)
>>> round(normalize_measurement(0.105, 0.002, factor.value, factor.error)[0], 6)
0.1
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CorrectionFactor",
    "correction_factor",
    "normalize_measurement",
    "reference_baselines",
    "select_references",
]

_CLIP_SIGMA = 3.0
_MAX_ITERATIONS = 10


@dataclass(frozen=True)
class CorrectionFactor:
    """An image's flux correction: value, uncertainty and which references were used."""

    value: float
    error: float
    used: np.ndarray
    n_used: int


def correction_factor(
    measured: np.ndarray,
    measured_err: np.ndarray,
    baseline: np.ndarray,
    baseline_err: np.ndarray | None = None,
    *,
    min_references: int = 3,
) -> CorrectionFactor:
    """Robust ensemble ratio ``measured / baseline`` of reference sources.

    Parameters
    ----------
    measured, measured_err : ndarray
        The references' fluxes in this image and their errors.
    baseline, baseline_err : ndarray
        Their baseline fluxes (from their own history, or the catalogue) and errors.
    min_references : int
        Fewer usable references than this gives ``value = NaN``.

    Returns
    -------
    CorrectionFactor
        ``used`` is a boolean mask over the inputs (finite, positive baseline, kept by clipping).
    """
    measured, measured_err, baseline = (
        np.asarray(v, dtype=float) for v in (measured, measured_err, baseline)
    )
    baseline_err = (
        np.zeros_like(baseline) if baseline_err is None else np.asarray(baseline_err, dtype=float)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = measured / baseline
        ratio_err = np.abs(ratio) * np.hypot(measured_err / measured, baseline_err / baseline)
    used = np.isfinite(ratio) & np.isfinite(ratio_err) & (ratio_err > 0) & (baseline > 0)
    for _ in range(_MAX_ITERATIONS):
        if used.sum() < min_references:
            return CorrectionFactor(math.nan, math.nan, used, int(used.sum()))
        centre = np.median(ratio[used])
        scale = 1.4826 * np.median(np.abs(ratio[used] - centre))
        scale = max(scale, float(np.median(ratio_err[used])))
        keep = used & (np.abs(ratio - centre) <= _CLIP_SIGMA * scale)
        if np.array_equal(keep, used):
            break
        used = keep
    if used.sum() < min_references:
        return CorrectionFactor(math.nan, math.nan, used, int(used.sum()))
    weight = 1.0 / ratio_err[used] ** 2
    value = float(np.sum(weight * ratio[used]) / np.sum(weight))
    formal = 1.0 / math.sqrt(float(np.sum(weight)))
    n = int(used.sum())
    chi2_nu = float(np.sum(weight * (ratio[used] - value) ** 2)) / (n - 1) if n > 1 else 1.0
    return CorrectionFactor(value, formal * math.sqrt(max(chi2_nu, 1.0)), used, n)


def normalize_measurement(
    flux: np.ndarray | float, flux_err: np.ndarray | float, factor: float, factor_err: float
) -> tuple:
    """``(S/C, √((σ/C)² + (S σ_C/C²)²))`` for fluxes ``S ± σ`` and a factor ``C ± σ_C``."""
    flux = np.asarray(flux, dtype=float)
    flux_err = np.asarray(flux_err, dtype=float)
    normalized = flux / factor
    error = np.hypot(flux_err / factor, flux * factor_err / factor**2)
    if normalized.ndim == 0:
        return float(normalized), float(error)
    return normalized, error


def select_references(
    x: np.ndarray, y: np.ndarray, priority: np.ndarray, n_max: int, *, cells: int = 3
) -> np.ndarray:
    """Indices of at most ``n_max`` references, spread over the field.

    The candidates' extent is cut into ``cells × cells`` boxes; the best candidate (highest
    ``priority``, e.g. S/N) of every box is taken, then the second best of every box, and so
    on, so that no part of the field is left without references while the brightest are
    preferred.

    Parameters
    ----------
    x, y : ndarray
        Candidate positions (any planar coordinates, e.g. offsets from the image centre).
    priority : ndarray
        Higher is better.
    n_max : int
        How many to keep.
    cells : int
        Boxes per axis.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.0, 0.1, 0.2, 9.0]); y = np.zeros(4)
    >>> sorted(select_references(x, y, np.array([5.0, 4.0, 3.0, 1.0]), 2).tolist())
    [0, 3]
    """
    x, y, priority = (np.asarray(v, dtype=float) for v in (x, y, priority))
    if x.size == 0:
        return np.zeros(0, dtype=np.int64)
    cell = np.zeros(x.size, dtype=np.int64)
    for coordinate in (x, y):
        span = np.ptp(coordinate)
        step = span / cells if span > 0 else 1.0
        cell = cell * cells + np.clip(
            ((coordinate - coordinate.min()) / step).astype(np.int64), 0, cells - 1
        )
    order = np.lexsort((-priority, cell))
    sorted_cell = cell[order]
    starts = np.r_[0, np.flatnonzero(sorted_cell[1:] != sorted_cell[:-1]) + 1]
    rank = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
    chosen = order[np.lexsort((-priority[order], rank))]
    return chosen[:n_max]


def reference_baselines(
    history_mean: np.ndarray,
    history_err: np.ndarray,
    history_n: np.ndarray,
    catalog_flux: np.ndarray,
    catalog_err: np.ndarray,
    *,
    min_history: int,
) -> tuple:
    """Baseline flux of each reference, from its own history or else its catalogue flux.

    A reference with at least ``min_history`` normalized measurements has its mean as baseline.
    The others use their catalogue flux times the median ratio history/catalogue of the
    references that have both (1 when fewer than 3 have both), so that both kinds share one
    flux scale.

    Returns
    -------
    baseline, baseline_err : ndarray
    from_history : ndarray of bool
    """
    history_mean, history_err, catalog_flux, catalog_err = (
        np.asarray(v, dtype=float) for v in (history_mean, history_err, catalog_flux, catalog_err)
    )
    from_history = (np.asarray(history_n) >= min_history) & np.isfinite(history_mean)
    both = from_history & np.isfinite(catalog_flux) & (catalog_flux > 0)
    scale = float(np.median(history_mean[both] / catalog_flux[both])) if both.sum() >= 3 else 1.0
    baseline = np.where(from_history, history_mean, scale * catalog_flux)
    baseline_err = np.where(from_history, history_err, scale * np.abs(catalog_err))
    return baseline, baseline_err, from_history
