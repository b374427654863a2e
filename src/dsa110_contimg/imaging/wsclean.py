"""The ``wsclean`` imager: DSA-110 sub-band UVH5 files → Measurement Set → WSClean → FITS.

For each observation (its 16 ``<ISO start>_sb<NN>.hdf5`` files, grouped by the start time):

1. **convert** the files into one Measurement Set rephased to the pointing's ICRS position
   at mid-time (`dsa110_contimg.imaging.measurement_set`);
2. run the real **WSClean** binary on it (`WSCleanImager.command` lists the arguments; the
   defaults — w-gridder, Briggs 0, ``-channels-out 16 -join-channels -fit-spectral-pol 2`` for
   one image per sub-band plus the MFS image, auto-masked cleaning to ``auto_threshold`` σ, no
   model written back — are `dsa110_contimg.config.WSCleanSettings`), killed after
   ``timeout_s`` and when this process dies; a non-zero exit fails the observation with
   WSClean's message;
3. **fix the headers** of the images kept (the MFS image and the sub-band images, residual and
   PSF of the MFS): ``RADESYS = 'ICRS'``, ``DATE-OBS``/``MJD-OBS`` the observation's start,
   ``DATE-END``/``MJD-END`` its end and ``EXPOSURE`` (all from the visibilities, never file
   times or the clock), the primary-beam track (`BeamTrack.to_header`: the fixed az/el
   pointing carried to ICRS over the integrations, the band of that image) and
   ``PBCORR = F``: the images are not primary-beam corrected, and forced photometry divides by
   the beam averaged over the integrations and band exactly once;
4. move the products from a work directory into ``<output_dir>/<key>/`` in one rename and
   remove the Measurement Set (unless ``keep_ms``), logging the disk used.

The MFS image is the product to measure; the sub-band images are listed in the result's
metadata (``subband_images``) for spectral photometry.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import time
from pathlib import Path

from astropy.io import fits
from astropy.time import Time

from dsa110_contimg.config import PrimaryBeamSettings, WSCleanSettings
from dsa110_contimg.imaging.imager import (
    Imager,
    ImagingError,
    ImagingResult,
    Observation,
    compile_grouping,
    find_grouped,
    product_name,
    text_tail,
)
from dsa110_contimg.imaging.measurement_set import (
    ConvertedObservation,
    convert_observation,
    disk_usage,
)
from dsa110_contimg.imaging.primary_beam import SPEED_OF_LIGHT_M_S, BeamTrack, PrimaryBeam
from dsa110_contimg.process_lifetime import command_dying_with_parent

__all__ = ["DSA110_GROUPING", "WSCleanImager", "wsclean_available"]

log = logging.getLogger(__name__)

#: DSA-110 sub-band file names: ``<ISO start time>_sb<NN>.hdf5``.
DSA110_GROUPING = r"(?P<key>.+)_sb(?P<sb>\d{2})\.hdf5"
DSA110_SUBBANDS = 16
#: Products kept besides the sub-band images.
_KEPT_MFS_ROLES = {"image", "residual", "psf"}


def wsclean_available(binary: str = "wsclean") -> str | None:
    """Path of the WSClean program, or None when it is not installed."""
    return shutil.which(binary)


class WSCleanImager(Imager):
    """Images DSA-110 sub-band UVH5 files with WSClean.

    Parameters
    ----------
    settings : WSCleanSettings
        WSClean's arguments and whether to keep the Measurement Set.
    primary_beam : PrimaryBeamSettings
        The dishes' beam, written into the image headers.
    timeout_s : float
        WSClean is killed after this long and the observation fails.
    group : str
        Regular expression grouping files into observations (group ``key``, optional ``sb``).
    files_per_observation : int
        Files of a complete observation.
    """

    name = "wsclean"

    def __init__(
        self,
        settings: WSCleanSettings | None = None,
        primary_beam: PrimaryBeamSettings | None = None,
        timeout_s: float = 3600.0,
        *,
        group: str = DSA110_GROUPING,
        files_per_observation: int = DSA110_SUBBANDS,
    ):
        self.settings = settings or WSCleanSettings()
        self.beam = PrimaryBeam.from_settings(primary_beam or PrimaryBeamSettings())
        self.timeout_s = timeout_s
        self.group = compile_grouping(group)
        self.files_per_observation = files_per_observation

    def find_observations(self, directory: Path) -> list[Observation]:
        return find_grouped(directory, "*", self.group, self.files_per_observation)

    def image(self, observation: Observation, output_dir: Path) -> ImagingResult:
        final = output_dir / observation.key
        work = output_dir / f".{observation.key}.work"
        if work.exists():  # left by an interrupted attempt
            shutil.rmtree(work)
        work.mkdir(parents=True)
        timings: dict[str, float] = {}
        try:
            start = time.perf_counter()
            converted = convert_observation(
                observation.paths, work / f"{observation.key}.ms", beam=self.beam
            )
            timings["convert"] = time.perf_counter() - start
            ms_bytes = disk_usage(converted.ms_path)
            start = time.perf_counter()
            self._run(self.command(converted, work / observation.key))
            timings["wsclean"] = time.perf_counter() - start
            start = time.perf_counter()
            kept = self._keep_and_fix(work, observation.key, converted)
            if not self.settings.keep_ms:
                shutil.rmtree(converted.ms_path)
            if final.exists():
                shutil.rmtree(final)
            work.rename(final)
            timings["headers"] = time.perf_counter() - start
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        images_bytes = disk_usage(final)
        log.info(
            "%s: %d antennas, %d integrations, %d channels; Measurement Set %.1f MB (%s), "
            "images %.1f MB; convert %.1f s, WSClean %.1f s",
            observation.key,
            converted.n_antennas,
            converted.n_integrations,
            converted.n_channels,
            ms_bytes / 1e6,
            "kept" if self.settings.keep_ms else "removed",
            images_bytes / 1e6,
            timings["convert"],
            timings["wsclean"],
        )
        mfs = final / kept["mfs"].name
        subbands = [str(final / p.name) for p in kept["subbands"]]
        metadata = {
            "subband_images": subbands,
            "mjd_start": converted.mjd_start,
            "mjd_mid": converted.mjd_mid,
            "mjd_end": converted.mjd_end,
            "n_antennas": converted.n_antennas,
            "n_integrations": converted.n_integrations,
            "n_channels": converted.n_channels,
            "pb_corrected": False,
            "pb_centre_deg": list(converted.track.centre),
            "pointing_azel_deg": [converted.track.az_deg, converted.track.alt_deg],
            "input_bytes": converted.input_bytes,
            "ms_bytes": ms_bytes,
            "images_bytes": images_bytes,
            "ms_path": str(final / converted.ms_path.name) if self.settings.keep_ms else None,
        }
        products = {
            "MFS-image": mfs,
            **{f"sb-image-{i:02d}": Path(p) for i, p in enumerate(subbands)},
        }
        return ImagingResult(
            mfs,
            "wsclean",
            "MFS-image" if kept["mfs_is_mfs"] else "image",
            False,
            products,
            metadata,
            timings,
        )

    def command(self, observation: ConvertedObservation, prefix: Path) -> list[str]:
        """The WSClean command line for one converted observation."""
        s = self.settings
        scale = s.scale_arcsec or self._default_scale_arcsec(observation)
        size = s.size or self._default_size(observation, scale)
        channels = min(s.channels_out, observation.n_channels)
        args = [
            s.binary,
            "-name",
            str(prefix),
            "-size",
            str(size),
            str(size),
            "-scale",
            f"{scale:.4g}asec",
            "-weight",
            *s.weight,
            "-use-wgridder",
            "-niter",
            str(s.niter),
            "-mgain",
            f"{s.mgain:g}",
            "-auto-threshold",
            f"{s.auto_threshold:g}",
            "-auto-mask",
            f"{s.auto_mask:g}",
            "-no-update-model-required",
        ]
        if channels > 1:
            args += ["-channels-out", str(channels), "-join-channels"]
            if s.fit_spectral_pol:
                args += ["-fit-spectral-pol", str(min(s.fit_spectral_pol, channels))]
        if s.threads:
            args += ["-j", str(s.threads)]
        return args + list(s.extra_args) + [str(observation.ms_path)]

    def _default_scale_arcsec(self, observation: ConvertedObservation) -> float:
        wavelength = SPEED_OF_LIGHT_M_S / observation.freq_max_hz
        resolution = math.degrees(wavelength / observation.max_baseline_m) * 3600.0
        return resolution / self.settings.pixels_per_resolution

    def _default_size(self, observation: ConvertedObservation, scale_arcsec: float) -> int:
        track = observation.track
        ra, dec = track.centres()
        drift = math.degrees(math.acos(min(1.0, _cos_separation(ra[0], dec[0], ra[-1], dec[-1]))))
        fov_deg = self.settings.fov_pb_fwhm * self.beam.fwhm_deg(observation.freq_min_hz) + drift
        pixels = int(math.ceil(fov_deg * 3600.0 / scale_arcsec))
        return pixels + (-pixels) % 16

    def _run(self, args: list[str]) -> None:
        if wsclean_available(args[0]) is None:
            raise ImagingError(
                f"WSClean not found ({args[0]!r}): install the Debian/Ubuntu "
                "package 'wsclean' or set stream.wsclean.binary"
            )
        try:
            done = subprocess.run(
                command_dying_with_parent(args),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ImagingError(
                f"WSClean timed out after {self.timeout_s:g} s: {text_tail(exc.stdout)}"
            ) from exc
        except OSError as exc:
            raise ImagingError(
                f"WSClean could not start ({args[0]}): {exc}; install the "
                "Debian/Ubuntu package 'wsclean'"
            ) from exc
        if done.returncode != 0:
            raise ImagingError(
                f"WSClean exited with status {done.returncode}: "
                f"{_wsclean_error(done.stdout, done.stderr)}"
            )

    def _keep_and_fix(self, work: Path, key: str, observation: ConvertedObservation) -> dict:
        """Delete the products not kept, fix the headers of the rest; the kept images."""
        mfs, mfs_is_mfs, subbands = None, False, []
        for path in sorted(work.glob("*.fits")):
            name = product_name(path.name)
            if name is None:
                continue
            if name.role == "channel-image":
                subbands.append(path)
            elif name.role in _KEPT_MFS_ROLES and (name.mfs or name.role == "image"):
                if name.role == "image":
                    mfs, mfs_is_mfs = path, name.mfs
            else:
                path.unlink()
                continue
            _fix_header(path, observation, self.beam)
        if mfs is None:
            raise ImagingError(f"WSClean wrote no image for {key} into {work}")
        return {"mfs": mfs, "mfs_is_mfs": mfs_is_mfs, "subbands": subbands}


def _fix_header(path: Path, observation: ConvertedObservation, beam: PrimaryBeam) -> None:
    """Observation times, ICRS, the primary-beam track over this image's band, PBCORR = F."""
    with fits.open(path, mode="update") as hdul:
        header = hdul[0].header
        low, high = _band(header, observation)
        track = BeamTrack(
            beam,
            observation.track.start_ra_deg,
            observation.track.start_dec_deg,
            observation.track.end_ra_deg,
            observation.track.end_dec_deg,
            observation.track.n_times,
            low,
            high,
            az_deg=observation.track.az_deg,
            alt_deg=observation.track.alt_deg,
        )
        header["RADESYS"] = ("ICRS", "reference frame of the celestial axes")
        header["TIMESYS"] = ("UTC", "time scale of DATE-OBS, DATE-END")
        start = Time(observation.mjd_start, format="mjd", scale="utc")
        end = Time(observation.mjd_end, format="mjd", scale="utc")
        header["DATE-OBS"] = (start.isot, "observation start")
        header["MJD-OBS"] = (observation.mjd_start, "[d] observation start")
        header["DATE-END"] = (end.isot, "observation end")
        header["MJD-END"] = (observation.mjd_end, "[d] observation end")
        header["EXPOSURE"] = (observation.duration_s, "[s] observation length")
        header["PBCORR"] = (False, "image is not primary-beam corrected")
        for key, (value, comment) in track.to_header().items():
            header[key] = (value, comment)


def _band(header: fits.Header, observation: ConvertedObservation) -> tuple[float, float]:
    """(lowest, highest) frequency of an image from its FREQ axis (centre ± width / 2)."""
    for i in range(1, int(header.get("NAXIS", 0)) + 1):
        if str(header.get(f"CTYPE{i}", "")).upper().startswith("FREQ"):
            centre, width = float(header[f"CRVAL{i}"]), abs(float(header.get(f"CDELT{i}", 0)))
            low = max(centre - width / 2, observation.freq_min_hz)
            high = min(centre + width / 2, observation.freq_max_hz)
            return (low, high) if low <= high else (centre, centre)
    return observation.freq_min_hz, observation.freq_max_hz


def _wsclean_error(stdout: str | None, stderr: str | None) -> str:
    """WSClean's own error message (it prints exceptions as ``+ >>> message`` on stdout), else
    the end of its output."""
    messages = [
        line.split(">>>", 1)[1].strip()
        for line in (stdout or "").splitlines()
        if line.lstrip("+ ").startswith(">>>")
    ]
    if messages:
        return "; ".join(messages)
    return text_tail("\n".join(part for part in (stderr, stdout) if part))


def _cos_separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    return math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(r1 - r2)
