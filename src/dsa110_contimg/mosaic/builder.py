"""Linear mosaics of primary-beam-corrected images, with a matching noise map.

Each input pixel gets the inverse-variance weight ``w = 1/σ_pbcor²``: the noise of a
primary-beam-corrected pixel is ``σ/PB`` (σ the image noise at the pointing centre), so
``w = PB²/σ²`` (the classic PB²-weighted linear mosaic). The inputs are reprojected onto one
celestial grid (`reproject.mosaicking.find_optimal_celestial_wcs`, the inputs' projection and
finest pixel scale) with `reproject.reproject_interp`, and combined as

    mosaic = Σ w·I / Σ w,        noise = 1/√Σ w,

which is the minimum-variance combination and gives the noise of every mosaic pixel exactly
when the weights are true inverse variances. ``w·I`` and ``w`` are interpolated together, so
pixels next to an input's blank edge are normalised correctly. Pixels that no input covers are
NaN in both maps.

Per input, the builder takes (first found wins):

* a noise map beside the image (``<stem>-rms.fits``, on the image's grid, in its units): then
  ``w = 1/rms²`` (PB-corrected rms for a PB-corrected image);
* else the primary beam: a PB image beside it (WSClean ``<prefix>-pb.fits`` for
  ``<prefix>-image-pb.fits``, or ``<stem>-pb-model.fits``), or else a model (Gaussian or Airy
  of FWHM ``1.2 λ/D`` about the pointing centre, ``OBSRA``/``OBSDEC`` or the centre of the valid
  pixels; the assumption is that the imager corrected with the same beam), and σ measured on
  the image itself as the robust (MAD) rms of ``PB × I``, whose noise is flat.

Images that are not primary-beam corrected (by their file name, see
`dsa110_contimg.imaging.fits_io.load_image`) are divided by the PB first. Pixels with
``PB < pb_min`` are left out.

Beams: the mosaic's restoring beam is the smallest beam enclosing every input beam
(`radio_beam.Beams.common_beam`). When an input beam's area is smaller than the common beam's
by more than ``beam_tolerance`` (a fraction), that input is convolved to the common beam (a
Gaussian kernel from `radio_beam`, normalised convolution that keeps blank pixels blank, fluxes
rescaled to Jy per common beam, σ re-measured, any noise map scaled alike) so that forced
photometry with the mosaic's beam stays unbiased; below the tolerance the images are combined
as they are and the common beam is recorded (flux error < the tolerance). The convolution
assumes north-up images (as imagers write them).

Memory: the inputs are read one at a time, and each is reprojected in strips of output rows,
so the peak is one input image, its weight map and two float32 accumulators of the mosaic
(sums of at most a few dozen terms, far within float32 precision), which then become the
mosaic and the noise map in place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.time import Time
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from radio_beam import Beam as RadioBeam
from radio_beam import Beams
from reproject import reproject_interp
from reproject.mosaicking import find_optimal_celestial_wcs
from scipy import signal
from scipy.interpolate import RectBivariateSpline

from dsa110_contimg.errors import InputError
from dsa110_contimg.imaging.fits_io import Beam, Image, ImageReadError, load_image, load_plane
from dsa110_contimg.imaging.primary_beam import BeamTrack, PrimaryBeam

__all__ = ["MosaicError", "MosaicResult", "build_mosaic", "noise_map_path"]

log = logging.getLogger(__name__)

#: Output rows reprojected at once (bounds the memory of one reprojection).
_STRIP_ROWS = 512
#: Pixel stride of the coarse grid on which the PB model is evaluated (it is smooth).
_PB_GRID_STEP = 16


class MosaicError(InputError):
    """A mosaic cannot be built (too few usable inputs, inputs that cannot be combined)."""


@dataclass(frozen=True)
class MosaicResult:
    """A mosaic written to disk and what went into it.

    Attributes
    ----------
    path, noise_path : Path
        The mosaic and its noise map (``1/√Σw``, same grid and units).
    inputs : tuple of Path
        The images combined, in input order.
    skipped : dict
        Inputs left out (path → reason), with ``on_bad_input="skip"``.
    weighting : tuple of str
        Per input: ``"rms-map"``, ``"pb-map"`` or ``"pb-model"``.
    convolved : tuple of bool
        Per input: whether it was convolved to the common beam.
    beam : Beam
        The mosaic's restoring beam.
    mjd_start, mjd_mid, mjd_end : float
        First start, weight-averaged mid time, last end (UTC MJD).
    freq_hz : float or None
    shape : (int, int)
        ``(ny, nx)`` of the mosaic.
    timings_s : dict
        Seconds spent planning, reprojecting and writing.
    """

    path: Path
    noise_path: Path
    inputs: tuple[Path, ...]
    skipped: dict[Path, str]
    weighting: tuple[str, ...]
    convolved: tuple[bool, ...]
    beam: Beam
    mjd_start: float
    mjd_mid: float
    mjd_end: float
    freq_hz: float | None
    shape: tuple[int, int]
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass
class _Input:
    """What the plan needs of one input (its pixels are read again when combined)."""

    path: Path
    shape: tuple[int, int]
    wcs: WCS
    beam: Beam
    mjd_start: float
    mjd_mid: float
    mjd_end: float
    freq_hz: float | None
    header: fits.Header


def noise_map_path(mosaic_path: str | Path) -> Path:
    """Where the noise map of ``mosaic_path`` is written: ``<name>-noise.fits`` beside it."""
    mosaic_path = Path(mosaic_path)
    return mosaic_path.with_name(mosaic_path.name.removesuffix(".fits") + "-noise.fits")


def build_mosaic(
    image_paths: Sequence[str | Path],
    output_path: str | Path,
    *,
    primary_beam: PrimaryBeam | None = None,
    pb_min: float = 0.1,
    beam_tolerance: float = 0.01,
    min_inputs: int = 1,
    on_bad_input: Literal["raise", "skip"] = "raise",
) -> MosaicResult:
    """Combine images into a PB²/noise²-weighted linear mosaic and write it and its noise map.

    Parameters
    ----------
    image_paths : sequence of str or Path
        2-, 3- or 4-axis FITS images (normally WSClean ``-image-pb.fits``) with a restoring beam
        and an observation time.
    output_path : str or Path
        The mosaic FITS; the noise map goes to `noise_map_path` of it. Both are overwritten.
    primary_beam : PrimaryBeam, optional
        The dishes' beam (`dsa110_contimg.imaging.primary_beam.PrimaryBeam`, default Gaussian,
        4.65 m) for inputs without a noise or PB map beside them and without a beam track in
        their header, centred on their pointing centre.
    pb_min : float
        Pixels where the primary beam is below this are left out.
    beam_tolerance : float
        Inputs whose beam area is smaller than the common beam's by more than this fraction
        are convolved to the common beam.
    min_inputs : int
        Fewest usable inputs to build a mosaic from.
    on_bad_input : {"raise", "skip"}
        An unreadable input (missing, corrupt, no beam, no time) raises, or is left out with
        a WARNING and its reason recorded in `MosaicResult.skipped`.

    Returns
    -------
    MosaicResult

    Raises
    ------
    dsa110_contimg.imaging.fits_io.ImageReadError
        An unreadable input with ``on_bad_input="raise"``.
    MosaicError
        Fewer than ``min_inputs`` usable inputs, or an input without an observation time.
    ValueError
        An invalid option.
    """
    if on_bad_input not in ("raise", "skip"):
        raise ValueError(f"on_bad_input must be 'raise' or 'skip', got {on_bad_input!r}")
    if not 0.0 < pb_min < 1.0:
        raise ValueError(f"pb_min must be in (0, 1), got {pb_min}")
    if beam_tolerance < 0:
        raise ValueError(f"beam_tolerance must be >= 0, got {beam_tolerance}")
    output_path = Path(output_path)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    inputs, skipped = _plan_inputs([Path(p) for p in image_paths], on_bad_input)
    if len(inputs) < max(min_inputs, 1):
        raise MosaicError(
            f"{output_path.name}: {len(inputs)} usable input image(s), at least "
            f"{max(min_inputs, 1)} needed" + (f" ({len(skipped)} unreadable)" if skipped else "")
        )
    common = _common_beam([i.beam for i in inputs])
    out_wcs, shape = find_optimal_celestial_wcs(
        [(i.shape, i.wcs) for i in inputs],
        projection=_projection(inputs[0].wcs),
        resolution=min(min(_pixel_scales_deg(i.wcs)) for i in inputs) * u.deg,
    )
    timings["plan"] = time.perf_counter() - start

    start = time.perf_counter()
    sum_wi = np.zeros(shape, dtype=np.float32)
    sum_w = np.zeros(shape, dtype=np.float32)
    weighting, convolved, totals = [], [], []
    for item in inputs:
        image = load_image(item.path)
        values, weight, how, was_convolved = _weighted_plane(
            image,
            common,
            primary_beam=primary_beam or PrimaryBeam(),
            pb_min=pb_min,
            beam_tolerance=beam_tolerance,
        )
        del image
        totals.append(float(weight.sum()))
        _accumulate(np.stack([values * weight, weight]), item.wcs, out_wcs, sum_wi, sum_w)
        weighting.append(how)
        convolved.append(was_convolved)
        log.debug(
            "%s: reprojected (%s weights%s)",
            item.path.name,
            how,
            ", convolved to the common beam" if was_convolved else "",
        )
    timings["reproject"] = time.perf_counter() - start

    start = time.perf_counter()
    covered = sum_w > 0
    if not covered.any():
        raise MosaicError(f"{output_path.name}: the inputs have no valid pixel")
    # In place: the accumulators become the mosaic and the noise map.
    mosaic = np.divide(sum_wi, sum_w, out=sum_wi, where=covered)
    noise = np.sqrt(sum_w, out=sum_w)
    np.divide(1.0, noise, out=noise, where=covered)
    mosaic[~covered] = np.nan
    noise[~covered] = np.nan
    del covered
    weights = np.asarray(totals)
    mjd_mid = float(np.sum(weights * [i.mjd_mid for i in inputs]) / weights.sum())
    freqs = [(i.freq_hz, t) for i, t in zip(inputs, weights) if i.freq_hz is not None]
    freq_hz = float(sum(f * t for f, t in freqs) / sum(t for _, t in freqs)) if freqs else None
    result = MosaicResult(
        path=output_path,
        noise_path=noise_map_path(output_path),
        inputs=tuple(i.path for i in inputs),
        skipped=skipped,
        weighting=tuple(weighting),
        convolved=tuple(convolved),
        beam=common,
        mjd_start=min(i.mjd_start for i in inputs),
        mjd_mid=mjd_mid,
        mjd_end=max(i.mjd_end for i in inputs),
        freq_hz=freq_hz,
        shape=(int(shape[0]), int(shape[1])),
        timings_s=timings,
    )
    header = _header(out_wcs, result, inputs[0].header)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    _write(output_path, mosaic, header)
    header["BTYPE"] = "noise"
    header.add_history("Noise map: 1/sqrt(sum of inverse-variance weights)")
    _write(result.noise_path, noise, header)
    timings["write"] = time.perf_counter() - start
    log.info(
        'mosaic %s: %d images, %dx%d px, beam %.1f"x%.1f" PA %.0f, %.1f s',
        output_path.name,
        len(inputs),
        shape[1],
        shape[0],
        common.major_arcsec,
        common.minor_arcsec,
        common.pa_deg,
        sum(timings.values()),
    )
    return result


def _plan_inputs(paths: list[Path], on_bad_input: str) -> tuple[list[_Input], dict[Path, str]]:
    inputs: list[_Input] = []
    skipped: dict[Path, str] = {}
    for path in paths:
        try:
            image = load_image(path)
            mjd_start, mjd_mid = image.mjd_start, image.mjd_mid
            if mjd_start is None or mjd_mid is None:
                raise MosaicError(f"{path}: no observation time (DATE-OBS/MJD-OBS)")
            if not np.isfinite(image.data).any():
                raise ImageReadError(f"{path}: image has no finite pixels")
        except (ImageReadError, MosaicError) as exc:
            if on_bad_input == "raise":
                raise
            log.warning("mosaic input %s left out: %s", path, exc)
            skipped[path] = str(exc)
            continue
        inputs.append(
            _Input(
                path,
                image.shape,
                image.wcs,
                image.beam,
                mjd_start,
                mjd_mid,
                image.mjd_end or mjd_mid,
                image.freq_hz,
                image.header,
            )
        )
    return inputs, skipped


def _common_beam(beams: list[Beam]) -> Beam:
    """Smallest beam enclosing all ``beams`` (the beam itself when they are all equal)."""
    first = beams[0]
    if all(b == first for b in beams):
        return first
    radio = Beams(
        major=[b.major_arcsec for b in beams] * u.arcsec,
        minor=[b.minor_arcsec for b in beams] * u.arcsec,
        pa=[b.pa_deg for b in beams] * u.deg,
    )
    common = radio.common_beam()
    return Beam(
        float(common.major.to_value(u.arcsec)),
        float(common.minor.to_value(u.arcsec)),
        float(common.pa.to_value(u.deg)) % 180.0,
    )


def _radio_beam(beam: Beam) -> RadioBeam:
    return RadioBeam(
        major=beam.major_arcsec * u.arcsec,
        minor=beam.minor_arcsec * u.arcsec,
        pa=beam.pa_deg * u.deg,
    )


def _area(beam: Beam) -> float:
    return beam.major_arcsec * beam.minor_arcsec


def _weighted_plane(
    image: Image, common: Beam, *, primary_beam: PrimaryBeam, pb_min: float, beam_tolerance: float
) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """PB-corrected values (0 where unused) and their inverse-variance weights (0 there)."""
    rms = _companion_plane(image, (f"{image.path.stem}-rms.fits",))
    pb = _companion_plane(image, _pb_names(image.path))
    how = "rms-map" if rms is not None else "pb-map" if pb is not None else "pb-model"
    if pb is None:
        pb = _pb_model(image, primary_beam)
    usable = np.isfinite(image.data) & (pb >= pb_min)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = image.data if image.pb_corrected else image.data / pb
        if rms is not None and not image.pb_corrected:
            rms = rms / pb
    values = np.where(usable, values, np.nan).astype(np.float32)
    convolved = _area(common) / _area(image.beam) - 1.0 > beam_tolerance
    if convolved:
        sigma_before = _flat_noise(values, pb)
        values = _convolve_to(values, image.beam, common, image)
        usable &= np.isfinite(values)
        if rms is not None:
            rms = rms * (_flat_noise(values, pb) / sigma_before)
    if rms is not None:
        usable &= np.isfinite(rms) & (rms > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(usable, 1.0 / rms.astype(np.float64) ** 2, 0.0)
    else:
        sigma = _flat_noise(values, pb)
        if not sigma > 0:
            raise MosaicError(f"{image.path}: cannot measure the image noise (rms {sigma})")
        weight = np.where(usable, (pb / sigma) ** 2, 0.0)
    values = np.where(usable, values, 0.0).astype(np.float32)
    return values, weight.astype(np.float32), how, convolved


def _pb_names(path: Path) -> tuple[str, ...]:
    names = [f"{path.stem}-pb-model.fits"]
    for suffix in ("-image-pb.fits", "-image.fits"):
        if path.name.endswith(suffix):
            names.insert(0, path.name.removesuffix(suffix) + "-pb.fits")
    return tuple(names)


def _companion_plane(image: Image, names: tuple[str, ...]) -> np.ndarray | None:
    """The first of ``names`` that exists beside the image, on its grid."""
    for name in names:
        candidate = image.path.with_name(name)
        if candidate.is_file() and candidate != image.path:
            return load_plane(candidate, image)
    return None


def _pb_model(image: Image, model: PrimaryBeam) -> np.ndarray:
    """PB power response of every pixel (evaluated on a coarse grid, interpolated): the beam
    track the image's header carries (drift scan, averaged over integrations and band), else
    ``model`` about `Image.pb_centre` at the image's frequency."""
    ny, nx = image.shape
    track = image.pb_track
    if track is None:
        ra0, dec0 = image.pb_centre()
        track = BeamTrack.fixed(model, ra0, dec0, image.freq_hz or 1.4e9)
    ys = np.unique(np.r_[np.arange(0, ny, _PB_GRID_STEP), ny - 1])
    xs = np.unique(np.r_[np.arange(0, nx, _PB_GRID_STEP), nx - 1])
    xx, yy = np.meshgrid(xs, ys)
    ra, dec = image.pixel_to_sky(xx, yy)
    coarse = track.response_map(ra, dec)
    spline = RectBivariateSpline(ys, xs, coarse, kx=min(3, ys.size - 1), ky=min(3, xs.size - 1))
    return spline(np.arange(ny), np.arange(nx)).astype(np.float32)


def _flat_noise(values: np.ndarray, pb: np.ndarray) -> float:
    """Robust rms of ``PB × values`` (flat noise for a PB-corrected image): MAD standard
    deviation after 3σ clipping, so that sources do not inflate it."""
    flat = (values[::2, ::2] * pb[::2, ::2]).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return float("nan")
    return float(sigma_clipped_stats(flat, sigma=3.0, maxiters=10, stdfunc="mad_std")[2])


def _convolve_to(values: np.ndarray, beam: Beam, common: Beam, image: Image) -> np.ndarray:
    """Convolve a Jy/beam plane to ``common`` (normalised over valid pixels; Jy/common beam)."""
    kernel_beam = _radio_beam(common).deconvolve(_radio_beam(beam))
    scale = min(image.pixel_scale_arcsec) * u.arcsec
    # Oversampled (the kernel can be narrower than a pixel across) and normalised to unit sum,
    # so that the convolution conserves flux.
    kernel = np.asarray(
        kernel_beam.as_kernel(scale, mode="oversample", factor=10).array, dtype=np.float64
    )
    kernel /= kernel.sum()
    valid = np.isfinite(values)
    filled = np.where(valid, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        smoothed = signal.fftconvolve(filled, kernel, mode="same") / signal.fftconvolve(
            valid.astype(np.float64), kernel, mode="same"
        )
    smoothed *= _area(common) / _area(beam)
    return np.where(valid, smoothed, np.nan).astype(np.float32)


def _accumulate(
    stack: np.ndarray, in_wcs: WCS, out_wcs: WCS, sum_wi: np.ndarray, sum_w: np.ndarray
) -> None:
    """Reproject ``stack = (w·I, w)`` onto the output box it covers, strip by strip, and add."""
    (i0, i1), (j0, j1) = _output_box(stack.shape[1:], in_wcs, out_wcs, sum_w.shape)
    if i0 >= i1 or j0 >= j1:
        return
    for s0 in range(j0, j1, _STRIP_ROWS):
        s1 = min(s0 + _STRIP_ROWS, j1)
        part = reproject_interp(
            (stack, in_wcs),
            out_wcs[s0:s1, i0:i1],
            shape_out=(2, s1 - s0, i1 - i0),
            return_footprint=False,
            roundtrip_coords=False,
        )
        part = np.nan_to_num(part, nan=0.0, copy=False)
        sum_wi[s0:s1, i0:i1] += part[0]
        sum_w[s0:s1, i0:i1] += part[1]


def _output_box(
    in_shape: tuple[int, int], in_wcs: WCS, out_wcs: WCS, out_shape: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The output pixel ranges ``((x0, x1), (y0, y1))`` covering an input's edges."""
    ny, nx = in_shape
    xs = np.r_[
        np.linspace(-0.5, nx - 0.5, 64),
        np.full(64, nx - 0.5),
        np.linspace(-0.5, nx - 0.5, 64),
        np.full(64, -0.5),
    ]
    ys = np.r_[
        np.full(64, -0.5),
        np.linspace(-0.5, ny - 0.5, 64),
        np.full(64, ny - 0.5),
        np.linspace(-0.5, ny - 0.5, 64),
    ]
    world = in_wcs.pixel_to_world_values(xs, ys)
    ox, oy = out_wcs.world_to_pixel_values(*world)
    ok = np.isfinite(ox) & np.isfinite(oy)
    if not ok.any():
        return (0, 0), (0, 0)
    x0 = max(int(np.floor(ox[ok].min())) - 1, 0)
    x1 = min(int(np.ceil(ox[ok].max())) + 2, out_shape[1])
    y0 = max(int(np.floor(oy[ok].min())) - 1, 0)
    y1 = min(int(np.ceil(oy[ok].max())) + 2, out_shape[0])
    return (x0, x1), (y0, y1)


def _projection(wcs: WCS) -> str:
    return str(wcs.wcs.ctype[0])[-3:] or "SIN"


def _pixel_scales_deg(wcs: WCS) -> tuple[float, float]:
    sx, sy = proj_plane_pixel_scales(wcs)
    return float(sx), float(sy)


def _header(out_wcs: WCS, result: MosaicResult, template: fits.Header) -> fits.Header:
    """4-axis (RA, DEC, FREQ, STOKES) header with beam, times, frequency and provenance."""
    header = fits.Header()
    header["BUNIT"] = "JY/BEAM"
    celestial = out_wcs.to_header()
    celestial.remove("WCSAXES", ignore_missing=True)
    header.update(celestial)
    freq = result.freq_hz or 1.4e9
    header["CTYPE3"], header["CRPIX3"], header["CRVAL3"] = "FREQ", 1.0, freq
    header["CDELT3"], header["CUNIT3"] = _bandwidth(template), "Hz"
    header["CTYPE4"], header["CRPIX4"], header["CRVAL4"] = "STOKES", 1.0, 1.0
    header["CDELT4"], header["CUNIT4"] = 1.0, ""
    header["RESTFRQ"] = freq
    header["BMAJ"] = result.beam.major_arcsec / 3600.0
    header["BMIN"] = result.beam.minor_arcsec / 3600.0
    header["BPA"] = result.beam.pa_deg
    header["TIMESYS"] = "UTC"
    for key, mjd, comment in (
        ("OBS", result.mjd_start, "start of the first input"),
        ("AVG", result.mjd_mid, "weighted mid time of the inputs"),
        ("END", result.mjd_end, "end of the last input"),
    ):
        header[f"DATE-{key}"] = (Time(mjd, format="mjd", scale="utc").isot, comment)
        header[f"MJD-{key}"] = (mjd, comment)
    if "TELESCOP" in template:
        header["TELESCOP"] = template["TELESCOP"]
    header["NCOMBINE"] = (len(result.inputs), "images combined")
    header.add_history(
        "Linear mosaic weighted by inverse variance (PB^2/sigma^2), "
        "reprojected with reproject_interp (bilinear)"
    )
    for k, (path, how, conv) in enumerate(
        zip(result.inputs, result.weighting, result.convolved), start=1
    ):
        header.add_history(
            f"input {k}: {path.name} ({how} weights"
            + (", convolved to common beam)" if conv else ")")
        )
    return header


def _bandwidth(template: fits.Header) -> float:
    for k in range(1, template.get("NAXIS", 0) + 1):
        if str(template.get(f"CTYPE{k}", "")).upper().startswith("FREQ"):
            return float(template.get(f"CDELT{k}", 1.0)) or 1.0
    return 1.0


def _write(path: Path, plane: np.ndarray, header: fits.Header) -> None:
    """Write a 4-axis image atomically (temporary name, then rename)."""
    partial = path.with_name(f".{path.name}.partial")
    fits.PrimaryHDU(plane[np.newaxis, np.newaxis], header).writeto(partial, overwrite=True)
    partial.replace(path)
