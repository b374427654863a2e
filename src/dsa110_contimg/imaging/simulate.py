"""Simulated DSA-110-like sky and images, with exact truth, for tests, benchmarks and the demo.

Images have what real 1.4 GHz snapshot images have: an elongated restoring beam (default
58″×18″ at PA 110° on 2″ pixels), **beam-correlated noise** (white noise convolved with a
Gaussian of half the beam's covariance, so the noise autocorrelation equals the restoring beam,
as in a cleaned image; scaled with the kernel's L2 norm so the pixel rms is ``noise_jy`` in
expectation), primary-beam attenuation (Gaussian or Airy), optional NaN borders, and CASA /
WSClean-style 4-axis headers (``RA---SIN``, ``DEC--SIN``, ``FREQ``, ``STOKES``; ``BMAJ``/
``BMIN``/``BPA`` in degrees; ``DATE-OBS`` and ``EXPOSURE`` in seconds; ``OBSRA``/``OBSDEC``).

Sources are elliptical Gaussians evaluated on the sky: every pixel of a source's box is mapped
to (east, north) offsets through the full WCS, independently of the photometry code's own
geometry, so tests compare against an independent truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.time import Time
from astropy.wcs import WCS
from scipy import signal

from dsa110_contimg.imaging.gaussians import FWHM_TO_SIGMA, covariance
from dsa110_contimg.imaging.primary_beam import PrimaryBeam

__all__ = [
    "SimulatedImage",
    "add_blend_companions",
    "make_sky",
    "simulate_image",
]

#: NVSS-like density of sources brighter than 2.5 mJy, per square degree.
NVSS_DENSITY_PER_DEG2 = 50.0
#: Differential count slope dN/dS ∝ S^-1.7 (roughly Euclidean-normalised 1.4 GHz counts).
COUNT_SLOPE = 1.7
_RENDER_RADIUS_FWHM = 2.1  # kernel < 1e-5 beyond this


@dataclass
class SimulatedImage:
    """A simulated image on disk and its truth table (see `simulate_image`)."""

    path: Path
    truth: Table
    rms_path: Path | None = None
    pb_path: Path | None = None


def make_sky(
    center_ra_deg: float,
    center_dec_deg: float,
    radius_deg: float,
    *,
    seed: int,
    min_flux_jy: float = 2.5e-3,
    max_flux_jy: float = 1.0,
    n_sources: int | None = None,
    extended_fraction: float = 0.1,
) -> Table:
    """A random NVSS-like sky in a cone.

    Parameters
    ----------
    center_ra_deg, center_dec_deg, radius_deg : float
        The cone (degrees).
    seed : int
        Random seed.
    min_flux_jy, max_flux_jy : float
        Flux range of the power-law counts ``dN/dS ∝ S^-1.7``.
    n_sources : int, optional
        Number of sources; default from the NVSS density (≈50 deg⁻² above 2.5 mJy).
    extended_fraction : float
        Fraction given an intrinsic Gaussian size of 10–40″ (axis ratio 0.3–1).

    Returns
    -------
    astropy.table.Table
        ``source_id, name, ra_deg, dec_deg, flux_jy`` (integrated, Jy) and intrinsic
        ``major_arcsec, minor_arcsec, pa_deg`` (0 for point sources).
    """
    rng = np.random.default_rng(seed)
    area = 2 * math.pi * (1 - math.cos(math.radians(radius_deg))) * (180 / math.pi) ** 2
    if n_sources is None:
        expected = NVSS_DENSITY_PER_DEG2 * area * (min_flux_jy / 2.5e-3) ** (1 - COUNT_SLOPE)
        n_sources = int(rng.poisson(expected))
    flux = _power_law(rng, n_sources, min_flux_jy, max_flux_jy, COUNT_SLOPE)
    cos_r = math.cos(math.radians(radius_deg))
    theta = np.arccos(rng.uniform(cos_r, 1.0, n_sources))
    phi = rng.uniform(0.0, 360.0, n_sources)
    centre = SkyCoord(center_ra_deg * u.deg, center_dec_deg * u.deg)
    coords = centre.directional_offset_by(phi * u.deg, theta * u.rad)
    extended = rng.uniform(size=n_sources) < extended_fraction
    major = np.where(extended, rng.uniform(10.0, 40.0, n_sources), 0.0)
    minor = np.where(extended, major * rng.uniform(0.3, 1.0, n_sources), 0.0)
    pa = np.where(extended, rng.uniform(0.0, 180.0, n_sources), 0.0)
    sky = Table()
    sky["source_id"] = np.arange(1, n_sources + 1, dtype=np.int64)
    sky["name"] = _names(coords)
    sky["ra_deg"] = coords.ra.deg
    sky["dec_deg"] = coords.dec.deg
    sky["flux_jy"] = flux
    sky["major_arcsec"] = major
    sky["minor_arcsec"] = minor
    sky["pa_deg"] = pa
    return sky


def add_blend_companions(
    sky: Table,
    separation_fwhm: Sequence[float],
    direction_deg: Sequence[float],
    flux_ratio: Sequence[float],
    *,
    beam_major_arcsec: float = 58.0,
    beam_minor_arcsec: float = 18.0,
    beam_pa_deg: float = 110.0,
) -> Table:
    """Return ``sky`` plus one point-source companion per source.

    Each companion lies at ``separation_fwhm`` beam FWHM measured *along* ``direction_deg``
    (position angle east of north, through the elongated beam), with flux
    ``flux_ratio × flux``.
    """
    sep = np.asarray(separation_fwhm, dtype=float)
    direction = np.asarray(direction_deg, dtype=float)
    delta = np.radians(direction - beam_pa_deg)
    fwhm_along = 1.0 / np.sqrt(
        np.cos(delta) ** 2 / beam_major_arcsec**2 + np.sin(delta) ** 2 / beam_minor_arcsec**2
    )
    origin = SkyCoord(np.asarray(sky["ra_deg"]) * u.deg, np.asarray(sky["dec_deg"]) * u.deg)
    coords = origin.directional_offset_by(direction * u.deg, sep * fwhm_along * u.arcsec)
    companions = Table()
    companions["source_id"] = np.asarray(sky["source_id"]).max() + np.arange(1, len(sky) + 1)
    companions["name"] = [f"{n}_b" for n in sky["name"]]
    companions["ra_deg"] = coords.ra.deg
    companions["dec_deg"] = coords.dec.deg
    companions["flux_jy"] = np.asarray(sky["flux_jy"]) * np.asarray(flux_ratio, dtype=float)
    for col in ("major_arcsec", "minor_arcsec", "pa_deg"):
        companions[col] = 0.0
    return vstack([sky, companions])


def simulate_image(
    path: str | Path,
    sky: Table,
    *,
    center_ra_deg: float,
    center_dec_deg: float,
    npix: int | tuple[int, int] = 2048,
    pixel_arcsec: float = 2.0,
    beam_major_arcsec: float = 58.0,
    beam_minor_arcsec: float = 18.0,
    beam_pa_deg: float = 110.0,
    noise_jy: float = 1e-3,
    freq_hz: float = 1.405e9,
    date_obs: str = "2026-01-01T00:00:00",
    exposure_s: float = 300.0,
    pb: Literal["gaussian", "airy"] | None = "gaussian",
    pb_fwhm_deg: float = 3.2,
    pb_corrected: bool = False,
    pb_cutoff: float = 0.1,
    nan_border_pix: int = 0,
    naxis: Literal[2, 3, 4] = 4,
    axis_order: tuple[str, ...] = ("RA", "DEC", "FREQ", "STOKES"),
    beam_in: Literal["keywords", "history-aips", "history-casa", "none"] = "keywords",
    write_rms_map: bool = False,
    write_pb_map: bool = False,
    seed: int = 0,
) -> SimulatedImage:
    """Write a simulated image of ``sky`` and return it with its truth.

    The pointing (and PB centre) is the image centre. See the module docstring for the noise
    model and header conventions; parameters are in the units their names give.

    Returns
    -------
    SimulatedImage
        ``truth`` is ``sky`` plus ``x_pix, y_pix`` (0-based), ``pb_response``, ``on_image``
        and ``peak_jyb``: the exact expected forced peak in the written image's units
        (apparent, i.e. × PB, unless ``pb_corrected``).
    """
    path = Path(path)
    ny, nx = (npix, npix) if isinstance(npix, int) else npix
    rng = np.random.default_rng(seed)
    wcs = _celestial_wcs(center_ra_deg, center_dec_deg, nx, ny, pixel_arcsec)
    beam = (beam_major_arcsec, beam_minor_arcsec, beam_pa_deg)

    truth = sky.copy()
    x, y = wcs.world_to_pixel_values(np.asarray(sky["ra_deg"]), np.asarray(sky["dec_deg"]))
    truth["x_pix"], truth["y_pix"] = x, y
    truth["on_image"] = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    centre = SkyCoord(center_ra_deg * u.deg, center_dec_deg * u.deg)
    sep = centre.separation(
        SkyCoord(np.asarray(sky["ra_deg"]) * u.deg, np.asarray(sky["dec_deg"]) * u.deg)
    ).deg
    dish = PrimaryBeam.with_fwhm(pb, pb_fwhm_deg, freq_hz) if pb else None
    truth["pb_response"] = dish.response(sep, freq_hz) if dish else np.ones(len(sky))
    beam_cov = covariance(*beam)[0]
    source_cov = covariance(sky["major_arcsec"], sky["minor_arcsec"], sky["pa_deg"]) + beam_cov
    peak_true = np.asarray(sky["flux_jy"]) * np.sqrt(
        np.linalg.det(beam_cov) / np.linalg.det(source_cov)
    )
    apparent = peak_true * np.asarray(truth["pb_response"])
    truth["peak_jyb"] = peak_true if pb_corrected else apparent

    image = _render_sources(wcs, nx, ny, truth, source_cov, apparent)
    image += noise_jy * _correlated_noise(rng, wcs, nx, ny, beam_cov)
    pb_map = None
    if dish is not None:
        pb_map = dish.response(_separation_map(wcs, nx, ny, centre), freq_hz)
    rms_map = np.full((ny, nx), noise_jy, dtype=np.float32)
    if pb_corrected and pb_map is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            image = np.where(pb_map >= pb_cutoff, image / pb_map, np.nan)
            rms_map = np.where(pb_map >= pb_cutoff, noise_jy / pb_map, np.nan)
    if nan_border_pix > 0:
        b = nan_border_pix
        for arr in (image, rms_map):
            arr[:b], arr[-b:], arr[:, :b], arr[:, -b:] = np.nan, np.nan, np.nan, np.nan

    header = _header(
        wcs,
        nx,
        ny,
        naxis,
        axis_order,
        freq_hz,
        date_obs,
        exposure_s,
        beam,
        beam_in,
        center_ra_deg,
        center_dec_deg,
    )
    _write(path, image, header, naxis, axis_order)
    result = SimulatedImage(path=path, truth=truth)
    if write_rms_map:
        result.rms_path = path.with_name(path.stem + "-rms.fits")
        _write(result.rms_path, rms_map, header, naxis, axis_order)
    if write_pb_map:
        result.pb_path = path.with_name(path.stem + "-pb-model.fits")
        _write(
            result.pb_path,
            pb_map if pb_map is not None else np.ones((ny, nx)),
            header,
            naxis,
            axis_order,
        )
    return result


def _power_law(
    rng: np.random.Generator, n: int, smin: float, smax: float, slope: float
) -> np.ndarray:
    a = 1.0 - slope
    u_ = rng.uniform(size=n)
    return (smin**a + u_ * (smax**a - smin**a)) ** (1.0 / a)


def _names(coords: SkyCoord) -> list[str]:
    ra = coords.ra.to_string(unit=u.hourangle, sep="", precision=0, pad=True)
    dec = coords.dec.to_string(sep="", precision=0, alwayssign=True, pad=True)
    return [f"SIM J{r}{d}" for r, d in zip(np.atleast_1d(ra), np.atleast_1d(dec))]


def _celestial_wcs(ra: float, dec: float, nx: int, ny: int, pixel_arcsec: float) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [nx / 2 + 1, ny / 2 + 1]
    wcs.wcs.cdelt = [-pixel_arcsec / 3600.0, pixel_arcsec / 3600.0]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.equinox = 2000.0
    return wcs


def _render_sources(
    wcs: WCS, nx: int, ny: int, truth: Table, cov_arcsec2: np.ndarray, apparent_peak: np.ndarray
) -> np.ndarray:
    """Sum of elliptical Gaussians evaluated on the sky at every pixel of each source's box."""
    image = np.zeros((ny, nx), dtype=np.float64)
    forms = 0.5 * np.linalg.inv(cov_arcsec2)  # exp(-dᵀ M d), d in arcsec (east, north)
    # Box half-sizes (pixels) of each source's ellipse out to the render radius.
    to_pix = np.linalg.inv(wcs.pixel_scale_matrix * 3600.0)
    cov_pix = np.einsum("ij,njk,lk->nil", to_pix, cov_arcsec2, to_pix)
    reach = _RENDER_RADIUS_FWHM / FWHM_TO_SIGMA
    half_x = np.ceil(reach * np.sqrt(cov_pix[:, 0, 0])).astype(int) + 1
    half_y = np.ceil(reach * np.sqrt(cov_pix[:, 1, 1])).astype(int) + 1
    x, y = np.asarray(truth["x_pix"]), np.asarray(truth["y_pix"])
    ra0 = np.radians(np.asarray(truth["ra_deg"]))
    dec0 = np.radians(np.asarray(truth["dec_deg"]))
    for k in np.flatnonzero(np.isfinite(x) & np.isfinite(y)):
        i0 = max(int(round(x[k])) - half_x[k], 0)
        i1 = min(int(round(x[k])) + half_x[k] + 1, nx)
        j0 = max(int(round(y[k])) - half_y[k], 0)
        j1 = min(int(round(y[k])) + half_y[k] + 1, ny)
        if i0 >= i1 or j0 >= j1:
            continue
        jj, ii = np.mgrid[j0:j1, i0:i1]
        ra, dec = wcs.pixel_to_world_values(ii, jj)
        east, north = _tangent_offsets_arcsec(np.radians(ra), np.radians(dec), ra0[k], dec0[k])
        m = forms[k]
        q = m[0, 0] * east**2 + 2 * m[0, 1] * east * north + m[1, 1] * north**2
        image[j0:j1, i0:i1] += apparent_peak[k] * np.exp(-q)
    return image


def _tangent_offsets_arcsec(ra, dec, ra0, dec0):
    """Gnomonic (east, north) offsets in arcsec of (ra, dec) from (ra0, dec0), radians in."""
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    east = np.cos(dec) * np.sin(ra - ra0) / cos_c
    north = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    return np.degrees(east) * 3600.0, np.degrees(north) * 3600.0


def _correlated_noise(
    rng: np.random.Generator, wcs: WCS, nx: int, ny: int, beam_cov_arcsec2: np.ndarray
) -> np.ndarray:
    """Unit-rms noise whose autocorrelation is the beam (white noise ⊛ Gaussian of Σ_beam/2)."""
    to_pix = np.linalg.inv(wcs.pixel_scale_matrix * 3600.0)  # (east, north) arcsec → pixel
    cov_pix = to_pix @ (beam_cov_arcsec2 / 2.0) @ to_pix.T
    half = int(math.ceil(4.0 * math.sqrt(np.max(np.linalg.eigvalsh(cov_pix)))))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    d = np.stack([dx, dy], axis=-1).astype(float)
    inv = np.linalg.inv(cov_pix)
    kernel = np.exp(-0.5 * np.einsum("...i,ij,...j->...", d, inv, d))
    kernel /= np.sqrt(np.sum(kernel**2))
    white = rng.standard_normal((ny + 2 * half, nx + 2 * half)).astype(np.float32)
    return signal.fftconvolve(white, kernel.astype(np.float32), mode="valid")


def _separation_map(wcs: WCS, nx: int, ny: int, centre: SkyCoord) -> np.ndarray:
    jj, ii = np.mgrid[0:ny, 0:nx]
    ra, dec = wcs.pixel_to_world_values(ii, jj)
    ra, dec = np.radians(ra), np.radians(dec)
    ra0, dec0 = centre.ra.rad, centre.dec.rad
    cos_sep = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    return np.degrees(np.arccos(np.clip(cos_sep, -1.0, 1.0)))


def _header(
    wcs: WCS,
    nx: int,
    ny: int,
    naxis: int,
    axis_order: tuple[str, ...],
    freq_hz: float,
    date_obs: str,
    exposure_s: float,
    beam: tuple[float, float, float],
    beam_in: str,
    ra0: float,
    dec0: float,
) -> fits.Header:
    axes = _axes(naxis, axis_order)
    spec = {
        "RA": ("RA---SIN", nx, wcs.wcs.crpix[0], wcs.wcs.cdelt[0], wcs.wcs.crval[0], "deg"),
        "DEC": ("DEC--SIN", ny, wcs.wcs.crpix[1], wcs.wcs.cdelt[1], wcs.wcs.crval[1], "deg"),
        "FREQ": ("FREQ", 1, 1.0, 2.5e8, freq_hz, "Hz"),
        "STOKES": ("STOKES", 1, 1.0, 1.0, 1.0, ""),
    }
    h = fits.Header()
    h["BUNIT"] = "JY/BEAM"
    for k, name in enumerate(axes, start=1):
        ctype, n, crpix, cdelt, crval, unit = spec[name]
        h[f"CTYPE{k}"], h[f"CRPIX{k}"], h[f"CDELT{k}"] = ctype, crpix, cdelt
        h[f"CRVAL{k}"], h[f"CUNIT{k}"] = crval, unit
    h["RADESYS"] = "ICRS"
    h["EQUINOX"] = 2000.0
    h["RESTFRQ"] = freq_hz
    h["TELESCOP"] = "DSA-110"
    h["DATE-OBS"] = Time(date_obs, scale="utc").isot
    h["EXPOSURE"] = (exposure_s, "integration time [s]")
    h["OBSRA"], h["OBSDEC"] = ra0, dec0
    bmaj, bmin, bpa = beam
    if beam_in == "keywords":
        h["BMAJ"], h["BMIN"], h["BPA"] = bmaj / 3600.0, bmin / 3600.0, bpa
    elif beam_in == "history-aips":
        h.add_history(
            f"AIPS   CLEAN BMAJ={bmaj / 3600:12.4E} BMIN={bmin / 3600:12.4E} BPA={bpa:7.2f}"
        )
    elif beam_in == "history-casa":
        h.add_history(f"Restoring beam: {bmaj:.4f} arcsec, {bmin:.4f} arcsec, {bpa:.4f} deg")
    elif beam_in != "none":
        raise ValueError(f"unknown beam_in {beam_in!r}")
    return h


def _axes(naxis: int, axis_order: tuple[str, ...]) -> list[str]:
    """The first ``naxis`` FITS axes; RA and DEC must be the first two (in either order)."""
    axes = [a.upper() for a in axis_order][:naxis]
    if (
        len(axes) != naxis
        or set(axes[:2]) != {"RA", "DEC"}
        or not set(axes) <= {"RA", "DEC", "FREQ", "STOKES"}
    ):
        raise ValueError(
            f"axis_order {axis_order} must start with RA and DEC and name "
            f"{naxis} axes from RA, DEC, FREQ, STOKES"
        )
    return axes


def _write(
    path: Path, plane: np.ndarray, header: fits.Header, naxis: int, axis_order: tuple[str, ...]
) -> None:
    axes = _axes(naxis, axis_order)
    numpy_axes = list(reversed(axes))
    data = np.asarray(plane, dtype=np.float32)
    if numpy_axes.index("DEC") > numpy_axes.index("RA"):
        data = data.T
    for _ in range(len(axes) - 2):
        data = data[np.newaxis]
    fits.writeto(path, data, header, overwrite=True)
