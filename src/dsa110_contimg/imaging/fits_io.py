"""The one FITS image reader: a 2-D plane, its celestial WCS, beam, time and frequency.

Radio images arrive with 2, 3 or 4 axes (CASA and WSClean add FREQ and STOKES axes, in either
order, and occasionally put DEC before RA). `load_image` opens the file once (memory-mapped),
selects the Stokes I plane of a single-channel image, converts it once to native-endian
float32 and returns an `Image` with everything photometry needs.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import FK5, ICRS, SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales, wcs_to_celestial_frame

from dsa110_contimg.errors import InputError
from dsa110_contimg.imaging.primary_beam import BeamTrack

__all__ = [
    "Beam",
    "BeamSizeError",
    "Footprint",
    "Image",
    "ImageReadError",
    "MissingBeamError",
    "MissingTimeError",
    "NotAnImageError",
    "check_image",
    "get_field_center_from_fits",
    "image_pixels",
    "load_image",
    "load_plane",
    "require_observation_time",
]

log = logging.getLogger(__name__)

_EXPOSURE_KEYS = ("EXPOSURE", "EXPTIME", "TELAPSE", "INTTIME", "DURATION")
_HISTORY_NUMBER = r"([-+]?\d*\.?\d+(?:[EeDd][-+]?\d+)?)"
# AIPS:  "AIPS   CLEAN BMAJ=  1.6111E-02 BMIN=  5.0000E-03 BPA= 110.00"  (degrees)
_AIPS_BEAM = re.compile(
    rf"BMAJ\s*=\s*{_HISTORY_NUMBER}\s+BMIN\s*=\s*{_HISTORY_NUMBER}\s+BPA\s*=\s*{_HISTORY_NUMBER}",
    re.IGNORECASE,
)
# CASA and friends: "Restoring beam: 58 arcsec, 18 arcsec, 110 deg" (units explicit)
_UNIT_BEAM = re.compile(
    rf"beam[^0-9+-]*{_HISTORY_NUMBER}\s*(arcsec|arcmin|deg)\w*\s*[,x*by ]+\s*"
    rf"{_HISTORY_NUMBER}\s*(arcsec|arcmin|deg)\w*\s*[, ]+(?:pa\s*[:=]?\s*)?"
    rf"{_HISTORY_NUMBER}\s*(deg|rad)?",
    re.IGNORECASE,
)
_TO_ARCSEC = {"arcsec": 1.0, "arcmin": 60.0, "deg": 3600.0}


class ImageReadError(InputError):
    """The file is not a usable FITS image (corrupt, no data, no celestial axes, ...)."""


class MissingBeamError(ImageReadError):
    """The image has no restoring beam and none was supplied."""


class NotAnImageError(ImageReadError):
    """Pixel data that cannot be a sky image: every pixel blank, zero, or the same value."""


class MissingTimeError(ImageReadError):
    """The image has no usable observation time (``MJD-OBS``/``DATE-OBS``)."""


class BeamSizeError(ImageReadError):
    """A restoring beam that makes no sense for the image's pixels and size."""


#: Smallest beam minor axis (FWHM) in pixels: below it the beam is not sampled, and the fits
#: would need lattices of ~(side / FWHM)² null positions.
MIN_BEAM_PIXELS = 0.5
#: Largest beam major axis (FWHM) as a fraction of the image's smaller side: a larger beam
#: leaves no room for a source and its background, and would make every kernel the whole image.
MAX_BEAM_FRACTION = 0.25


@dataclass(frozen=True)
class Beam:
    """Restoring beam: FWHM axes in arcsec and position angle in degrees east of north."""

    major_arcsec: float
    minor_arcsec: float
    pa_deg: float

    def __post_init__(self) -> None:
        for name in ("major_arcsec", "minor_arcsec", "pa_deg"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"beam {name} must be finite, got {getattr(self, name)!r}")
        if not 0 < self.minor_arcsec <= self.major_arcsec:
            raise InputError(
                f"beam axes must satisfy 0 < minor <= major, got major={self.major_arcsec} "
                f"arcsec, minor={self.minor_arcsec} arcsec"
            )

    @classmethod
    def from_degrees(cls, bmaj: float, bmin: float, bpa: float) -> Beam:
        """Build from FITS ``BMAJ``/``BMIN``/``BPA`` values (all in degrees), sorting the axes."""
        major, minor = max(bmaj, bmin), min(bmaj, bmin)
        return cls(major * 3600.0, minor * 3600.0, float(bpa))


@dataclass(frozen=True)
class Footprint:
    """A cone that contains every valid pixel of an image."""

    ra_deg: float
    dec_deg: float
    radius_deg: float


@dataclass
class Image:
    """A 2-D radio image plane ready for measurement.

    Attributes
    ----------
    path : Path
        File it was read from.
    data : ndarray
        2-D native-endian float32 array indexed ``[y, x]``; invalid pixels are NaN.
    wcs : astropy.wcs.WCS
        Celestial WCS of ``data`` (pixel axis 0 = x = longitude).
    header : astropy.io.fits.Header
        The original primary header.
    beam : Beam
        Restoring beam.
    freq_hz : float or None
        Observing frequency.
    mjd_start, mjd_mid, mjd_end : float or None
        Observation times (UTC MJD); ``mjd_mid`` is mid-exposure when the integration time is
        known, else the start.
    pb_corrected : bool
        Whether the image is primary-beam corrected: the header's ``PBCORR`` when present
        (this package's imagers write it), else the file name conventions of WSClean
        ``-pb.fits`` / CASA ``.pbcor``, or the caller.
    pointing : tuple of float or None
        Pointing (phase) centre (RA, Dec) in degrees when the header gives one.
    pb_track : BeamTrack or None
        The primary beam's track over the observation and band, when the header carries it
        (`dsa110_contimg.imaging.primary_beam.BeamTrack.to_header`).
    """

    path: Path
    data: np.ndarray
    wcs: WCS
    header: fits.Header
    beam: Beam
    freq_hz: float | None
    mjd_start: float | None
    mjd_mid: float | None
    mjd_end: float | None
    pb_corrected: bool
    pointing: tuple[float, float] | None
    pb_track: BeamTrack | None = None
    _footprint: Footprint | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        ny, nx = self.data.shape
        return ny, nx

    @property
    def pixel_scale_arcsec(self) -> tuple[float, float]:
        """Pixel size along x and y in arcsec at the reference point."""
        sx, sy = proj_plane_pixel_scales(self.wcs) * 3600.0
        return float(sx), float(sy)

    def sky_to_pixel(
        self, ra_deg: np.ndarray, dec_deg: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """0-based pixel (x, y) of ICRS positions, whatever celestial frame the image uses."""
        if self._equatorial:
            return self.wcs.world_to_pixel_values(ra_deg, dec_deg)
        coords = SkyCoord(np.asarray(ra_deg) * u.deg, np.asarray(dec_deg) * u.deg, frame="icrs")
        return self.wcs.world_to_pixel(coords)

    def pixel_to_sky(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ICRS (RA, Dec) in degrees of 0-based pixel positions."""
        if self._equatorial:
            ra, dec = self.wcs.pixel_to_world_values(x, y)
            return np.mod(ra, 360.0), np.asarray(dec)
        icrs = self.wcs.pixel_to_world(x, y).icrs
        return icrs.ra.deg, icrs.dec.deg

    @property
    def _equatorial(self) -> bool:
        return _is_equatorial_j2000(self.wcs)

    def footprint(self) -> Footprint:
        """The smallest cone (about the mean direction) containing all valid pixels.

        Raises
        ------
        ImageReadError
            If the image has no finite pixel.
        """
        if self._footprint is None:
            self._footprint = _valid_footprint(self)
        return self._footprint

    def pb_centre(self) -> tuple[float, float]:
        """Primary-beam centre (RA, Dec in degrees): the pointing, else the footprint centre."""
        if self.pointing is not None:
            return self.pointing
        footprint = self.footprint()
        return footprint.ra_deg, footprint.dec_deg


def load_image(
    path: str | Path,
    *,
    beam: Beam | None = None,
    pb_corrected: bool | None = None,
) -> Image:
    """Read a 2-, 3- or 4-axis FITS image into an `Image`.

    Parameters
    ----------
    path : str or Path
        FITS file; the first HDU with at least two axes is used.
    beam : Beam, optional
        Restoring beam to use instead of the header's (required when the header has none).
    pb_corrected : bool, optional
        Override the primary-beam-correction state guessed from the file name.

    Returns
    -------
    Image

    Raises
    ------
    ImageReadError
        Missing/corrupt file, no image data, no celestial axes, or several frequency planes.
    MissingBeamError
        No beam in the header (``BMAJ``/``BMIN``/``BPA``, AIPS or CASA HISTORY lines, or a CASA
        ``BEAMS`` table) and no ``beam`` given.
    """
    path = Path(path)
    header, plane, wcs, beams_table = _read_plane(path)
    image_beam = beam or _beam_from_header(header, beams_table)
    if image_beam is None:
        raise MissingBeamError(
            f"{path}: no restoring beam (no BMAJ/BMIN/BPA keywords, no AIPS/CASA HISTORY beam "
            "line, no BEAMS table); supply one explicitly, e.g. --beam 58,18,110 "
            "(major arcsec, minor arcsec, PA deg)"
        )
    mjd_start, mjd_mid, mjd_end = _observation_times(header, path)
    return Image(
        path=path,
        data=plane,
        wcs=wcs,
        header=header,
        beam=image_beam,
        freq_hz=_frequency(header),
        mjd_start=mjd_start,
        mjd_mid=mjd_mid,
        mjd_end=mjd_end,
        pb_corrected=_pb_corrected(header, path) if pb_corrected is None else pb_corrected,
        pointing=_pointing(header),
        pb_track=BeamTrack.from_header(header),
    )


def check_image(image: Image) -> None:
    """Refuse an image that cannot be measured: pixels that are no sky image, or a beam that
    makes no sense for its pixels.

    A real image, even of an empty field, has noise: pixels that are all blank (NaN or
    infinite), all zero, or all the same value come from a failed imaging run or a
    placeholder, and measuring them would store rows of 0.0 Jy as if the sky had been
    observed. The beam's minor axis must span at least `MIN_BEAM_PIXELS` pixels and its major
    axis at most `MAX_BEAM_FRACTION` of the image's smaller side (a header saying
    ``BMAJ = 50`` degrees, or a request's 0.001″ beam, would otherwise cost terabytes).

    Raises
    ------
    NotAnImageError
        Every pixel is blank, zero, or has one value (the message says which).
    BeamSizeError
        The beam is too small or too large for the image (the message gives both sizes).
    """
    name = image.path.name
    finite = np.isfinite(image.data)
    if not finite.any():
        raise NotAnImageError(f"{name}: not an image: every pixel is blank (NaN or infinite)")
    valid = image.data[finite]
    low, high = float(valid.min()), float(valid.max())
    if low == high == 0.0:
        raise NotAnImageError(f"{name}: not an image: every pixel is zero")
    if low == high:
        raise NotAnImageError(
            f"{name}: not an image: every valid pixel has the same value ({low:g})"
        )
    beam, scale = image.beam, image.pixel_scale_arcsec
    described = (
        f"{name}: the restoring beam {beam.major_arcsec:.4g}″ × "
        f"{beam.minor_arcsec:.4g}″ makes no sense for this image"
    )
    minor_pix = beam.minor_arcsec / max(scale)
    if minor_pix < MIN_BEAM_PIXELS:
        raise BeamSizeError(
            f"{described}: its minor axis is {minor_pix:.3g} pixels of "
            f"{max(scale):.3g}″, below the minimum of {MIN_BEAM_PIXELS:g} pixel"
        )
    major_pix = beam.major_arcsec / min(scale)
    side = min(image.shape)
    if major_pix > MAX_BEAM_FRACTION * side:
        raise BeamSizeError(
            f"{described}: its major axis is {major_pix:.4g} pixels, more than "
            f"{MAX_BEAM_FRACTION:g} of the image's {side}-pixel side"
        )


def require_observation_time(image: Image) -> None:
    """Refuse an image without a usable observation time (its rows would have no time).

    Raises
    ------
    MissingTimeError
        No ``MJD-OBS``/``DATE-OBS`` keyword, or one that cannot be parsed.
    """
    if image.mjd_mid is None or not math.isfinite(image.mjd_mid):
        raise MissingTimeError(
            f"{image.path.name}: no usable observation time (no MJD-OBS or "
            "parsable DATE-OBS keyword); measurements without a time cannot "
            "enter light curves — add DATE-OBS to the header"
        )


def load_plane(path: str | Path, like: Image) -> np.ndarray:
    """Read an auxiliary map (rms, background, primary beam) matching ``like``'s pixel grid.

    Raises
    ------
    ImageReadError
        If the file cannot be read or its plane shape differs from ``like.shape``.
    """
    _, plane, _, _ = _read_plane(Path(path))
    if plane.shape != like.shape:
        raise ImageReadError(
            f"{path}: map shape {plane.shape} does not match image {like.path} shape {like.shape}"
        )
    return plane


def get_field_center_from_fits(path: str | Path) -> tuple[float, float]:
    """(RA, Dec) in degrees of the central pixel of a 2-, 3- or 4-axis FITS image.

    Only the header is read.
    """
    path = Path(path)
    try:
        header = fits.getheader(path)
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"{path}: cannot read FITS header ({exc})") from exc
    wcs, lng, lat = _celestial_wcs(header, path)
    nx, ny = header[f"NAXIS{lng + 1}"], header[f"NAXIS{lat + 1}"]
    centre = wcs.pixel_to_world((nx - 1) / 2.0, (ny - 1) / 2.0).icrs
    return float(centre.ra.deg), float(centre.dec.deg)


def _read_plane(path: Path) -> tuple[fits.Header, np.ndarray, WCS, fits.FITS_rec | None]:
    """Open once, pick the image HDU and the Stokes-I plane, return native float32 [y, x]."""
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    try:
        with fits.open(path, memmap=True) as hdul:
            hdu = _image_hdu(hdul, path)
            header = hdu.header.copy()
            wcs, lng, lat = _celestial_wcs(header, path)
            index = _plane_index(header, lng, lat, path)
            raw = hdu.data
            if raw is None:
                raise ImageReadError(f"{path}: image HDU holds no data")
            plane = raw[index] if lng < lat else raw[index].T  # → [y = lat, x = lng]
            plane = _native_float32(plane)
            beams = hdul["BEAMS"].data.copy() if "BEAMS" in hdul else None
    except (OSError, TypeError, ValueError) as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(f"{path}: not a readable FITS image ({exc})") from exc
    return header, plane, wcs, beams


def image_pixels(path: str | Path) -> int:
    """Pixels of the image plane of a FITS file (from its header: no data is read).

    Raises
    ------
    ImageReadError
        Missing or unreadable file, or no image HDU.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    try:
        with fits.open(path, memmap=True) as hdul:
            header = _image_hdu(hdul, path).header
            _wcs, lng, lat = _celestial_wcs(header, path)
            return int(header[f"NAXIS{lng + 1}"]) * int(header[f"NAXIS{lat + 1}"])
    except (OSError, TypeError, ValueError, KeyError) as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(f"{path}: not a readable FITS image ({exc})") from exc


def _image_hdu(hdul: fits.HDUList, path: Path) -> fits.PrimaryHDU | fits.ImageHDU:
    """The first HDU holding an image of at least two axes."""
    hdu = next((h for h in hdul if h.is_image and h.header.get("NAXIS", 0) >= 2), None)
    if hdu is None:
        raise ImageReadError(f"{path}: no image HDU with at least two axes")
    return hdu


def _native_float32(plane: np.ndarray) -> np.ndarray:
    """One copy into native-endian float32; values beyond float32 range become NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(plane, dtype=np.float32)
    if plane.dtype.itemsize > 4:
        out[np.isinf(out)] = np.nan
    return out


def _is_equatorial_j2000(wcs: WCS) -> bool:
    frame = wcs_to_celestial_frame(wcs)
    return isinstance(frame, ICRS) or (
        isinstance(frame, FK5) and abs(frame.equinox.jyear - 2000.0) < 1e-6
    )


def _celestial_wcs(header: fits.Header, path: Path) -> tuple[WCS, int, int]:
    """Celestial WCS with longitude first, plus the 0-based FITS axis numbers of lng and lat."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        full = WCS(header)
    lng, lat = full.wcs.lng, full.wcs.lat
    if lng < 0 or lat < 0:
        raise ImageReadError(f"{path}: header has no celestial (RA/Dec or lon/lat) axes")
    return full.sub([lng + 1, lat + 1]), lng, lat


def _plane_index(header: fits.Header, lng: int, lat: int, path: Path) -> tuple:
    """numpy index selecting the celestial plane: Stokes I, the single frequency channel."""
    naxis = header["NAXIS"]
    index: list[int | slice] = []
    for fits_axis in range(naxis - 1, -1, -1):  # numpy order
        if fits_axis in (lng, lat):
            index.append(slice(None))
            continue
        n = header.get(f"NAXIS{fits_axis + 1}", 1)
        ctype = str(header.get(f"CTYPE{fits_axis + 1}", "")).upper()
        if n == 1:
            index.append(0)
        elif ctype.startswith("STOKES"):
            index.append(_stokes_i_index(header, fits_axis, n, path))
        else:
            raise ImageReadError(
                f"{path}: axis {fits_axis + 1} ({ctype or 'unnamed'}) has {n} planes; "
                "photometry needs a single-channel (MFS) image"
            )
    return tuple(index)


def _stokes_i_index(header: fits.Header, fits_axis: int, n: int, path: Path) -> int:
    k = fits_axis + 1
    values = header.get(f"CRVAL{k}", 1.0) + (
        np.arange(1, n + 1) - header.get(f"CRPIX{k}", 1.0)
    ) * header.get(f"CDELT{k}", 1.0)
    matches = np.flatnonzero(np.isclose(values, 1.0))
    if matches.size == 0:
        raise ImageReadError(f"{path}: STOKES axis has no Stokes I plane (values {values})")
    return int(matches[0])


def _beam_from_header(header: fits.Header, beams: fits.FITS_rec | None) -> Beam | None:
    """Beam from keywords, then a CASA BEAMS table, then AIPS/CASA HISTORY lines."""
    if all(k in header for k in ("BMAJ", "BMIN")):
        bmaj, bmin = float(header["BMAJ"]), float(header["BMIN"])
        if bmaj > 0 and bmin > 0:
            return Beam.from_degrees(bmaj, bmin, float(header.get("BPA", 0.0)))
        log.warning("ignoring non-positive BMAJ/BMIN (%s, %s) in header", bmaj, bmin)
    if beams is not None and len(beams):
        names = {n.upper(): n for n in beams.names}
        if {"BMAJ", "BMIN", "BPA"} <= names.keys():
            row = beams[0]
            bmaj, bmin = sorted(
                (float(row[names["BMAJ"]]), float(row[names["BMIN"]])), reverse=True
            )
            return Beam(bmaj, bmin, float(row[names["BPA"]]))
    for line in reversed(list(header.get("HISTORY", []))):
        text = str(line).replace("D", "E") if "BMAJ" in str(line).upper() else str(line)
        aips = _AIPS_BEAM.search(text)
        if aips:
            return Beam.from_degrees(*(float(v) for v in aips.groups()))
        casa = _UNIT_BEAM.search(text)
        if casa:
            major, u1, minor, u2, pa, pa_unit = casa.groups()
            pa_deg = math.degrees(float(pa)) if (pa_unit or "").lower() == "rad" else float(pa)
            axes = sorted(
                (float(major) * _TO_ARCSEC[u1.lower()], float(minor) * _TO_ARCSEC[u2.lower()]),
                reverse=True,
            )
            return Beam(axes[0], axes[1], pa_deg)
    return None


def _observation_times(header: fits.Header, path: Path) -> tuple[float | None, ...]:
    """(start, mid, end) MJD from DATE-OBS/MJD-OBS, DATE-END/MJD-END and exposure keywords."""
    start = _mjd(header, "MJD-OBS", "DATE-OBS", path)
    if start is None:
        log.warning("%s: no DATE-OBS or MJD-OBS; observation time unknown", path)
        return None, None, None
    end = _mjd(header, "MJD-END", "DATE-END", path)
    exposure = next(
        (float(header[k]) for k in _EXPOSURE_KEYS if k in header and float(header[k]) > 0), None
    )
    if end is None and exposure is not None:
        end = start + exposure / 86400.0
    mid = _mjd(header, "MJD-AVG", "DATE-AVG", path)
    if mid is None:
        mid = start if end is None else 0.5 * (start + end)
    return start, mid, end


def _mjd(header: fits.Header, mjd_key: str, date_key: str, path: Path) -> float | None:
    if mjd_key in header:
        return float(header[mjd_key])
    if date_key in header and str(header[date_key]).strip():
        scale = str(header.get("TIMESYS", "utc")).lower()
        text = str(header[date_key]).strip()
        if re.fullmatch(r"\d{8}", text):  # compact YYYYMMDD, seen in old survey cutouts
            text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
        try:
            return float(Time(text, scale=scale if scale in Time.SCALES else "utc").mjd)
        except ValueError:
            log.warning(
                "%s: cannot parse %s=%r; treating the time as unknown",
                path,
                date_key,
                header[date_key],
            )
    return None


def _frequency(header: fits.Header) -> float | None:
    for i in range(1, header.get("NAXIS", 0) + 1):
        if str(header.get(f"CTYPE{i}", "")).upper().startswith("FREQ"):
            return float(header[f"CRVAL{i}"])
    for key in ("RESTFRQ", "RESTFREQ", "FREQ"):
        if key in header:
            return float(header[key])
    return None


def _pointing(header: fits.Header) -> tuple[float, float] | None:
    if "OBSRA" in header and "OBSDEC" in header:
        return float(header["OBSRA"]), float(header["OBSDEC"])
    return None


def _pb_corrected(header: fits.Header, path: Path) -> bool:
    """The header's ``PBCORR`` when present, else what the file name says."""
    if "PBCORR" in header:
        return bool(header["PBCORR"])
    return _guess_pb_corrected(path)


def _guess_pb_corrected(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith("-pb.fits") or ".pbcor" in name


def _valid_footprint(image: Image) -> Footprint:
    """Cone about the mean direction of valid pixels, sampled on a grid of ≤ 512² points."""
    ny, nx = image.shape
    step = max(1, max(ny, nx) // 512)
    ys, xs = np.mgrid[0:ny:step, 0:nx:step]
    valid = np.isfinite(image.data[::step, ::step])
    # Always include the last row/column so the far edges count.
    edge_y, edge_x = np.full(nx, ny - 1), np.arange(nx)
    edge_x2, edge_y2 = np.full(ny, nx - 1), np.arange(ny)
    px = np.concatenate(
        [xs[valid], edge_x[np.isfinite(image.data[-1])], edge_x2[np.isfinite(image.data[:, -1])]]
    )
    py = np.concatenate(
        [ys[valid], edge_y[np.isfinite(image.data[-1])], edge_y2[np.isfinite(image.data[:, -1])]]
    )
    if px.size == 0:
        raise ImageReadError(f"{image.path}: image has no finite pixels")
    ra, dec = image.pixel_to_sky(px, py)
    vec = _unit_vectors(np.asarray(ra), np.asarray(dec))
    centre = vec.mean(axis=0)
    centre /= np.linalg.norm(centre)
    cos_sep = np.clip(vec @ centre, -1.0, 1.0)
    margin = step * max(image.pixel_scale_arcsec) / 3600.0
    radius = float(np.degrees(np.arccos(cos_sep.min()))) + margin
    ra0 = math.degrees(math.atan2(centre[1], centre[0])) % 360.0
    dec0 = math.degrees(math.asin(centre[2]))
    return Footprint(ra0, dec0, min(radius, 180.0))


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
