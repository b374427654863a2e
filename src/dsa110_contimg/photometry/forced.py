"""Forced photometry: beam-shaped linear fits at fixed catalogue positions.

Method
------
Each position gets the restoring beam as an elliptical Gaussian kernel centred at its exact
sub-pixel position and oriented through the local WCS. The peak (Jy/beam) is the amplitude of a
linear least-squares fit of the kernel to the background-subtracted pixels of its *support*
(where the kernel is above ``support_level``); NaN pixels and pixels off the image are left out
of the fit. Within a support the noise is treated as uniform (the local rms), so the fit is a
matched filter.

Neighbours (targets and any extra known sources) closer than ``group_separation_fwhm`` beams,
measured along their separation through the elongated beam, form connected groups that are
solved jointly as one small linear system; every member gets its own amplitude and its own error
from the inverse normal matrix. Groups larger than ``max_dense_group`` are solved sparsely, and
their errors come from the inverse of each member's local window of the system.

Errors are ``κ · rms · sqrt((NᵀN)⁻¹ₖₖ)`` where κ converts white-noise errors into errors for
beam-correlated noise (see `dsa110_contimg.photometry._noise` for its calibration). χ² is
the residual sum of squares over the target's support in units of the local variance, divided
by the number of pixels per independent noise element (``∫G²``), with ``dof`` the matching
effective number of independent elements less the κ²/∫G² that the fitted amplitude absorbs.

Unmeasurable positions (off the image, too little valid kernel, singular fit) get NaN and a flag,
never 0, and never stop the others. Negative peaks are kept.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from astropy.table import Table, vstack
from scipy import sparse
from scipy.sparse.linalg import splu

from dsa110_contimg.errors import UnavailableError
from dsa110_contimg.imaging.fits_io import Beam, Image, check_image, load_image, load_plane
from dsa110_contimg.imaging.gaussians import covariance
from dsa110_contimg.imaging.primary_beam import BeamTrack, PrimaryBeam
from dsa110_contimg.photometry import _kernels
from dsa110_contimg.photometry._geometry import KernelForms, PixelGeometry, pixel_geometry
from dsa110_contimg.photometry._groups import Pairs, close_pairs, components
from dsa110_contimg.photometry._noise import (
    ErrorScale,
    NoiseModel,
    beam_correlation_area_pix,
    calibrate_error_scale,
    grid_statistics,
    known_source_mask,
    noise_cell_pix,
    support_qmax,
)
from dsa110_contimg.photometry.flags import PhotometryFlag as F
from dsa110_contimg.photometry.flags import decode_flags
from dsa110_contimg.photometry.options import FittingOptions

__all__ = [
    "MEASUREMENT_COLUMNS",
    "ForcedMeasurement",
    "MeasurementCancelled",
    "PeakFluxes",
    "measure_forced_peak",
    "measure_many",
    "measure_in_chunks",
    "measure_peaks",
    "target_labels",
]

log = logging.getLogger(__name__)

#: Output columns of `measure_many`, in order, with their units.
MEASUREMENT_COLUMNS: dict[str, str | None] = {
    "name": None,
    "source_id": None,
    "ra_deg": "deg",
    "dec_deg": "deg",
    "x_pix": "pix",
    "y_pix": "pix",
    "peak_jyb": "Jy/beam",
    "peak_err_jyb": "Jy/beam",
    "int_flux_jy": "Jy",
    "int_flux_err_jy": "Jy",
    "local_rms_jyb": "Jy/beam",
    "background_jyb": "Jy/beam",
    "snr": None,
    "chisq": None,
    "dof": None,
    "group_id": None,
    "group_size": None,
    "edge_dist_pix": "pix",
    "pb_response": None,
    "flags": None,
}

_NAN_BLOCK = 32
#: A neighbour's kernel is modelled inside a support wherever it exceeds this level there.
_TAIL_LEVEL = 1e-3
#: Random probes for the trace of a large group's covariance.
_TRACE_PROBES = 32
#: Columns divided by the primary-beam response on images that are not PB-corrected.
_PB_SCALED_COLUMNS = (
    "peak_jyb",
    "peak_err_jyb",
    "int_flux_jy",
    "int_flux_err_jy",
    "local_rms_jyb",
    "background_jyb",
)


@dataclass(frozen=True)
class ForcedMeasurement:
    """One forced measurement (a row of `measure_many`'s table, with decoded flags)."""

    name: str
    source_id: int
    ra_deg: float
    dec_deg: float
    x_pix: float
    y_pix: float
    peak_jyb: float
    peak_err_jyb: float
    int_flux_jy: float
    int_flux_err_jy: float
    local_rms_jyb: float
    background_jyb: float
    snr: float
    chisq: float
    dof: float
    group_id: int
    group_size: int
    edge_dist_pix: float
    pb_response: float
    flags: int
    flag_names: tuple[str, ...]
    method: str = "forced-beam-fit"

    @property
    def success(self) -> bool:
        """True when the peak was measured (it may still carry quality flags)."""
        return math.isfinite(self.peak_jyb)


def measure_forced_peak(
    image: Image | str | Path, ra_deg: float, dec_deg: float, **kwargs
) -> ForcedMeasurement:
    """Measure one position; keyword arguments are those of `measure_many`.

    Examples
    --------
    >>> m = measure_forced_peak("image.fits", 150.0, 37.2)  # doctest: +SKIP
    >>> m.peak_jyb, m.peak_err_jyb, m.flag_names  # doctest: +SKIP
    """
    row = measure_many(image, [ra_deg], [dec_deg], **kwargs)[0]
    values = {
        name: row[name].item() if hasattr(row[name], "item") else row[name]
        for name in MEASUREMENT_COLUMNS
    }
    values["name"] = str(values["name"])
    return ForcedMeasurement(**values, flag_names=tuple(decode_flags(values["flags"])))


def measure_many(
    image: Image | str | Path,
    ra_deg: Sequence[float] | np.ndarray,
    dec_deg: Sequence[float] | np.ndarray,
    *,
    names: Sequence[str] | None = None,
    source_ids: Sequence[int] | None = None,
    shapes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    shapes_convolved: bool = False,
    neighbours: tuple[np.ndarray, ...] | None = None,
    rms_map: np.ndarray | str | Path | None = None,
    background_map: np.ndarray | str | Path | None = None,
    pb_map: np.ndarray | str | Path | None = None,
    beam: Beam | None = None,
    options: FittingOptions | None = None,
    primary_beam: PrimaryBeam | None = None,
    cancel: threading.Event | None = None,
) -> Table:
    """Forced peak fluxes at many positions on one image, in one pass over the data.

    Parameters
    ----------
    image : Image, str or Path
        The image (read once if a path).
    ra_deg, dec_deg : array_like
        ICRS target positions in degrees.
    names, source_ids : sequence, optional
        Carried into the output (default: ``"src<index>"`` and -1).
    shapes : (ndarray, ndarray, ndarray), optional
        Intrinsic (deconvolved) FWHM major and minor axes in arcsec and PA in degrees of each
        target, as catalogues give them; the kernel is that shape convolved with the beam, so
        resolved sources get their true peak and integrated flux. NaN or 0 means unresolved.
    shapes_convolved : bool, optional
        The ``shapes`` (targets and neighbours) are image-plane sizes already convolved with the
        beam, as source finders such as Aegean, Selavy and PyBDSF report them; they are used as
        the kernel as they are (0 or NaN still means the beam).
    neighbours : tuple of ndarray, optional
        ``(ra, dec)`` or ``(ra, dec, major, minor, pa)`` of other known sources in the field,
        fitted jointly with overlapping targets but not reported (e.g. the rest of the
        catalogue around a list of targets).
    rms_map, background_map : ndarray or path, optional
        Maps on the image's pixel grid; otherwise estimated (see `FittingOptions`).
    pb_map : ndarray or path, optional
        Primary-beam response map; otherwise the beam track in the image header, or the
        ``primary_beam`` model (with ``options.model_pb``).
    beam : Beam, optional
        Override the image beam (required when a path without beam keywords is given).
    options : FittingOptions, optional
        Fit options; defaults from `FittingOptions()`.
    primary_beam : PrimaryBeam, optional
        The dishes' beam, used with ``options.model_pb`` for images neither PB-corrected nor
        carrying a beam track (default `PrimaryBeam()`: Gaussian, 4.65 m).
    cancel : threading.Event, optional
        Once set (e.g. by another thread at a deadline), the measurement stops at the end of
        its current stage (maps, geometry, noise, fit, residual, calibration, quality) with
        `MeasurementCancelled`.

    Returns
    -------
    astropy.table.Table
        One row per input position, in input order, with the columns of
        `MEASUREMENT_COLUMNS`; ``meta`` records the image, observation MJD, beam and the error
        calibration.

    Raises
    ------
    ValueError
        If the coordinate arrays have different lengths or names/ids do not match them.
    MeasurementCancelled
        ``cancel`` was set before the measurement ended.
    dsa110_contimg.imaging.fits_io.ImageReadError
        The pixels are all blank, zero or constant, or the beam makes no sense for the image
        (`dsa110_contimg.imaging.fits_io.check_image`).
    """
    options = options or FittingOptions()
    if not isinstance(image, Image):
        image = load_image(image, beam=beam)
    elif beam is not None:
        image = dataclasses.replace(image, beam=beam)
    check_image(image)
    ra, dec, n_target, intrinsic = _positions(ra_deg, dec_deg, shapes, neighbours)
    names_arr, ids_arr = target_labels(names, source_ids, n_target)
    clock = _StageClock(cancel)
    rms_arr = _as_map(rms_map, image)
    bkg_arr = _as_map(background_map, image)
    pb_arr = _as_map(pb_map, image)
    clock.lap("maps")
    fit, result, scale = _measure(
        image,
        ra,
        dec,
        intrinsic,
        shapes_convolved,
        n_target,
        options,
        clock,
        rms_arr=rms_arr,
        bkg_arr=bkg_arr,
    )
    table = _assemble(fit, result, names_arr, ids_arr, ra[:n_target], dec[:n_target])
    table["pb_response"], low_pb = _target_pb(image, fit, ra, dec, pb_arr, primary_beam)
    table["flags"][low_pb] |= int(F.LOW_PB)
    pb_applied = _apply_pb(table, image)
    table.meta.update(
        {
            "image": str(image.path),
            "mjd_mid": image.mjd_mid,
            "freq_hz": image.freq_hz,
            "beam_major_arcsec": image.beam.major_arcsec,
            "beam_minor_arcsec": image.beam.minor_arcsec,
            "beam_pa_deg": image.beam.pa_deg,
            "error_scale": scale.value,
            "error_calibration": scale.method,
            "error_scale_analytic": scale.analytic,
            "n_null_fits": scale.n_null_fits,
            "method": "forced-beam-fit",
            "timing_s": clock.laps,
            "pb_applied": pb_applied,
        }
    )
    return table


@dataclass(frozen=True)
class PeakFluxes:
    """Peak flux densities of many positions on one image (see `measure_peaks`).

    Attributes
    ----------
    peak_jyb, peak_err_jyb, flags : ndarray
        Per target, in input order, as in `measure_many`'s table.
    geometry : PixelGeometry
        The pixel positions and WCS Jacobians of the targets and neighbours, for the next
        image on the same grid.
    """

    peak_jyb: np.ndarray
    peak_err_jyb: np.ndarray
    flags: np.ndarray
    geometry: PixelGeometry


def measure_peaks(
    image: Image,
    ra_deg: Sequence[float] | np.ndarray,
    dec_deg: Sequence[float] | np.ndarray,
    *,
    neighbours: tuple[np.ndarray, ...] | None = None,
    options: FittingOptions | None = None,
    primary_beam: PrimaryBeam | None = None,
    geometry: PixelGeometry | None = None,
) -> PeakFluxes:
    """`measure_many`'s peaks, errors and flags of unresolved targets, without diagnostics.

    The same fit, noise, error calibration, flags and primary-beam correction as
    `measure_many` without target ``shapes``, so the values are identical to its
    ``peak_jyb``, ``peak_err_jyb`` and ``flags``; χ², degrees of freedom, distances to the
    edge and integrated fluxes are not computed. For the images of one field on one grid
    (an observation's sub-band images) the targets' pixel geometry is computed once.

    Parameters
    ----------
    image : Image
        The image.
    ra_deg, dec_deg : array_like
        ICRS target positions in degrees.
    neighbours, options, primary_beam
        As for `measure_many`.
    geometry : PixelGeometry, optional
        `PeakFluxes.geometry` of an earlier measurement of the same positions, used when it
        describes this image's grid (`PixelGeometry.describes`), else recomputed.

    Returns
    -------
    PeakFluxes

    Raises
    ------
    ValueError
        If the coordinate arrays have different lengths.
    dsa110_contimg.imaging.fits_io.ImageReadError
        As for `measure_many`.
    """
    options = options or FittingOptions()
    check_image(image)
    ra, dec, n_target, intrinsic = _positions(ra_deg, dec_deg, None, neighbours)
    fit, result, _ = _measure(
        image,
        ra,
        dec,
        intrinsic,
        False,
        n_target,
        options,
        _StageClock(),
        geometry=geometry,
        diagnostics=False,
    )
    peak, err, _, flags = _peaks(fit, result)
    response, low_pb = _target_pb(image, fit, ra, dec, None, primary_beam)
    flags[low_pb] |= int(F.LOW_PB)
    factor = _pb_factor(response, image)
    if factor is not None:
        peak, err = peak * factor, err * factor
    return PeakFluxes(peak, err, flags.astype(np.int64), fit.geometry)


def target_labels(
    names: Sequence[str] | None, source_ids: Sequence[int] | None, n: int
) -> tuple[list, np.ndarray]:
    """Names and source ids of ``n`` targets (default ``"src<index>"`` and -1).

    Raises
    ------
    ValueError
        ``names`` or ``source_ids`` do not have ``n`` entries.
    """
    names_list = _labels(names, n, "names", default=[f"src{i}" for i in range(n)])
    ids = np.asarray(_labels(source_ids, n, "source_ids", default=[-1] * n), dtype=np.int64)
    return names_list, ids


def _positions(
    ra_deg: Sequence[float] | np.ndarray,
    dec_deg: Sequence[float] | np.ndarray,
    shapes: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    neighbours: tuple[np.ndarray, ...] | None,
) -> tuple[np.ndarray, np.ndarray, int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Targets followed by neighbours: RA, Dec, the number of targets and intrinsic shapes."""
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    n_target = ra.size
    if dec.size != n_target:
        raise ValueError(f"ra_deg has {n_target} values but dec_deg has {dec.size}")
    intrinsic = _shape_arrays(shapes, n_target)
    if neighbours is not None:
        ra = np.concatenate([ra, np.asarray(neighbours[0], dtype=float)])
        dec = np.concatenate([dec, np.asarray(neighbours[1], dtype=float)])
        n_extra = ra.size - n_target
        extra = _shape_arrays(neighbours[2:5] if len(neighbours) >= 5 else None, n_extra)
        intrinsic = tuple(np.concatenate(pair) for pair in zip(intrinsic, extra))
    return ra, dec, n_target, intrinsic


def _measure(
    image: Image,
    ra: np.ndarray,
    dec: np.ndarray,
    intrinsic: tuple[np.ndarray, np.ndarray, np.ndarray],
    shapes_convolved: bool,
    n_target: int,
    options: FittingOptions,
    clock: _StageClock,
    *,
    rms_arr: np.ndarray | None = None,
    bkg_arr: np.ndarray | None = None,
    geometry: PixelGeometry | None = None,
    diagnostics: bool = True,
) -> tuple[_ForcedFit, dict[str, np.ndarray], ErrorScale]:
    """The engine: fit, noise, error calibration and quality of every position on ``image``.

    Without ``diagnostics`` the χ², degrees of freedom and edge distances are left NaN.
    Each stage is timed by ``clock``.
    """
    fit = _ForcedFit(image, ra, dec, intrinsic, shapes_convolved, n_target, options, geometry)
    known = fit.forms.subset(fit.on_image)
    clock.lap("geometry")
    cell = noise_cell_pix(image, options)
    background_grid = None
    source_mask = known_source_mask(image.shape, known)
    if bkg_arr is None and options.background == "grid":
        background_grid, _ = grid_statistics(image.data, cell, source_mask)
    clock.lap("noise")
    fit.solve(NoiseModel(cell, background_map=bkg_arr, background_grid=background_grid))
    clock.lap("fit")
    residual = fit.residual()
    rms_grid = None
    if rms_arr is None:
        _, rms_grid = grid_statistics(residual, cell, source_mask)
    noise = NoiseModel(
        cell,
        rms_map=rms_arr,
        background_map=bkg_arr,
        background_grid=background_grid,
        rms_grid=rms_grid,
    )
    if diagnostics:
        fit.find_blanks()
    clock.lap("residual")
    scale = calibrate_error_scale(image, residual, noise, known, options)
    clock.lap("calibration")
    result = fit.errors_and_quality(noise, scale, residual, diagnostics=diagnostics)
    clock.lap("quality")
    return fit, result, scale


def measure_in_chunks(
    image: Image | str | Path,
    ra_deg: Sequence[float] | np.ndarray,
    dec_deg: Sequence[float] | np.ndarray,
    *,
    chunk_size: int = 5000,
    names: Sequence[str] | None = None,
    source_ids: Sequence[int] | None = None,
    options: FittingOptions | None = None,
    **kwargs,
) -> Table:
    """`measure_many` of any number of positions with memory bounded by ``chunk_size``.

    The positions are split into bands of the image (by pixel row) of at most ``chunk_size``
    targets; each band is measured by `measure_many` with the targets of the adjacent rows
    within two grouping distances (``group_separation_fwhm`` major-axis FWHM) as neighbours, so
    blends across a band's edge are still fitted jointly. Noise grids and the error
    calibration are estimated per band. With ``chunk_size`` or fewer positions this is exactly
    `measure_many`.

    Parameters
    ----------
    image, ra_deg, dec_deg, names, source_ids, options
        As for `measure_many`.
    chunk_size : int
        Most targets measured at once.
    **kwargs
        Keyword arguments of `measure_many` that do not depend on the targets (``rms_map``,
        ``background_map``, ``pb_map``, ``beam``, ``primary_beam``, ``cancel``: checked at
        every stage of every band, so a cancelled measurement starts no further band).

    Returns
    -------
    astropy.table.Table
        One row per position in input order (``meta`` of the first band, with
        ``n_chunks``).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    options = options or FittingOptions()
    if not isinstance(image, Image):
        image = load_image(image, beam=kwargs.pop("beam", None))
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    n = ra.size
    names = list(names) if names is not None else [f"src{i}" for i in range(n)]
    ids = list(source_ids) if source_ids is not None else [-1] * n
    if n <= chunk_size:
        return measure_many(image, ra, dec, names=names, source_ids=ids, options=options, **kwargs)
    _x, y = image.sky_to_pixel(ra, dec)
    y = np.where(np.isfinite(y), y, -np.inf)  # unplaceable positions go into the first band
    order = np.argsort(y, kind="stable")
    y_sorted = y[order]
    margin = (
        2.0
        * options.group_separation_fwhm
        * image.beam.major_arcsec
        / min(image.pixel_scale_arcsec)
    )
    parts = []
    for start in range(0, n, chunk_size):
        members = order[start : start + chunk_size]
        low = np.searchsorted(y_sorted, y_sorted[start] - margin, side="left")
        high = np.searchsorted(y_sorted, y_sorted[members.size + start - 1] + margin, side="right")
        nearby = np.concatenate([order[low:start], order[start + members.size : high]])
        part = measure_many(
            image,
            ra[members],
            dec[members],
            names=[names[i] for i in members],
            source_ids=[ids[i] for i in members],
            neighbours=(ra[nearby], dec[nearby]) if nearby.size else None,
            options=options,
            **kwargs,
        )
        part["_input_row"] = members
        parts.append(part)
    table = vstack(parts, metadata_conflicts="silent")
    table = table[np.argsort(np.asarray(table["_input_row"]))]
    table.remove_column("_input_row")
    table.meta = dict(parts[0].meta, n_chunks=len(parts))
    return table


class MeasurementCancelled(UnavailableError):
    """A measurement stopped because its ``cancel`` event was set (its caller's deadline
    passed)."""


class _StageClock:
    """Wall-clock seconds per named stage, for the result metadata and benchmarks; the
    end of each stage is where a cancelled measurement stops."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()
        self._cancel = cancel

    def lap(self, stage: str) -> None:
        """Record the stage that just ended.

        Raises
        ------
        MeasurementCancelled
            The measurement's ``cancel`` event is set.
        """
        now = time.perf_counter()
        self.laps[stage] = now - self._last
        self._last = now
        if self._cancel is not None and self._cancel.is_set():
            raise MeasurementCancelled(f"measurement cancelled after its {stage} stage")


class _ForcedFit:
    """State of one `measure_many` call: positions, merging, fitting and grouping."""

    def __init__(
        self,
        image: Image,
        ra: np.ndarray,
        dec: np.ndarray,
        shapes: tuple[np.ndarray, np.ndarray, np.ndarray],
        shapes_convolved: bool,
        n_target: int,
        options: FittingOptions,
        geometry: PixelGeometry | None = None,
    ) -> None:
        self.image = image
        self.options = options
        self.n_target = n_target
        self.qmax = support_qmax(options)
        valid_coords = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0)
        if not valid_coords[:n_target].all():
            log.warning(
                "%s: %d target positions have invalid coordinates (NaN or |dec| > 90); "
                "they are flagged off_image",
                image.path,
                int((~valid_coords[:n_target]).sum()),
            )
        safe_ra, safe_dec = np.where(valid_coords, ra, 0.0), np.where(valid_coords, dec, 0.0)
        if geometry is None or not geometry.describes(image, safe_ra, safe_dec):
            geometry = pixel_geometry(image, safe_ra, safe_dec)
        self.geometry = geometry
        beam = image.beam
        if shapes_convolved or np.any(shapes[0] > 0):
            beam_cov = covariance(beam.major_arcsec, beam.minor_arcsec, beam.pa_deg)[0]
            kernel_cov = covariance(*shapes)
            if shapes_convolved:
                kernel_cov[~(shapes[1] > 0)] = beam_cov
            else:
                kernel_cov += beam_cov
            self.forms = geometry.kernel_forms(kernel_cov)
            self.peak_to_int = np.sqrt(np.linalg.det(kernel_cov) / np.linalg.det(beam_cov))
            self.kappa_ratio = _correlated_noise_factor(
                kernel_cov, beam_cov
            ) / _correlated_noise_factor(beam_cov[None], beam_cov)
        else:  # all unresolved: every kernel is the beam
            self.forms = geometry.kernel_forms(
                covariance(beam.major_arcsec, beam.minor_arcsec, beam.pa_deg)
            )
            self.peak_to_int = np.ones(ra.size)
            self.kappa_ratio = np.ones(ra.size)
        self.beam_area_pix = float(beam_correlation_area_pix(image))
        ny, nx = image.shape
        f = self.forms
        self.on_image = (
            valid_coords
            & np.isfinite(f.x)
            & np.isfinite(f.y)
            & np.isfinite(f.A)
            & (f.x >= -0.5)
            & (f.x < nx - 0.5)
            & (f.y >= -0.5)
            & (f.y < ny - 0.5)
        )
        self.rep = self._merge_representatives()

    def _merge_representatives(self) -> np.ndarray:
        """Index of the position each one is fitted as (itself unless merged)."""
        rep = np.arange(self.forms.x.size)
        on = np.flatnonzero(self.on_image)
        if self.options.merge_separation_fwhm <= 0 or on.size < 2:
            return rep
        pairs = close_pairs(self.forms.subset(on), self.options.merge_separation_fwhm)
        if pairs.i.size == 0:
            return rep
        labels = components(on.size, pairs)
        first = np.full(labels.max() + 1, np.iinfo(np.int64).max)
        np.minimum.at(first, labels, on)  # targets come first, so a target represents
        rep[on] = first[labels]
        return rep

    def solve(self, background: NoiseModel) -> None:
        """Fit the amplitudes of all representatives (no noise estimate needed)."""
        n = self.forms.x.size
        self.fit_idx = np.flatnonzero(self.on_image & (self.rep == np.arange(n)))
        forms = self.forms.subset(self.fit_idx)
        self.bkg, _ = background.at(forms.x, forms.y)
        sumgg, self.sumgd, self.sumdd, lost, self.nvalid, self.bits = _kernels.source_sums(
            self.image.data, forms.x, forms.y, forms.A, forms.B, forms.C, self.qmax, self.bkg
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            self.usable = (sumgg > 0) & (sumgg / (sumgg + lost) >= self.options.min_kernel_fraction)
        self.use = np.flatnonzero(self.usable)
        self.solution = self._solve(forms.subset(self.use), sumgg[self.use], self.sumgd[self.use])

    def residual(self) -> np.ndarray:
        """The image minus every fitted source (to where its kernel is 0.1 % of its peak)."""
        f = self.solution["forms"]
        return _kernels.subtract_models(
            self.image.data,
            f.x,
            f.y,
            f.A,
            f.B,
            f.C,
            math.log(1.0 / _TAIL_LEVEL),
            self.solution["amp"],
            4 * numba.get_num_threads(),
        )

    def find_blanks(self) -> None:
        """Map which tiles of the image hold NaN pixels (an image-level pass)."""
        self.nan_blocks = _kernels.nan_blocks(self.image.data, _NAN_BLOCK)

    def errors_and_quality(
        self, noise: NoiseModel, scale: ErrorScale, residual: np.ndarray, *, diagnostics: bool
    ) -> dict[str, np.ndarray]:
        """Per-position arrays (indexed like the input) with errors and flags, and with
        ``diagnostics`` χ², degrees of freedom and edge distances (else NaN)."""
        n = self.forms.x.size
        fit_idx, use, solution = self.fit_idx, self.use, self.solution
        _, rms = noise.at(self.forms.x[fit_idx], self.forms.y[fit_idx])
        out = {
            name: np.full(n, np.nan)
            for name in ("peak", "var", "bkg", "rms", "chisq", "dof", "edge")
        }
        out["group_id"] = np.full(n, -1, dtype=np.int64)
        out["group_size"] = np.zeros(n, dtype=np.int64)
        out["flags"] = np.zeros(n, dtype=np.int64)
        out["bkg"][fit_idx], out["rms"][fit_idx] = self.bkg, rms
        out["flags"][fit_idx] |= np.where(self.bits & _kernels.NAN_BIT, int(F.NAN_IN_BOX), 0)
        out["flags"][fit_idx] |= np.where(self.bits & _kernels.EDGE_BIT, int(F.NEAR_EDGE), 0)
        out["flags"][fit_idx[~self.usable]] |= int(F.FIT_FAILED)
        used = fit_idx[use]
        out["peak"][used] = solution["amp"]
        out["var"][used] = solution["var"]
        out["group_id"][used] = solution["label"]
        out["group_size"][used] = solution["size"]
        out["flags"][used] |= np.where(solution["size"] > 1, int(F.BLENDED), 0)
        out["flags"][used] |= np.where(solution["windowed"], int(F.WINDOWED_ERROR), 0)
        out["flags"][used[~np.isfinite(solution["amp"])]] |= int(F.FIT_FAILED)
        out["error_scale"] = scale.value * self.kappa_ratio
        if diagnostics:
            self._diagnostics(out, scale, residual, rms)
        return out

    def _diagnostics(
        self, out: dict[str, np.ndarray], scale: ErrorScale, residual: np.ndarray, rms: np.ndarray
    ) -> None:
        """χ², degrees of freedom and edge distances of the targets into ``out`` (in place)."""
        fit_idx, use, solution = self.fit_idx, self.use, self.solution
        used = fit_idx[use]
        targets = np.flatnonzero(used < self.n_target)
        tgt = used[targets]
        f = solution["forms"]
        # Isolated: Σ(d - s G)² = Σd² - s ΣGd exactly; group members: sum over the residual.
        sumsq = (
            self.sumdd[use][targets]
            - np.nan_to_num(solution["amp"][targets]) * self.sumgd[use][targets]
        )
        grouped = targets[solution["size"][targets] > 1]
        sumsq[solution["size"][targets] > 1] = _kernels.support_sumsq(
            residual,
            f.x[grouped],
            f.y[grouped],
            f.A[grouped],
            f.B[grouped],
            f.C[grouped],
            self.qmax,
            self.bkg[use][grouped],
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            out["chisq"][tgt] = sumsq / rms[use][targets] ** 2 / self.beam_area_pix
            # A fitted amplitude absorbs κ² pixels' worth of variance (κ: correlated-noise
            # error scale), i.e. κ²/∫G² of the ∫G²-sized independent noise elements.
            absorbed = (scale.value * self.kappa_ratio[tgt]) ** 2
            out["dof"][tgt] = (self.nvalid[use][targets] - absorbed) / self.beam_area_pix
        target_fit = fit_idx[fit_idx < self.n_target]
        radius = (
            self.options.edge_search_fwhm * float(np.nanmax(f.major_fwhm_pix()))
            if f.x.size
            else 0.0
        )
        out["edge"][target_fit] = _kernels.edge_distances(
            self.image.data,
            self.forms.x[target_fit],
            self.forms.y[target_fit],
            radius,
            self.nan_blocks,
            _NAN_BLOCK,
        )

    def _solve(self, forms: KernelForms, sumgg: np.ndarray, sumgd: np.ndarray) -> dict:
        """Amplitudes and unit-noise variances of all fit positions, group by group."""
        n = forms.x.size
        reach = (math.sqrt(self.qmax) + math.sqrt(-math.log(_TAIL_LEVEL))) / math.sqrt(
            4.0 * math.log(2.0)
        )
        sep = self.options.group_separation_fwhm
        pairs = close_pairs(forms, max(sep, reach))
        labels = components(n, pairs.where(pairs.rho < sep))
        contact = pairs.where(labels[pairs.i] == labels[pairs.j])
        cross = _kernels.pair_overlaps(
            self.image.data,
            forms.x,
            forms.y,
            forms.A,
            forms.B,
            forms.C,
            self.qmax,
            contact.i,
            contact.j,
        )
        size = np.bincount(labels)[labels] if n else np.zeros(0, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            amp = sumgd / sumgg
            var = 1.0 / sumgg
        windowed = np.zeros(n, dtype=bool)
        dense = (size > 1) & (size <= self.options.max_dense_group)
        if dense.any():
            _solve_dense(labels, dense, sumgg, sumgd, contact, cross, amp, var)
        for label in np.unique(labels[size > self.options.max_dense_group]):
            members = np.flatnonzero(labels == label)
            _solve_sparse(members, sumgg, sumgd, contact, cross, amp, var)
            windowed[members] = True
        return {
            "amp": amp,
            "var": var,
            "label": labels,
            "size": size,
            "windowed": windowed,
            "forms": forms,
        }


def _solve_dense(
    labels: np.ndarray,
    dense: np.ndarray,
    sumgg: np.ndarray,
    sumgd: np.ndarray,
    contact: Pairs,
    cross: tuple[np.ndarray, ...],
    amp: np.ndarray,
    var: np.ndarray,
) -> None:
    """Solve every small group exactly (in place)."""
    members = np.flatnonzero(dense)
    members = members[np.argsort(labels[members], kind="stable")]
    group_labels, starts = np.unique(labels[members], return_index=True)
    group_ptr = np.append(starts, members.size).astype(np.int64)
    local = np.zeros(labels.size, dtype=np.int64)
    local[members] = np.arange(members.size) - np.repeat(starts, np.diff(group_ptr))
    in_dense = np.flatnonzero(dense[contact.i])
    group_of_pair = np.searchsorted(group_labels, labels[contact.i[in_dense]])
    order = np.argsort(group_of_pair, kind="stable")
    sel = in_dense[order]
    pair_ptr = np.searchsorted(group_of_pair[order], np.arange(group_labels.size + 1)).astype(
        np.int64
    )
    sol, unit_var = _kernels.solve_dense_groups(
        group_ptr,
        members,
        sumgg,
        sumgd,
        pair_ptr,
        local[contact.i[sel]],
        local[contact.j[sel]],
        *(c[sel] for c in cross),
    )
    amp[members] = sol
    var[members] = unit_var


def _solve_sparse(
    members: np.ndarray,
    sumgg: np.ndarray,
    sumgd: np.ndarray,
    contact: Pairs,
    cross: tuple[np.ndarray, ...],
    amp: np.ndarray,
    var: np.ndarray,
) -> None:
    """Solve one large group sparsely; errors from each member's one-ring window (in place)."""
    local = np.full(sumgg.size, -1, dtype=np.int64)
    local[members] = np.arange(members.size)
    sel = local[contact.i] >= 0
    li, lj = local[contact.i[sel]], local[contact.j[sel]]
    n_kl, n_lk, w_kl = (c[sel] for c in cross)
    size = members.size
    diag = np.arange(size)
    rows = np.concatenate([diag, li, lj])
    cols = np.concatenate([diag, lj, li])
    normal = sparse.csr_matrix(
        (np.concatenate([sumgg[members], n_kl, n_lk]), (rows, cols)), shape=(size, size)
    )
    cov_rhs = sparse.csr_matrix(
        (np.concatenate([sumgg[members], w_kl, w_kl]), (rows, cols)), shape=(size, size)
    )
    lu = splu(normal.tocsc())
    amp[members] = lu.solve(sumgd[members])
    cov_rhs.sort_indices()
    normal.sort_indices()
    # Both matrices share one sparsity pattern (diagonal + contact pairs in both directions).
    windowed = _kernels.windowed_variances(normal.indptr, normal.indices, normal.data, cov_rhs.data)
    # A one-ring window ignores correlations further out, so it underestimates; rescale so
    # the variances sum to the trace of N⁻¹ W N⁻ᵀ, estimated with Rademacher probes.
    rng = np.random.default_rng(size)
    probes = rng.choice([-1.0, 1.0], size=(size, _TRACE_PROBES))
    cov_probes = lu.solve(cov_rhs @ lu.solve(probes, trans="T"))
    trace = float(np.sum(probes * cov_probes)) / _TRACE_PROBES
    var[members] = windowed * trace / np.nansum(windowed)


def _peaks(
    fit: _ForcedFit, result: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Peak, error, S/N and flags of each target (merged targets take their representative's)."""
    n = fit.n_target
    rep = fit.rep[:n]
    flags = result["flags"][rep].copy()
    flags[~fit.on_image[:n]] = int(F.OFF_IMAGE)
    merged = (rep != np.arange(n)) | np.isin(np.arange(n), rep[rep != np.arange(n)])
    flags[merged & fit.on_image[:n]] |= int(F.MERGED)
    peak = result["peak"][rep]
    err = result["error_scale"][rep] * result["rms"][rep] * np.sqrt(result["var"][rep])
    peak[~fit.on_image[:n]] = np.nan
    err[~np.isfinite(peak)] = np.nan
    flags[np.isfinite(peak) & ~np.isfinite(err)] |= int(F.NO_NOISE)
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = peak / err
    flags[np.isfinite(snr) & (snr < fit.options.low_snr)] |= int(F.LOW_SNR)
    return peak, err, snr, flags


def _assemble(
    fit: _ForcedFit,
    result: dict[str, np.ndarray],
    names: list,
    ids: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
) -> Table:
    n = fit.n_target
    rep = fit.rep[:n]
    peak, err, snr, flags = _peaks(fit, result)
    peak_to_int = fit.peak_to_int[rep]
    table = Table()
    table["name"] = np.asarray(names, dtype=str)
    table["source_id"] = ids
    table["ra_deg"] = ra
    table["dec_deg"] = dec
    table["x_pix"] = fit.forms.x[:n]
    table["y_pix"] = fit.forms.y[:n]
    table["peak_jyb"] = peak
    table["peak_err_jyb"] = err
    table["int_flux_jy"] = peak * peak_to_int
    table["int_flux_err_jy"] = err * peak_to_int
    table["local_rms_jyb"] = result["rms"][rep]
    table["background_jyb"] = result["bkg"][rep]
    table["snr"] = snr
    table["chisq"] = result["chisq"][rep]
    table["dof"] = result["dof"][rep]
    table["group_id"] = result["group_id"][rep]
    table["group_size"] = result["group_size"][rep]
    table["edge_dist_pix"] = result["edge"][rep]
    table["pb_response"] = np.full(n, np.nan)
    table["flags"] = flags.astype(np.int64)
    for name, unit in MEASUREMENT_COLUMNS.items():
        if unit is not None and unit != "pix":
            table[name].unit = unit
    return table


def _target_pb(
    image: Image,
    fit: _ForcedFit,
    ra: np.ndarray,
    dec: np.ndarray,
    pb_map: np.ndarray | None,
    primary_beam: PrimaryBeam | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Primary-beam response at the targets (`_pb_response`) and where it is below
    ``low_pb``."""
    n = fit.n_target
    options = fit.options
    response = _pb_response(
        image,
        fit.forms.x[:n],
        fit.forms.y[:n],
        ra[:n],
        dec[:n],
        pb_map,
        (primary_beam or PrimaryBeam()) if options.model_pb else None,
    )
    return response, np.isfinite(response) & (response < options.low_pb)


def _pb_response(
    image: Image,
    x: np.ndarray,
    y: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    pb_map: np.ndarray | None,
    model: PrimaryBeam | None,
) -> np.ndarray:
    """Primary-beam response at the targets.

    From, in order: a PB map; the beam track the image's header carries (the drift-scan
    pointing over the observation, averaged over its integrations and band); ``model`` about
    `Image.pb_centre` for images that are not PB-corrected; else NaN (unknown).
    """
    if pb_map is not None:
        ny, nx = image.shape
        i = np.clip(np.rint(np.nan_to_num(x)).astype(np.int64), 0, nx - 1)
        j = np.clip(np.rint(np.nan_to_num(y)).astype(np.int64), 0, ny - 1)
        on = np.isfinite(x) & np.isfinite(y)
        return np.where(on, pb_map[j, i], np.nan)
    if image.pb_track is not None:
        return image.pb_track.response(ra, dec)
    if model is None or image.pb_corrected:
        return np.full(ra.size, np.nan)
    ra0, dec0 = image.pb_centre()
    track = BeamTrack.fixed(model, ra0, dec0, image.freq_hz or 1.4e9)
    return track.response(ra, dec)


def _apply_pb(table: Table, image: Image) -> bool:
    """Divide the fluxes of a non-PB-corrected image by the response (once); True if done.

    Positions where the response is zero become NaN (unmeasurable, flagged ``low_pb``).
    """
    factor = _pb_factor(np.asarray(table["pb_response"], dtype=float), image)
    if factor is None:
        return False
    for name in _PB_SCALED_COLUMNS:
        table[name][:] = np.asarray(table[name], dtype=float) * factor
    return True


def _pb_factor(response: np.ndarray, image: Image) -> np.ndarray | None:
    """Factor correcting fluxes for the primary-beam ``response`` (1 where it is unknown, NaN
    where it is zero); None for a PB-corrected image or an unknown response."""
    if image.pb_corrected or not np.isfinite(response).any():
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(response > 0, 1.0 / response, np.nan)
    return np.where(np.isfinite(response), factor, 1.0)


def _shape_arrays(shapes, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(major, minor, PA) arrays of length ``n``; unknown sizes become 0."""
    if shapes is None:
        return np.zeros(n), np.zeros(n), np.zeros(n)
    arrays = tuple(np.nan_to_num(np.asarray(v, dtype=float).reshape(-1)) for v in shapes)
    if len(arrays) != 3 or any(a.size != n for a in arrays):
        raise ValueError(f"shapes must be three arrays (major, minor, pa) of length {n}")
    major, minor, pa = arrays
    return np.maximum(major, minor), np.minimum(major, minor), pa


def _correlated_noise_factor(kernel_cov: np.ndarray, acf_cov: np.ndarray) -> np.ndarray:
    """√(κ²/∫G²)-like factor of a Gaussian kernel on noise with a Gaussian autocorrelation.

    For kernel covariance Σ and noise autocorrelation covariance Σ_A, the beam-correlated
    error of a matched-filter amplitude exceeds the white-noise one by
    ``κ² = 4π √det Σ · √(det Σ_A / det(2Σ + Σ_A))``; this returns the part that varies with Σ,
    used to carry the calibrated κ of the beam over to wider (resolved-source) kernels.
    """
    det_k = np.linalg.det(kernel_cov)
    det_sum = np.linalg.det(2.0 * kernel_cov + acf_cov)
    return np.sqrt(np.sqrt(det_k) / np.sqrt(det_sum))


def _labels(values: Sequence | None, n: int, what: str, default: list) -> list:
    if values is None:
        return default
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} entries but there are {n} positions")
    return values


def _as_map(value: np.ndarray | str | Path | None, image: Image) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        return load_plane(value, image)
    arr = np.asarray(value, dtype=np.float32)
    if arr.shape != image.shape:
        raise ValueError(f"map shape {arr.shape} does not match image shape {image.shape}")
    return arr
