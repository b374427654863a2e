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

from dsa110_contimg.errors import InputError
from dsa110_contimg.imaging.fits_io import Image, load_image
from dsa110_contimg.imaging.primary_beam import PrimaryBeam
from dsa110_contimg.photometry.adaptive_columns import SPECTRAL_FIT_COLUMNS, SPECTRUM_COLUMNS
from dsa110_contimg.photometry.flags import PhotometryFlag as F
from dsa110_contimg.photometry.forced import PeakFluxes, measure_peaks, target_labels
from dsa110_contimg.photometry.options import FittingOptions

__all__ = [
    "SPECTRUM_COLUMNS",
    "SpectralBin",
    "SpectralFit",
    "SubbandMeasurements",
    "adaptive_bins",
    "alpha_error_limit",
    "bin_light_curve",
    "bin_stored_light_curve",
    "combine_spectral_indices",
    "fit_spectral_index",
    "fit_spectral_indices",
    "measure_subbands",
    "spectra",
]

#: Flags that make a sub-band measurement unusable for a spectrum.
UNUSABLE_FLAGS = int(F.OFF_IMAGE | F.NAN_IN_BOX | F.FIT_FAILED | F.NO_NOISE | F.LOW_PB)
#: Upper limits are the measured flux (if positive) plus this many σ.
LIMIT_SIGMA = 3.0
#: Bin widths follow the fitted spectrum only when α is known at least this well.
_MAX_ALPHA_ERR = 0.5
#: Curvature β is reported only when its 1σ error is at most this (see `spectra`).
MAX_CURVATURE_ERR = 0.5


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
        return (
            np.isfinite(self.flux_jy)
            & np.isfinite(self.flux_err_jy)
            & (self.flux_err_jy > 0)
            & ((self.flags & UNUSABLE_FLAGS) == 0)
        )


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
    """``S = s0_jy (ν/ref_freq_hz)^(alpha + curvature · ln(ν/ref_freq_hz))`` with 1σ errors
    (NaN when not constrained; ``curvature`` is NaN, and not part of the spectrum, when it was
    not fitted)."""

    alpha: float
    alpha_err: float
    s0_jy: float
    s0_err_jy: float
    ref_freq_hz: float
    chisq: float
    n_points: int
    curvature: float = math.nan
    curvature_err: float = math.nan

    def flux_at(self, freq_hz: float) -> float:
        """The fitted spectrum's flux density at ``freq_hz``."""
        x = math.log(freq_hz / self.ref_freq_hz)
        beta = self.curvature if math.isfinite(self.curvature) else 0.0
        return self.s0_jy * math.exp((self.alpha + beta * x) * x)


def measure_subbands(
    images: Sequence[str | Path | Image],
    ra_deg,
    dec_deg,
    *,
    names: Sequence[str] | None = None,
    source_ids: Sequence[int] | None = None,
    neighbours: tuple[np.ndarray, ...] | None = None,
    options: FittingOptions | None = None,
    primary_beam: PrimaryBeam | None = None,
    progress: Callable[[Path], None] | None = None,
) -> SubbandMeasurements:
    """Measure every target in every sub-band image (each read once).

    Each image is measured by `dsa110_contimg.photometry.forced.measure_peaks` (the fit,
    noise, error calibration and flags of `dsa110_contimg.photometry.forced.measure_many`,
    without the diagnostics a spectrum does not use); the targets' pixel positions and WCS
    Jacobians are computed once for images on one pixel grid.

    Parameters
    ----------
    images : sequence of path or Image
        One image per sub-band, any order (sorted here by frequency); each must carry its
        frequency (a FREQ axis or RESTFRQ). Paths are read one at a time, so memory holds one
        image.
    ra_deg, dec_deg : array_like
        ICRS targets.
    names, source_ids, neighbours, options, primary_beam
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
    InputError
        An image without a frequency, or two images at the same frequency.
    """
    if not images:
        raise InputError("no sub-band images to measure")
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    labels, ids = target_labels(names, source_ids, ra.size)
    shape = (ra.size, len(images))
    flux, err = np.full(shape, np.nan), np.full(shape, np.nan)
    flags = np.zeros(shape, dtype=np.int64)
    freqs = np.full(len(images), np.nan)
    paths: list[Path] = []
    measured: PeakFluxes | None = None
    for k, given in enumerate(images):  # one image in memory at a time
        image = given if isinstance(given, Image) else load_image(given)
        if image.freq_hz is None:
            raise InputError(f"{image.path}: no frequency in the header (FREQ axis or RESTFRQ)")
        measured = measure_peaks(
            image,
            ra,
            dec,
            neighbours=neighbours,
            options=options,
            primary_beam=primary_beam,
            geometry=measured.geometry if measured is not None else None,
        )
        freqs[k] = image.freq_hz
        paths.append(image.path)
        flux[:, k], err[:, k], flags[:, k] = (
            measured.peak_jyb,
            measured.peak_err_jyb,
            measured.flags,
        )
        if progress is not None:
            progress(image.path)
        del image
    order = np.argsort(freqs)
    if np.any(np.diff(freqs[order]) <= 0):
        raise InputError(f"sub-band images share a frequency: {sorted(freqs)}")
    freqs, flux, err, flags = freqs[order], flux[:, order], err[:, order], flags[:, order]
    return SubbandMeasurements(
        freqs, flux, err, flags, [str(n) for n in labels], ids, [paths[k] for k in order]
    )


def spectra(
    measurements: SubbandMeasurements,
    *,
    target_snr: float = 5.0,
    max_width: int | None = None,
    bridge_gaps: bool = False,
    max_curvature_err: float = MAX_CURVATURE_ERR,
) -> Table:
    """Every source's adaptive spectrum and spectral index, one row per bin.

    Columns: ``name, source_id, bin, first_subband, last_subband, freq_hz, flux_jy,
    flux_err_jy, snr, upper_limit, limit_jy`` and, per source (repeated on its rows),
    ``alpha, alpha_err, ref_freq_hz, ref_flux_jy, ref_flux_err_jy, chisq`` from
    `fit_spectral_index` over its detected bins (NaN with fewer than two),
    ``curvature, curvature_err``: where β of ``S₀ (ν/ν₀)^(α + β ln(ν/ν₀))`` fitted to the
    same bins has an error of at most ``max_curvature_err``, that curved fit is reported (α is
    then its slope at ν₀), elsewhere the power law (β NaN; over DSA-110's band
    σ_β ≈ 1 / (S/N · 0.0014), so only sources of S/N ≳ 1500 qualify at 0.5); and
    ``n_subbands``, its usable sub-bands. A source with no usable sub-band has no row.
    """
    usable = measurements.usable
    freq = measurements.freq_hz
    flux, err = measurements.flux_jy, measurements.flux_err_jy
    expected = _expected_fluxes(freq, flux, err, usable)
    bins = _bin_sources(freq, flux, err, usable, expected, target_snr, max_width, bridge_gaps)
    points = np.full(
        (len(measurements.names), max(int(bins.index.max(initial=0)) + 1, 1), 3), np.nan
    )
    points[bins.source, bins.index] = np.column_stack(
        [bins.freq_hz, bins.flux_jy, bins.flux_err_jy]
    )
    fits = _fit_arrays(points[..., 0], points[..., 1], points[..., 2])
    curved = _fit_arrays(points[..., 0], points[..., 1], points[..., 2], curvature=True)
    use_curved = curved.curvature_err <= max_curvature_err
    per_source = {
        column: np.where(use_curved, getattr(curved, column), getattr(fits, column))
        for column in SPECTRAL_FIT_COLUMNS
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = bins.flux_jy / bins.flux_err_jy
    source = bins.source
    table = Table(
        {
            "name": np.asarray(measurements.names, dtype=str)[source],
            "source_id": np.asarray(measurements.source_ids, dtype=np.int64)[source],
            "bin": bins.index,
            "first_subband": bins.first,
            "last_subband": bins.last,
            "freq_hz": bins.freq_hz,
            "flux_jy": bins.flux_jy,
            "flux_err_jy": bins.flux_err_jy,
            "snr": snr,
            "upper_limit": bins.upper_limit,
            "limit_jy": bins.limit_jy,
            **{name: values[source] for name, values in per_source.items()},
            "n_subbands": usable.sum(axis=1)[source],
        }
    )
    table.meta.update({"target_snr": target_snr, "images": [str(p) for p in measurements.images]})
    return table


def adaptive_bins(
    freq_hz: np.ndarray,
    flux_jy: np.ndarray,
    flux_err_jy: np.ndarray,
    usable: np.ndarray | None = None,
    *,
    target_snr: float = 5.0,
    max_width: int | None = None,
    bridge_gaps: bool = False,
    power_law: bool = True,
    expected_jy: np.ndarray | None = None,
) -> list[SpectralBin]:
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
    expected_jy : ndarray, optional
        That spectrum per sub-band, when already known (as `spectra` computes it for all
        sources at once).

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
    if expected_jy is not None:
        expected = np.asarray(expected_jy, dtype=float)
    elif power_law:
        expected = _expected_fluxes(freq, flux[None, :], err[None, :], ok[None, :])[0]
    else:
        w = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
        mean = float(np.sum(w * np.where(ok, flux, 0.0)) / w.sum()) if ok.any() else math.nan
        expected = np.full(freq.shape, mean)
    bins = _bin_sources(
        freq,
        flux[None, :],
        err[None, :],
        ok[None, :],
        expected[None, :],
        target_snr,
        max_width,
        bridge_gaps,
    )
    return [
        SpectralBin(int(first), int(last), float(f), float(s), float(e), bool(upper), float(limit))
        for first, last, f, s, e, upper, limit in zip(
            bins.first,
            bins.last,
            bins.freq_hz,
            bins.flux_jy,
            bins.flux_err_jy,
            bins.upper_limit,
            bins.limit_jy,
        )
    ]


def bin_light_curve(
    mjd: np.ndarray,
    flux_jy: np.ndarray,
    flux_err_jy: np.ndarray,
    usable: np.ndarray | None = None,
    *,
    target_snr: float = 5.0,
) -> Table:
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
    bins = adaptive_bins(
        t,
        np.asarray(flux_jy, dtype=float)[order],
        np.asarray(flux_err_jy, dtype=float)[order],
        ok,
        target_snr=target_snr,
        bridge_gaps=True,
        power_law=False,
    )
    valid = np.isfinite(np.asarray(flux_jy, dtype=float)[order]) & (
        np.asarray(flux_err_jy, dtype=float)[order] > 0
    )
    if ok is not None:
        valid &= ok
    rows = [
        (
            b.freq_hz,
            t[b.first],
            t[b.last],
            int(valid[b.first : b.last + 1].sum()),
            b.flux_jy,
            b.flux_err_jy,
            b.snr,
            b.upper_limit,
            b.limit_jy,
        )
        for b in bins
    ]
    names = (
        "mjd",
        "mjd_first",
        "mjd_last",
        "n_epochs",
        "flux_jy",
        "flux_err_jy",
        "snr",
        "upper_limit",
        "limit_jy",
    )
    table = Table(rows=rows, names=names) if rows else Table(names=names)
    table.meta["target_snr"] = target_snr
    return table


def bin_stored_light_curve(curve: Table, target_snr: float) -> Table:
    """A stored light curve (`dsa110_contimg.database.products.light_curve` columns) merged
    over epochs to ``target_snr`` with `bin_light_curve`.

    The normalized flux is merged when every epoch has one, else the raw peak;
    ``meta["flux"]`` says which (``normalized_flux`` or ``peak``).
    """
    normalized = np.asarray(curve["peak_norm_jyb"], dtype=float)
    column = "normalized_flux" if len(curve) and np.isfinite(normalized).all() else "peak"
    flux, err = (
        (normalized, np.asarray(curve["peak_norm_err_jyb"], dtype=float))
        if column == "normalized_flux"
        else (
            np.asarray(curve["peak_jyb"], dtype=float),
            np.asarray(curve["peak_err_jyb"], dtype=float),
        )
    )
    table = bin_light_curve(
        np.asarray(curve["mjd_mid"], dtype=float), flux, err, target_snr=target_snr
    )
    table.meta.update(curve.meta)
    table.meta["flux"] = column
    return table


def fit_spectral_index(
    freq_hz,
    flux_jy,
    flux_err_jy,
    *,
    ref_freq_hz: float | None = None,
) -> SpectralFit:
    """Weighted least-squares fit of ``S = S₀ (ν/ν₀)^α`` in flux density.

    ``ν₀`` defaults to the inverse-variance weighted mean frequency (in ln ν), where S₀ and α
    are nearly uncorrelated. Errors are the formal 1σ errors (``absolute_sigma``); with fewer
    than two points, or none positive in total, α is NaN.
    """
    freq = np.atleast_2d(np.asarray(freq_hz, dtype=float))
    fits = fit_spectral_indices(
        freq,
        np.atleast_2d(np.asarray(flux_jy, dtype=float)),
        np.atleast_2d(np.asarray(flux_err_jy, dtype=float)),
        ref_freq_hz=ref_freq_hz,
    )
    return fits[0]


def fit_spectral_indices(
    freq_hz: np.ndarray,
    flux_jy: np.ndarray,
    flux_err_jy: np.ndarray,
    *,
    ref_freq_hz: float | None = None,
    curvature: bool = False,
) -> list[SpectralFit]:
    """`fit_spectral_index` of many sources at once: arrays ``[source, point]`` (points with a
    non-finite value or error are left out, so rows may hold different numbers of points).

    With ``curvature``, the fitted spectrum is ``S₀ (ν/ν₀)^(α + β ln(ν/ν₀))`` and β is
    reported (`SpectralFit.curvature`) for sources with at least four points; its α is then
    the slope at ν₀ of the curved spectrum. Gauss-Newton for all sources together, from the
    linear small-α solution; over a narrow band it converges in a few steps.
    """
    fits = _fit_arrays(freq_hz, flux_jy, flux_err_jy, ref_freq_hz=ref_freq_hz, curvature=curvature)
    return [
        SpectralFit(
            float(fits.alpha[i]),
            float(fits.alpha_err[i]),
            float(fits.ref_flux_jy[i]),
            float(fits.ref_flux_err_jy[i]),
            float(fits.ref_freq_hz[i]),
            float(fits.chisq[i]),
            int(fits.n_points[i]),
            float(fits.curvature[i]),
            float(fits.curvature_err[i]),
        )
        for i in range(fits.alpha.size)
    ]


@dataclass(frozen=True)
class _Fits:
    """`SpectralFit` values of many sources, as arrays named like `SPECTRAL_FIT_COLUMNS`
    (NaN where not fitted)."""

    alpha: np.ndarray
    alpha_err: np.ndarray
    ref_flux_jy: np.ndarray
    ref_flux_err_jy: np.ndarray
    ref_freq_hz: np.ndarray
    chisq: np.ndarray
    n_points: np.ndarray
    curvature: np.ndarray
    curvature_err: np.ndarray


def _fit_arrays(
    freq_hz: np.ndarray,
    flux_jy: np.ndarray,
    flux_err_jy: np.ndarray,
    *,
    ref_freq_hz: float | None = None,
    curvature: bool = False,
) -> _Fits:
    """The fits of `fit_spectral_indices`, as arrays.

    Each source is iterated until its own step is below 1e-10 in the exponents and 1e-12
    relative in S₀ (at most 30 steps), so sources that converged early cost no more steps.
    """
    freq, flux, err = np.broadcast_arrays(
        np.asarray(freq_hz, dtype=float),
        np.asarray(flux_jy, dtype=float),
        np.asarray(flux_err_jy, dtype=float),
    )
    good = np.isfinite(freq) & np.isfinite(flux) & np.isfinite(err) & (err > 0) & (freq > 0)
    w = np.where(good, 1.0 / np.where(good, err, 1.0) ** 2, 0.0)
    flux = np.where(good, flux, 0.0)
    x = np.where(good, np.log(np.where(good, freq, 1.0)), 0.0)
    w_sum = w.sum(axis=1)
    n_points = good.sum(axis=1)
    n_terms = 3 if curvature else 2
    with np.errstate(invalid="ignore", divide="ignore"):
        ln_nu0 = (
            np.full(len(w), math.log(ref_freq_hz)) if ref_freq_hz else (w * x).sum(axis=1) / w_sum
        )
        x = np.where(good, x - ln_nu0[:, None], 0.0)
        s0 = (w * flux).sum(axis=1) / w_sum
        spread = (w * x * x).sum(axis=1)
        alpha = (w * (flux - s0[:, None]) * x).sum(axis=1) / (s0 * spread)
    min_points = 4 if curvature else 2
    fitted = (n_points >= min_points) & (s0 > 0) & (spread > 0) & np.isfinite(alpha)
    params = np.zeros((len(w), n_terms))
    params[:, 0], params[:, 1] = np.where(fitted, s0, 1.0), np.where(fitted, alpha, 0.0)
    powers = x[:, :, None] ** np.arange(1, n_terms)
    active = np.flatnonzero(fitted)
    for _ in range(30):
        if not active.size:
            break
        p, pw, wa = params[active], powers[active], w[active]
        normal, model, jacobian = _normal_equations(p, pw, wa)
        gradient = ((wa * (flux[active] - model))[..., None] * jacobian).sum(axis=1)
        ok = np.abs(np.linalg.det(normal)) > 0
        normal[~ok] = np.eye(n_terms)
        step = np.where(ok[:, None], np.linalg.solve(normal, gradient[..., None])[..., 0], 0.0)
        p = p + step
        ok &= (p[:, 0] > 0) & np.all(np.isfinite(p), axis=1)
        p[~ok] = np.r_[1.0, np.zeros(n_terms - 1)]
        params[active] = p
        fitted[active] = ok
        moving = np.any(np.abs(step[:, 1:]) >= 1e-10, axis=1) | (
            np.abs(step[:, 0]) > 1e-12 * np.abs(p[:, 0])
        )
        active = active[ok & moving]
    normal, model, _ = _normal_equations(params, powers, w)
    normal[~fitted] = np.eye(n_terms)
    variance = np.diagonal(np.linalg.inv(normal), axis1=1, axis2=2)
    chisq = (w * (flux - model) ** 2).sum(axis=1)
    valid = fitted & np.all(variance > 0, axis=1)
    with np.errstate(invalid="ignore"):
        errors = np.where(valid[:, None], np.sqrt(variance), np.nan)
    values = np.where(valid[:, None], params, np.nan)
    nan = np.full(len(w), np.nan)
    return _Fits(
        alpha=values[:, 1],
        alpha_err=errors[:, 1],
        ref_flux_jy=values[:, 0],
        ref_flux_err_jy=errors[:, 0],
        ref_freq_hz=np.exp(ln_nu0),
        chisq=np.where(valid, chisq, np.nan),
        n_points=n_points,
        curvature=values[:, 2] if curvature else nan,
        curvature_err=errors[:, 2] if curvature else nan,
    )


def _normal_equations(
    params: np.ndarray,
    powers: np.ndarray,
    w: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal matrix ``Jᵀ W J`` (``[source, k, k]``), model ``[source, point]`` and Jacobian
    ``[source, point, k]`` of ``s0 · exp(Σ_j c_j x^(j+1))`` at ``params = (s0, c_0, …)``
    (``powers[..., j] = x^(j+1)``)."""
    shape = np.exp((powers * params[:, None, 1:]).sum(axis=2))
    model = params[:, :1] * shape
    jacobian = np.concatenate([shape[..., None], model[..., None] * powers], axis=2)
    weighted = w[..., None] * jacobian
    n_terms = params.shape[1]
    normal = np.empty((len(params), n_terms, n_terms))
    for k in range(n_terms):  # the few terms of the symmetric matrix, each over all sources
        for m in range(k, n_terms):
            normal[:, k, m] = normal[:, m, k] = (weighted[..., k] * jacobian[..., m]).sum(axis=1)
    return normal, model, jacobian


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


def _expected_fluxes(
    freq: np.ndarray, flux: np.ndarray, err: np.ndarray, usable: np.ndarray
) -> np.ndarray:
    """Each source's flux per sub-band (arrays ``[source, sub-band]``) according to its whole
    band's power law, or its whole-band mean where α is not constrained to better than
    ``_MAX_ALPHA_ERR`` (faint sources)."""
    ok = usable & np.isfinite(flux) & np.isfinite(err) & (err > 0)
    fits = _fit_arrays(np.where(ok, freq[None, :], np.nan), np.where(ok, flux, np.nan), err)
    w = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * np.where(ok, flux, 0.0)).sum(axis=1) / w.sum(axis=1)
        power_law = (
            fits.ref_flux_jy[:, None] * (freq / fits.ref_freq_hz[:, None]) ** fits.alpha[:, None]
        )
    return np.where((fits.alpha_err <= _MAX_ALPHA_ERR)[:, None], power_law, mean[:, None])


@dataclass(frozen=True)
class _Bins:
    """Bins of many sources (one element per bin, by source then frequency)."""

    source: np.ndarray
    index: np.ndarray
    first: np.ndarray
    last: np.ndarray
    freq_hz: np.ndarray
    flux_jy: np.ndarray
    flux_err_jy: np.ndarray
    upper_limit: np.ndarray
    limit_jy: np.ndarray


def _bin_sources(
    freq: np.ndarray,
    flux: np.ndarray,
    err: np.ndarray,
    ok: np.ndarray,
    expected: np.ndarray,
    target_snr: float,
    max_width: int | None,
    bridge_gaps: bool,
) -> _Bins:
    """Adaptive bins of every source (arrays ``[source, sub-band]``).

    Each source's sub-bands are grouped by `_group_labels` (a short scan in plain Python);
    the groups' weighted means, frequencies, errors and expected S/N are then summed for all
    sources at once. A source below the target over its whole band is one upper-limit group
    of all its usable sub-bands; a group whose expected S/N stays below the target (a run
    between gaps too short to reach it) is an upper limit too.
    """
    n, m = flux.shape
    w = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
    weighted_flux = w * np.where(ok, flux, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        whole_snr = weighted_flux.sum(axis=1) / np.sqrt(w.sum(axis=1))
    detectable = ok.any(axis=1) & (whole_snr >= target_snr)
    weighted_model = w * np.where(ok, expected, 0.0)
    labels = np.where(ok, 0, -1)
    for i in np.flatnonzero(detectable):
        labels[i] = _group_labels(
            w[i].tolist(),
            weighted_model[i].tolist(),
            ok[i].tolist(),
            target_snr,
            max_width,
            bridge_gaps,
        )
    n_groups = labels.max(axis=1, initial=-1) + 1
    offsets = np.concatenate([[0], np.cumsum(n_groups)])
    rows, cols = np.nonzero(labels >= 0)
    key = offsets[rows] + labels[rows, cols]
    total = int(offsets[-1])
    sums = [
        np.bincount(key, weights=values[rows, cols], minlength=total)
        for values in (w, w * freq[None, :], weighted_flux, weighted_model)
    ]
    w_sum, freq_sum, flux_sum, model_sum = sums
    first = np.full(total, m, dtype=np.int64)
    last = np.full(total, -1, dtype=np.int64)
    np.minimum.at(first, key, cols)
    np.maximum.at(last, key, cols)
    source = np.repeat(np.arange(n), n_groups)
    mean = flux_sum / w_sum
    error = 1.0 / np.sqrt(w_sum)
    upper = ~detectable[source] | (model_sum / np.sqrt(w_sum) < target_snr)
    return _Bins(
        source,
        np.arange(total) - offsets[source],
        first,
        last,
        freq_sum / w_sum,
        np.where(upper, np.nan, mean),
        error,
        upper,
        np.where(upper, np.maximum(mean, 0.0) + LIMIT_SIGMA * error, np.nan),
    )


def _group_labels(
    weights: list[float],
    weighted_model: list[float],
    ok: list[bool],
    target_snr: float,
    max_width: int | None,
    bridge_gaps: bool,
) -> list[int]:
    """One source's bin label per sub-band (−1 where unusable), in ascending frequency.

    A bin grows until its *expected* S/N (the whole-band model flux over the bin's error)
    reaches the target or it holds ``max_width`` sub-bands; an unusable sub-band ends a run
    unless gaps are bridged; a run's short remainder joins the run's last bin (when the width
    allows), else it is a bin of its own.
    """
    labels = [-1] * len(ok)
    label, w_sum, m_sum = 0, 0.0, 0.0
    current: list[int] = []
    previous_size = 0  # size of the last closed bin of the current run (0: none yet)

    def end_run() -> None:
        nonlocal label, current, w_sum, m_sum, previous_size
        if current:
            joins = previous_size and not (max_width and previous_size + len(current) > max_width)
            for k in current:
                labels[k] = label - 1 if joins else label
            label += 0 if joins else 1
        current, w_sum, m_sum, previous_size = [], 0.0, 0.0, 0

    for k, usable in enumerate(ok):
        if not usable:
            if not bridge_gaps:
                end_run()
            continue
        current.append(k)
        w_sum += weights[k]
        m_sum += weighted_model[k]
        if m_sum / math.sqrt(w_sum) >= target_snr or (max_width and len(current) >= max_width):
            for j in current:
                labels[j] = label
            label, previous_size = label + 1, len(current)
            current, w_sum, m_sum = [], 0.0, 0.0
    end_run()
    return labels
