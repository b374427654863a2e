"""One DSA-110 observation — its UVH5 sub-band files — into one CASA Measurement Set.

Each sub-band file is read on its own (so a corrupt or truncated one is named in the error),
the sub-bands are joined in frequency (ascending, whatever order the files came in: DSA-110's
``sb00`` is the highest), the visibilities are rephased from the telescope's drift-scan phase
centre to a fixed ICRS centre — the pointing carried to ICRS at the observation's mid-time —
and written as a Measurement Set with pyuvdata (python-casacore). Everything the rest of the
pipeline needs to know about the observation comes from the visibilities themselves: the
start, mid and end times (integration centres ± half an integration), the site, the fixed
(az, el) pointing and the band, from which `ConvertedObservation.track` gives the primary
beam's drift over the sky.
"""

from __future__ import annotations

import logging
import math
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110_contimg.imaging.imager import ImagingError
from dsa110_contimg.imaging.primary_beam import BeamTrack, PrimaryBeam

__all__ = ["ConversionError", "ConvertedObservation", "convert_observation", "disk_usage"]

log = logging.getLogger(__name__)

_MJD_OF_JD0 = 2400000.5


class ConversionError(ImagingError):
    """The visibilities of an observation cannot be converted (the message says which file
    and why)."""


@dataclass(frozen=True)
class ConvertedObservation:
    """A Measurement Set and what the visibilities said about the observation."""

    ms_path: Path
    mjd_start: float
    mjd_mid: float
    mjd_end: float
    n_integrations: int
    n_antennas: int
    n_baselines: int
    n_channels: int
    max_baseline_m: float
    freq_min_hz: float
    freq_max_hz: float
    phase_centre_deg: tuple[float, float]
    track: BeamTrack
    input_bytes: int

    @property
    def duration_s(self) -> float:
        """From the start of the first integration to the end of the last."""
        return (self.mjd_end - self.mjd_start) * 86400.0


def convert_observation(
    files: list[Path] | tuple[Path, ...], ms_path: str | Path, *, beam: PrimaryBeam
) -> ConvertedObservation:
    """Read the sub-band files of one observation and write one Measurement Set.

    Parameters
    ----------
    files : sequence of Path
        The observation's UVH5 files (any order).
    ms_path : path
        The Measurement Set to write (replaced if it exists).
    beam : PrimaryBeam
        The dishes' beam, recorded in the returned track.

    Returns
    -------
    ConvertedObservation

    Raises
    ------
    ConversionError
        A file that cannot be read (named, with the reader's reason), sub-bands that do not
        fit together, or visibilities without a pointing.
    """
    from pyuvdata import UVData

    ms_path = Path(ms_path)
    parts = []
    for path in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pyuvdata's notes on known telescopes etc.
                parts.append(UVData.from_file(str(path), file_type="uvh5"))
        except (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
            raise ConversionError(
                f"{Path(path).name}: not a readable UVH5 file: {type(exc).__name__}: {exc}"
            ) from exc
    if not parts:
        raise ConversionError("no visibility files")
    parts.sort(key=lambda uvd: float(np.min(uvd.freq_array)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uvd = (
                parts[0].fast_concat(parts[1:], axis="freq", inplace=False)
                if len(parts) > 1
                else parts[0]
            )
            uvd.reorder_freqs(channel_order="freq")
    except (ValueError, KeyError, IndexError) as exc:
        raise ConversionError(f"the sub-band files do not fit together: {exc}") from exc
    az_deg, alt_deg = _fixed_pointing(uvd)
    lat, lon, height = uvd.telescope.location_lat_lon_alt_degrees
    times_jd = np.unique(uvd.time_array)
    half = 0.5 * float(np.median(uvd.integration_time)) / 86400.0
    mjd = times_jd - _MJD_OF_JD0
    start, end = float(mjd.min() - half), float(mjd.max() + half)
    freqs = np.asarray(uvd.freq_array, dtype=float).ravel()
    track = BeamTrack.from_altaz(
        beam,
        az_deg=az_deg,
        alt_deg=alt_deg,
        lon_deg=float(lon),
        lat_deg=float(lat),
        height_m=float(height),
        mjd=mjd,
        freq_min_hz=float(freqs.min()),
        freq_max_hz=float(freqs.max()),
    )
    ra0, dec0 = track.centre
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uvd.phase(
            lon=math.radians(ra0),
            lat=math.radians(dec0),
            epoch="J2000",
            phase_frame="icrs",
            cat_name=ms_path.stem,
        )
    if ms_path.exists():
        shutil.rmtree(ms_path)
    ms_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        uvd.write_ms(str(ms_path), clobber=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConversionError(f"writing the Measurement Set {ms_path} failed: {exc}") from exc
    return ConvertedObservation(
        ms_path=ms_path,
        mjd_start=start,
        mjd_mid=0.5 * (start + end),
        mjd_end=end,
        n_integrations=int(times_jd.size),
        n_antennas=int(uvd.telescope.Nants),
        n_baselines=int(uvd.Nbls),
        n_channels=int(freqs.size),
        max_baseline_m=float(np.max(np.hypot(uvd.uvw_array[:, 0], uvd.uvw_array[:, 1]))),
        freq_min_hz=float(freqs.min()),
        freq_max_hz=float(freqs.max()),
        phase_centre_deg=(ra0, dec0),
        track=track,
        input_bytes=sum(Path(p).stat().st_size for p in files),
    )


def _fixed_pointing(uvd) -> tuple[float, float]:
    """(az, el) in degrees of the telescope's fixed pointing, from the visibilities.

    A ``driftscan`` phase centre (fixed az/el) is the pointing; otherwise a DSA-110
    ``extra_keywords`` ``phase_center_dec`` (radians, the meridian pointing's declination).
    """
    for entry in uvd.phase_center_catalog.values():
        if entry.get("cat_type") == "driftscan":
            return (
                math.degrees(float(entry["cat_lon"])) % 360.0,
                math.degrees(float(entry["cat_lat"])),
            )
    extra = {k.lower(): v for k, v in (uvd.extra_keywords or {}).items()}
    if "phase_center_dec" in extra:
        lat = float(uvd.telescope.location_lat_lon_alt_degrees[0])
        dec = math.degrees(float(extra["phase_center_dec"]))
        return (0.0 if dec > lat else 180.0), 90.0 - abs(lat - dec)
    raise ConversionError(
        "the visibilities record no fixed pointing (no driftscan phase "
        "centre, no phase_center_dec keyword)"
    )


def disk_usage(path: Path) -> int:
    """Bytes under ``path`` (a file or a directory tree such as a Measurement Set)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
