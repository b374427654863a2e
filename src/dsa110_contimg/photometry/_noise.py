"""Background, rms and error calibration for forced photometry (private).

Noise is estimated once per image. Supplied rms/background maps are used as given (rms ≤ 0 or
NaN means "no valid noise"). Otherwise coarse grids of robust statistics are computed: tiles of
``noise_cell_fwhm`` major-axis FWHM, sampled on a stride of ~1/32 of a tile, clipped at 3σ about
the median, interpolated bilinearly to each position. Pixels where a known source's kernel
exceeds 1 % of its peak are left out. The rms grid is measured on the *residual* image (fitted
sources subtracted), so bright sources' wings do not inflate it; in confusion-limited tiles, where
the source masks leave fewer than a quarter of the samples, all residual pixels are used, and the
rms is then somewhat low because the fits absorbed part of the noise (those sources are in large
blend groups and carry the ``windowed_error`` flag). The optional background grid is measured
before fitting, on the image itself.

Errors of a beam-shaped fit on beam-correlated noise are larger than the white-noise formula
``rms / sqrt(Σ G²)`` by a factor κ. κ is calibrated per image in one of two ways:

``null-fits`` (default)
    Fit the beam kernel on a randomly shifted lattice of positions one beam apart that are at
    least 2.5 FWHM (through the elongated beam) from every known source and have a complete,
    NaN-free support; κ is the robust (MAD) width of the resulting "pulls"
    ``amplitude / (rms / sqrt(Σ G²))``. This captures whatever autocorrelation the image noise
    really has (sidelobes, gridding, confusion below the catalogue limit).
``analytic``
    Assume the noise autocorrelation equals the restoring beam (a cleaned image) and compute
    ``κ² = Σᵢⱼ Gᵢ Gⱼ ρ(i−j) / Σ G²`` exactly on the pixel grid.

The null-fit method falls back to the analytic one when fewer than 50 usable empty positions
exist (small or crowded images), and says so in the result metadata.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage, special

from dsa110_contimg.imaging.fits_io import Image
from dsa110_contimg.photometry import _kernels
from dsa110_contimg.photometry._geometry import KernelForms, kernel_forms
from dsa110_contimg.photometry._groups import close_pairs
from dsa110_contimg.photometry.options import FittingOptions

__all__ = [
    "ErrorScale",
    "NoiseModel",
    "beam_correlation_area_pix",
    "calibrate_error_scale",
    "grid_statistics",
    "known_source_mask",
    "noise_cell_pix",
    "support_qmax",
]

log = logging.getLogger(__name__)

_CLIP_SIGMA = 3.0
_MIN_NULL_FITS = 50
_NULL_EXCLUSION_FWHM = 2.5
_SOURCE_MASK_Q = math.log(100.0)
_MAX_ABSORBED_FRACTION = 0.9  # mask where a known kernel is above 1 % of its peak


def support_qmax(options: FittingOptions) -> float:
    """Quadratic-form value at the support edge: ``G = support_level`` there."""
    return -math.log(options.support_level)


def _clipped_mad_to_sigma(clip: float) -> float:
    """MAD → σ factor for a Gaussian truncated at ±clip σ."""
    inside = special.erf(clip / math.sqrt(2.0))
    return 1.0 / (math.sqrt(2.0) * special.erfinv(0.5 * inside))


def noise_cell_pix(image: Image, options: FittingOptions) -> int:
    """Side of the coarse noise-grid tiles in pixels."""
    major_pix = image.beam.major_arcsec / min(image.pixel_scale_arcsec)
    return int(max(16, round(options.noise_cell_fwhm * major_pix)))


def grid_statistics(
    data: np.ndarray, cell: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Robust median and rms grids of ``data`` (see the module docstring), NaN tiles filled."""
    stride = max(1, cell // 32)
    if mask is None:
        mask = np.zeros(data.shape, dtype=bool)
    med, rms = _kernels.robust_cell_stats(
        data, mask, cell, stride, _CLIP_SIGMA, _clipped_mad_to_sigma(_CLIP_SIGMA)
    )
    return _fill_from_nearest(med), _fill_from_nearest(rms)


def known_source_mask(shape: tuple[int, int], known: KernelForms) -> np.ndarray:
    """True where a known source's kernel is above 1 % of its peak."""
    ok = np.isfinite(known.x) & np.isfinite(known.A)
    return _kernels.mask_supports(
        shape, known.x[ok], known.y[ok], known.A[ok], known.B[ok], known.C[ok], _SOURCE_MASK_Q
    )


@dataclass
class NoiseModel:
    """Background and rms of one image: supplied maps, else coarse grids of ``cell_pix`` tiles.

    A missing background (no map, no grid) is zero; a missing rms is NaN.
    """

    cell_pix: int
    rms_map: np.ndarray | None = None
    background_map: np.ndarray | None = None
    rms_grid: np.ndarray | None = None
    background_grid: np.ndarray | None = None

    def at(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Background and rms (Jy/beam) at pixel positions; rms is NaN where unknown."""
        if self.rms_map is not None:
            rms = _nearest(self.rms_map, x, y)
            rms = np.where(rms > 0, rms, np.nan)
        else:
            rms = self._grid_value(self.rms_grid, x, y)
        if self.background_map is not None:
            bkg = np.nan_to_num(_nearest(self.background_map, x, y), nan=0.0)
        elif self.background_grid is not None:
            bkg = np.nan_to_num(self._grid_value(self.background_grid, x, y), nan=0.0)
        else:
            bkg = np.zeros(np.shape(x))
        return bkg, rms

    def _grid_value(self, grid: np.ndarray | None, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if grid is None or not np.isfinite(grid).any():
            return np.full(np.shape(x), np.nan)
        coords = np.vstack(
            [np.asarray(y) / self.cell_pix - 0.5, np.asarray(x) / self.cell_pix - 0.5]
        )
        return ndimage.map_coordinates(grid, coords, order=1, mode="nearest")


@dataclass(frozen=True)
class ErrorScale:
    """Factor κ turning white-noise fit errors into errors for beam-correlated noise."""

    value: float
    method: str
    n_null_fits: int
    analytic: float


def calibrate_error_scale(
    image: Image,
    residual: np.ndarray,
    noise: NoiseModel,
    known: KernelForms,
    options: FittingOptions,
    *,
    seed: int = 12345,
) -> ErrorScale:
    """Calibrate κ for ``image`` (see the module docstring for the two methods).

    Null fits are made on ``residual``, the image with the fitted sources subtracted.
    """
    qmax = support_qmax(options)
    centre = _centre_forms(image)
    analytic = _analytic_scale(centre, qmax)
    if options.error_calibration == "analytic" or options.n_null_fits == 0:
        return ErrorScale(analytic, "analytic", 0, analytic)
    pulls = _null_fit_pulls(image, residual, noise, known, options, qmax, seed)
    if pulls.size < _MIN_NULL_FITS:
        log.warning(
            "%s: only %d usable empty positions for error calibration; using the "
            "analytic beam-autocorrelation factor %.3f",
            image.path,
            pulls.size,
            analytic,
        )
        return ErrorScale(analytic, "analytic (too few null fits)", int(pulls.size), analytic)
    kappa = 1.4826 * float(np.median(np.abs(pulls - np.median(pulls))))
    return ErrorScale(kappa, "null-fits", int(pulls.size), analytic)


def _null_fit_pulls(
    image: Image,
    residual: np.ndarray,
    noise: NoiseModel,
    known: KernelForms,
    options: FittingOptions,
    qmax: float,
    seed: int,
) -> np.ndarray:
    """Pulls of beam fits on a randomly shifted lattice of empty positions.

    Lattice points are one major-axis FWHM apart (nearly independent fits); a point is empty
    when no known source lies within `_NULL_EXCLUSION_FWHM` beams of it, measured through the
    elongated beam, and its whole support is on valid pixels.
    """
    ny, nx = image.shape
    centre = _centre_forms(image)
    spacing = float(centre.major_fwhm_pix()[0])
    rng = np.random.default_rng(seed)
    gx = np.arange(rng.uniform(0, spacing), nx - 0.5, spacing)
    gy = np.arange(rng.uniform(0, spacing), ny - 0.5, spacing)
    x, y = (v.ravel() for v in np.meshgrid(gx, gy))
    # A random subset is enough: most candidates survive the exclusion in ordinary fields.
    order = rng.permutation(x.size)[: 4 * options.n_null_fits]
    ra, dec = image.pixel_to_sky(x[order], y[order])
    forms = kernel_forms(image, ra, dec)
    keep = np.isfinite(forms.A)
    ok_known = np.isfinite(known.x) & np.isfinite(known.y)
    if ok_known.any():
        both = KernelForms(
            *(
                np.concatenate([getattr(known, a)[ok_known], getattr(forms, a)])
                for a in ("x", "y", "A", "B", "C")
            )
        )
        pairs = close_pairs(both, _NULL_EXCLUSION_FWHM)
        n_known = int(ok_known.sum())
        cross = (pairs.i < n_known) & (pairs.j >= n_known)
        keep[pairs.j[cross] - n_known] = False
    forms = forms.subset(keep)
    bkg, rms = noise.at(forms.x, forms.y)
    sumgg, sumgd, _, lost, _, _ = _kernels.source_sums(
        residual, forms.x, forms.y, forms.A, forms.B, forms.C, qmax, bkg
    )
    usable = np.flatnonzero((lost == 0.0) & (sumgg > 0.0) & np.isfinite(rms))
    usable = usable[: options.n_null_fits]
    return sumgd[usable] / (rms[usable] * np.sqrt(sumgg[usable]))


def beam_correlation_area_pix(image: Image) -> float:
    """Pixels per independent beam-correlated noise element (∫G² of the beam) at the centre."""
    return float(_centre_forms(image).correlation_area_pix()[0])


def _centre_forms(image: Image) -> KernelForms:
    ny, nx = image.shape
    ra, dec = image.pixel_to_sky(np.array([(nx - 1) / 2.0]), np.array([(ny - 1) / 2.0]))
    return kernel_forms(image, ra, dec)


def _analytic_scale(forms: KernelForms, qmax: float) -> float:
    """κ for noise whose autocorrelation is the beam, on the truncated pixel kernel."""
    A, B, C = float(forms.A[0]), float(forms.B[0]), float(forms.C[0])
    det = A * C - B * B
    hx = int(math.ceil(2.0 * math.sqrt(qmax * C / det))) + 1
    hy = int(math.ceil(2.0 * math.sqrt(qmax * A / det))) + 1
    dy, dx = np.mgrid[-hy : hy + 1, -hx : hx + 1].astype(float)
    q = A * dx * dx + 2.0 * B * dx * dy + C * dy * dy
    kernel = np.where(q <= qmax, np.exp(-q), 0.0)
    acf = np.exp(-q)  # noise autocorrelation = beam, for lags up to the stamp size
    autocorr = _autocorrelation(kernel)
    return math.sqrt(float(np.sum(autocorr * acf)) / float(np.sum(kernel**2)))


def _autocorrelation(kernel: np.ndarray) -> np.ndarray:
    """Autocorrelation of a 2-D ``kernel`` at the lags of its own grid (its centre at zero lag).

    The same as ``scipy.signal.fftconvolve(kernel, kernel[::-1, ::-1], mode="same")``, written
    with `scipy.fft` so that measuring does not import `scipy.signal` (and `scipy.stats` with it).
    """
    full = [2 * n - 1 for n in kernel.shape]
    fast = [fft.next_fast_len(n, real=True) for n in full]
    spectrum = fft.rfftn(kernel, fast) * fft.rfftn(kernel[::-1, ::-1], fast)
    product = fft.irfftn(spectrum, fast)
    start = [(f - n) // 2 for f, n in zip(full, kernel.shape)]
    return product[start[0] : start[0] + kernel.shape[0], start[1] : start[1] + kernel.shape[1]]


def _nearest(values: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ny, nx = values.shape
    i = np.clip(np.rint(np.asarray(x)).astype(np.int64), 0, nx - 1)
    j = np.clip(np.rint(np.asarray(y)).astype(np.int64), 0, ny - 1)
    return values[j, i].astype(float)


def _fill_from_nearest(grid: np.ndarray) -> np.ndarray:
    """Replace NaN cells by their nearest finite cell (all-NaN grids stay NaN)."""
    bad = ~np.isfinite(grid)
    if not bad.any() or bad.all():
        return grid
    _, (iy, ix) = ndimage.distance_transform_edt(bad, return_indices=True)
    return grid[iy, ix]
