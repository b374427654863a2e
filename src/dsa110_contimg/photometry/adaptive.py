"""Adaptive sub-band photometry: spectra binned to a target S/N, and spectral indices.

An observation's sub-band images (WSClean ``-channels-out`` products, or any images of one
field at different frequencies) are measured once each with the forced engine
(`measure_subbands`: every target in every sub-band, each image read once, with its own noise,
error calibration, restoring beam — which scales with frequency — and primary-beam response).
Then, per source:

* `adaptive_bins` merges adjacent sub-bands into bins that reach ``target_snr``: a bin's
  error is at most its flux according to the source's whole-band power-law spectrum divided by
  the target. The widths are chosen from the errors and that spectrum — never from a bin's own
  measured flux, which would stop merging on upward fluctuations and bias faint fluxes high —
  so a bin's measured S/N scatters about the target and its flux is unbiased. A bin's flux
  density is the inverse-variance weighted mean of its sub-bands (not their sum) at their
  weighted mean frequency. Sub-bands are taken as independent: separate
  frequencies have independent thermal noise (shared confusion or calibration errors are not
  modelled). A flagged or missing sub-band ends a bin unless gaps may be bridged. A source whose
  whole band stays below the target is one bin marked as an upper limit, with no flux.
* `fit_spectral_index` fits ``S = S₀ (ν/ν₀)^α`` to the bins by weighted least squares in flux
  density (not log flux, so faint bins do not bias α), with ν₀ the weighted mean frequency
  (where S₀ and α are uncorrelated); `combine_spectral_indices` combines epochs.

DSA-110's band is narrow (1.31–1.50 GHz; std(ln ν) ≈ 0.038), so one epoch's α error is about
``1 / (S/N · 0.038)``: 0.5 at S/N 50, 0.05 at S/N 500. `alpha_error_limit` gives that limit.

Examples
--------
>>> freq = np.linspace(1.31e9, 1.50e9, 16)
>>> flux = 0.1 * (freq / 1.4e9) ** -0.7
>>> fit = fit_spectral_index(freq, flux, np.full(16, 1e-3))
>>> round(fit.alpha, 3), round(fit.flux_at(1.4e9), 4)
(-0.7, 0.1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from dsa110_contimg.config import FittingOptions
from dsa110_contimg.imaging.fits_io import Image, load_image
from dsa110_contimg.photometry.flags import PhotometryFlag as F
from dsa110_contimg.photometry.forced import measure_many

__all__ = [
    "SpectralBin",
    "SpectralFit",
    "SubbandMeasurements",
    "adaptive_bins",
    "alpha_error_limit",
    "bin_light_curve",
    "combine_spectral_indices",
    "fit_spectral_index",
    "measure_subbands",
    "spectra",
]

#: Flags that make a sub-band measurement unusable for a spectrum.
UNUSABLE_FLAGS = int(F.OFF_IMAGE | F.NAN_IN_BOX | F.FIT_FAILED | F.NO_NOISE | F.LOW_PB)
#: Upper limits are the measured flux (if positive) plus this many σ.
LIMIT_SIGMA = 3.0
#: Bin widths follow the fitted spectrum only when α is known at least this well.
_MAX_ALPHA_ERR = 0.5


@dataclass
class SubbandMeasurements:
    """Every target measured in every sub-band (arrays indexed ``[source, sub-band]``,
    sub-bands in ascending frequency)."""

    freq_hz: np.ndarray
    flux_jy: np.ndarray
    flux_err_jy: np.ndarray
    flags: np.ndarray
    names: list[str]
    source_ids: np.ndarray
    images: list[Path]

    @property
    def usable(self) -> np.ndarray:
        """Finite, positive-error measurements without a disqualifying flag."""
        return (np.isfinite(self.flux_jy) & np.isfinite(self.flux_err_jy)
                & (self.flux_err_jy > 0) & ((self.flags & UNUSABLE_FLAGS) == 0))


@dataclass(frozen=True)
class SpectralBin:
    """Adjacent sub-bands merged: the weighted mean flux at the weighted mean frequency, or
    (``upper_limit``) only a limit when even the whole band is below the target S/N."""

    first: int
    last: int
    freq_hz: float
    flux_jy: float
    flux_err_jy: float
    upper_limit: bool = False
    limit_jy: float = math.nan

    @property
    def width(self) -> int:
        """Sub-bands in the bin."""
        return self.last - self.first + 1

    @property
    def snr(self) -> float:
        """Measured S/N of the bin (NaN for a limit)."""
        return self.flux_jy / self.flux_err_jy if not self.upper_limit else math.nan


@dataclass(frozen=True)
class SpectralFit:
    """``S = s0_jy (ν/ref_freq_hz)^alpha`` with 1σ errors (NaN when not constrained)."""

    alpha: float
    alpha_err: float
    s0_jy: float
    s0_err_jy: float
    ref_freq_hz: float
    chisq: float
    n_points: int

    def flux_at(self, freq_hz: float) -> float:
        """The fitted spectrum's flux density at ``freq_hz``."""
        return self.s0_jy * (freq_hz / self.ref_freq_hz) ** self.alpha


def measure_subbands(images: Sequence[str | Path | Image], ra_deg, dec_deg, *,
                     names: Sequence[str] | None = None,
                     source_ids: Sequence[int] | None = None,
                     neighbours: tuple[np.ndarray, ...] | None = None,
                     options: FittingOptions | None = None,
                     progress: Callable[[Path], None] | None = None) -> SubbandMeasurements:
    """Measure every target in every sub-band image (each read once).

    Parameters
    ----------
    images : sequence of path or Image
        One image per sub-band, any order (sorted here by frequency); each must carry its
        frequency (a FREQ axis or RESTFRQ).
    ra_deg, dec_deg : array_like
        ICRS targets.
    names, source_ids, neighbours, options
        As for `dsa110_contimg.photometry.forced.measure_many`.
    progress : callable, optional
        Called with each image's path once it is measured.

    Returns
    -------
    SubbandMeasurements
        Fluxes as `measure_many` reports them: primary-beam corrected when the image declares
        it is not (e.g. WSClean sub-band images with their beam track).

    Raises
    ------
    ValueError
        An image without a frequency, or two images at the same frequency.
    """
    if not images:
        raise ValueError("no sub-band images to measure")
    loaded = [image if isinstance(image, Image) else load_image(image) for image in images]
    for image in loaded:
        if image.freq_hz is None:
            raise ValueError(f"{image.path}: no frequency in the header (FREQ axis or RESTFRQ)")
    loaded.sort(key=lambda image: image.freq_hz)
    freqs = np.array([image.freq_hz for image in loaded], dtype=float)
    if np.any(np.diff(freqs) <= 0):
        raise ValueError(f"sub-band images share a frequency: {sorted(freqs)}")
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    shape = (ra.size, len(loaded))
    flux, err = np.full(shape, np.nan), np.full(shape, np.nan)
    flags = np.zeros(shape, dtype=np.int64)
    table = Table()
    for k, image in enumerate(loaded):
        table = measure_many(image, ra, dec, names=names, source_ids=source_ids,
                             neighbours=neighbours, options=options)
        flux[:, k] = np.asarray(table["peak_jyb"], dtype=float)
        err[:, k] = np.asarray(table["peak_err_jyb"], dtype=float)
        flags[:, k] = np.asarray(table["flags"], dtype=np.int64)
        if progress is not None:
            progress(image.path)
    return SubbandMeasurements(freqs, flux, err, flags, [str(n) for n in table["name"]],
                               np.asarray(table["source_id"], dtype=np.int64),
                               [image.path for image in loaded])


def spectra(measurements: SubbandMeasurements, *, target_snr: float = 5.0,
            max_width: int | None = None, bridge_gaps: bool = False) -> Table:
    """Every source's adaptive spectrum and spectral index, one row per bin.

    Columns: ``name, source_id, bin, first_subband, last_subband, freq_hz, flux_jy,
    flux_err_jy, snr, upper_limit, limit_jy`` and, per source (repeated on its rows),
    ``alpha, alpha_err, ref_freq_hz, ref_flux_jy, ref_flux_err_jy`` from `fit_spectral_index`
    over its detected bins (NaN with fewer than two). A source with no usable sub-band has
    no row.
    """
    rows = []
    usable = measurements.usable
    for i, name in enumerate(measurements.names):
        bins = adaptive_bins(measurements.freq_hz, measurements.flux_jy[i],
                             measurements.flux_err_jy[i], usable[i], target_snr=target_snr,
                             max_width=max_width, bridge_gaps=bridge_gaps)
        detected = [b for b in bins if not b.upper_limit]
        fit = fit_spectral_index([b.freq_hz for b in detected], [b.flux_jy for b in detected],
                                 [b.flux_err_jy for b in detected])
        for k, b in enumerate(bins):
            rows.append((name, int(measurements.source_ids[i]), k, b.first, b.last, b.freq_hz,
                         b.flux_jy, b.flux_err_jy, b.snr, b.upper_limit, b.limit_jy,
                         fit.alpha, fit.alpha_err, fit.ref_freq_hz, fit.s0_jy, fit.s0_err_jy))
    names = ("name", "source_id", "bin", "first_subband", "last_subband", "freq_hz", "flux_jy",
             "flux_err_jy", "snr", "upper_limit", "limit_jy", "alpha", "alpha_err",
             "ref_freq_hz", "ref_flux_jy", "ref_flux_err_jy")
    table = Table(rows=rows, names=names) if rows else Table(names=names)
    table.meta.update({"target_snr": target_snr, "images": [str(p) for p in
                                                           measurements.images]})
    return table


def adaptive_bins(freq_hz: np.ndarray, flux_jy: np.ndarray, flux_err_jy: np.ndarray,
                  usable: np.ndarray | None = None, *, target_snr: float = 5.0,
                  max_width: int | None = None, bridge_gaps: bool = False,
                  power_law: bool = True) -> list[SpectralBin]:
    """Merge one source's adjacent sub-bands into bins of at least ``target_snr``.

    Parameters
    ----------
    freq_hz, flux_jy, flux_err_jy : ndarray
        The source's sub-band measurements, ascending frequency.
    usable : ndarray of bool, optional
        Sub-bands that may be used (default: finite values with positive errors).
    target_snr : float
        S/N each bin should reach.
    max_width : int, optional
        Most sub-bands in one bin (default: the whole band).
    bridge_gaps : bool
        Let a bin run across unusable sub-bands (they are left out of it); otherwise a gap
        ends a bin.
    power_law : bool
        Widths follow the whole band's power-law spectrum (else its mean flux, as for the
        epochs of a light curve, `bin_light_curve`).

    Returns
    -------
    list of SpectralBin
        Ascending frequency. Empty when no sub-band is usable; one upper-limit bin when the
        whole band's S/N is below the target.
    """
    freq = np.asarray(freq_hz, dtype=float)
    flux = np.asarray(flux_jy, dtype=float)
    err = np.asarray(flux_err_jy, dtype=float)
    ok = np.isfinite(flux) & np.isfinite(err) & (err > 0)
    if usable is not None:
        ok &= np.asarray(usable, dtype=bool)
    if not ok.any():
        return []
    whole = _merge(freq, flux, err, np.flatnonzero(ok))
    if not whole.flux_jy / whole.flux_err_jy >= target_snr:
        limit = max(whole.flux_jy, 0.0) + LIMIT_SIGMA * whole.flux_err_jy
        return [SpectralBin(whole.first, whole.last, whole.freq_hz, math.nan,
                            whole.flux_err_jy, True, limit)]
    expected = (_expected_flux(freq, flux, err, ok, whole) if power_law
                else np.full(freq.shape, whole.flux_jy))
    bins: list[SpectralBin] = []
    for run in _runs(np.flatnonzero(ok), bridge_gaps):
        bins += _bin_run(freq, flux, err, run, expected, target_snr, max_width)
    return bins


def bin_light_curve(mjd: np.ndarray, flux_jy: np.ndarray, flux_err_jy: np.ndarray,
                    usable: np.ndarray | None = None, *, target_snr: float = 5.0) -> Table:
    """Merge consecutive epochs of a faint source until each point reaches ``target_snr``.

    As `adaptive_bins` over time: widths from the errors and the source's mean flux over all
    epochs (never from a point's own flux), each point the inverse-variance weighted mean flux
    at the weighted mean MJD; a light curve below the target even in total is one upper limit.

    Returns
    -------
    astropy.table.Table
        ``mjd, mjd_first, mjd_last, n_epochs, flux_jy, flux_err_jy, snr, upper_limit,
        limit_jy``, in time order.
    """
    order = np.argsort(np.asarray(mjd, dtype=float), kind="stable")
    t = np.asarray(mjd, dtype=float)[order]
    ok = None if usable is None else np.asarray(usable, dtype=bool)[order]
    bins = adaptive_bins(t, np.asarray(flux_jy, dtype=float)[order],
                         np.asarray(flux_err_jy, dtype=float)[order], ok,
                         target_snr=target_snr, bridge_gaps=True, power_law=False)
    valid = np.isfinite(np.asarray(flux_jy, dtype=float)[order]) & (
        np.asarray(flux_err_jy, dtype=float)[order] > 0)
    if ok is not None:
        valid &= ok
    rows = [(b.freq_hz, t[b.first], t[b.last], int(valid[b.first:b.last + 1].sum()), b.flux_jy,
             b.flux_err_jy, b.snr, b.upper_limit, b.limit_jy) for b in bins]
    names = ("mjd", "mjd_first", "mjd_last", "n_epochs", "flux_jy", "flux_err_jy", "snr",
             "upper_limit", "limit_jy")
    table = Table(rows=rows, names=names) if rows else Table(names=names)
    table.meta["target_snr"] = target_snr
    return table


def fit_spectral_index(freq_hz, flux_jy, flux_err_jy, *, ref_freq_hz: float | None = None,
                       ) -> SpectralFit:
    """Weighted least-squares fit of ``S = S₀ (ν/ν₀)^α`` in flux density.

    ``ν₀`` defaults to the inverse-variance weighted mean frequency (in ln ν), where S₀ and α
    are nearly uncorrelated. Errors are the formal 1σ errors (``absolute_sigma``); with fewer
    than two points, or none positive in total, α is NaN.
    """
    freq = np.asarray(freq_hz, dtype=float)
    flux = np.asarray(flux_jy, dtype=float)
    err = np.asarray(flux_err_jy, dtype=float)
    good = np.isfinite(freq) & np.isfinite(flux) & np.isfinite(err) & (err > 0)
    freq, flux, err = freq[good], flux[good], err[good]
    weights = 1.0 / err ** 2
    nan = SpectralFit(math.nan, math.nan, math.nan, math.nan, ref_freq_hz or math.nan,
                      math.nan, int(freq.size))
    if freq.size < 2 or np.sum(weights * flux) <= 0:
        return nan
    x = np.log(freq)
    nu0 = ref_freq_hz or float(np.exp(np.sum(weights * x) / np.sum(weights)))
    x = x - math.log(nu0)
    # Gauss-Newton on (ln S0, α) from the linear (small-α) solution; converges in a few steps
    # over a narrow band. Weights are on the flux residuals throughout.
    s0 = float(np.sum(weights * flux) / np.sum(weights))
    spread = float(np.sum(weights * x * x))
    alpha = float(np.sum(weights * (flux - s0) * x) / (s0 * spread)) if spread > 0 else 0.0
    for _ in range(20):
        model = s0 * np.exp(alpha * x)
        jac = np.stack([model / s0, model * x], axis=1)      # d/dS0, d/dα
        normal = jac.T @ (jac * weights[:, None])
        step = np.linalg.solve(normal, jac.T @ (weights * (flux - model)))
        s0, alpha = s0 + step[0], alpha + step[1]
        if s0 <= 0:
            return nan
        if abs(step[1]) < 1e-10 and abs(step[0]) < 1e-12 * abs(s0):
            break
    model = s0 * np.exp(alpha * x)
    jac = np.stack([model / s0, model * x], axis=1)
    covariance = np.linalg.inv(jac.T @ (jac * weights[:, None]))
    chisq = float(np.sum(weights * (flux - model) ** 2))
    return SpectralFit(float(alpha), float(math.sqrt(covariance[1, 1])), float(s0),
                       float(math.sqrt(covariance[0, 0])), nu0, chisq, int(freq.size))


def combine_spectral_indices(alpha, alpha_err) -> tuple[float, float, float]:
    """Inverse-variance mean of per-epoch spectral indices: (α, σ_α, χ²_ν of the epochs)."""
    a = np.asarray(alpha, dtype=float)
    e = np.asarray(alpha_err, dtype=float)
    good = np.isfinite(a) & np.isfinite(e) & (e > 0)
    if not good.any():
        return math.nan, math.nan, math.nan
    w = 1.0 / e[good] ** 2
    mean = float(np.sum(w * a[good]) / np.sum(w))
    dof = int(good.sum()) - 1
    chi2 = float(np.sum(w * (a[good] - mean) ** 2) / dof) if dof > 0 else math.nan
    return mean, float(1.0 / math.sqrt(np.sum(w))), chi2


def alpha_error_limit(snr: float, freq_hz: np.ndarray) -> float:
    """The smallest α error the band allows at a total S/N: ``1 / (S/N · std(ln ν))``."""
    return 1.0 / (snr * float(np.std(np.log(np.asarray(freq_hz, dtype=float)))))


def _merge(freq: np.ndarray, flux: np.ndarray, err: np.ndarray,
           members: np.ndarray) -> SpectralBin:
    w = 1.0 / err[members] ** 2
    total = float(np.sum(w))
    return SpectralBin(int(members[0]), int(members[-1]),
                       float(np.sum(w * freq[members]) / total),
                       float(np.sum(w * flux[members]) / total), float(1.0 / math.sqrt(total)))


def _expected_flux(freq: np.ndarray, flux: np.ndarray, err: np.ndarray, ok: np.ndarray,
                   whole: SpectralBin) -> np.ndarray:
    """Each sub-band's flux according to the whole band's power law, or its mean where α is
    not constrained to better than ``_MAX_ALPHA_ERR`` (faint sources)."""
    fit = fit_spectral_index(freq[ok], flux[ok], err[ok])
    if not fit.alpha_err <= _MAX_ALPHA_ERR:
        return np.full(freq.shape, whole.flux_jy)
    return fit.s0_jy * (freq / fit.ref_freq_hz) ** fit.alpha


def _runs(indices: np.ndarray, bridge_gaps: bool) -> list[np.ndarray]:
    """Usable sub-band indices split at gaps (one run when gaps may be bridged)."""
    if bridge_gaps:
        return [indices]
    return np.split(indices, np.flatnonzero(np.diff(indices) > 1) + 1)


def _bin_run(freq: np.ndarray, flux: np.ndarray, err: np.ndarray, run: np.ndarray,
             expected: np.ndarray, target_snr: float, max_width: int | None,
             ) -> list[SpectralBin]:
    """Contiguous bins over one run: each grows until its *expected* S/N (whole-band model
    flux over the bin's error) reaches the target; a short remainder joins the last bin, and a
    run too short to reach the target is an upper limit."""
    groups: list[list[int]] = []
    current: list[int] = []
    for index in run:
        current.append(int(index))
        if (_expected_snr(err, expected, current) >= target_snr
                or (max_width and len(current) >= max_width)):
            groups.append(current)
            current = []
    if current:
        if groups and not (max_width and len(groups[-1]) + len(current) > max_width):
            groups[-1] += current
        else:
            groups.append(current)
    bins = []
    for group in groups:
        merged = _merge(freq, flux, err, np.array(group))
        if _expected_snr(err, expected, group) < target_snr:
            limit = max(merged.flux_jy, 0.0) + LIMIT_SIGMA * merged.flux_err_jy
            merged = SpectralBin(merged.first, merged.last, merged.freq_hz, math.nan,
                                 merged.flux_err_jy, True, limit)
        bins.append(merged)
    return bins


def _expected_snr(err: np.ndarray, expected: np.ndarray, members: list[int]) -> float:
    w = 1.0 / err[members] ** 2
    return float(np.sum(w * expected[members]) / math.sqrt(np.sum(w)))
