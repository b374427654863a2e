"""Simulated DSA-110 raw data: one drift-scan observation as 16 UVH5 sub-band files.

DSA-110 records each ~5-minute observation as 16 UVH5 files, one per sub-band, named
``<ISO start time>_sb<NN>.hdf5`` with ``sb00`` the highest frequency. Its dishes are fixed in
azimuth and elevation on the meridian, and the correlator phases the visibilities to that
fixed (az, el) direction — a *drift scan*: the sky moves through both the phase centre and
the primary beam. `simulate_observation` writes such a set with pyuvdata:

* an array laid out in a T (an east-west arm and a north arm from its middle, irregular
  spacings) at the OVRO site, `dsa110_layout`;
* XX and YY visibilities of an unpolarized sky computed by direct summation: for a baseline
  ``b = x(ant2) − x(ant1)`` (pyuvdata's convention, east-north-up metres), a source in
  direction ``s`` at time ``t`` and the phase centre ``s₀``,
  ``V = Σ A(s, t, ν) S(ν) exp(+2πi ν b·(s − s₀) / c)``; this is the sign with which
  pyuvdata's own rephasing (``exp(−2πi Δw/λ)``) brings a source at a new phase centre to zero
  phase, which a test checks;
* source directions from astropy's ICRS → AltAz transform at each integration (precession,
  nutation, aberration; no refraction), the primary beam `PrimaryBeam` centred on the fixed
  (az, el) pointing, source spectra ``S(ν) = S₀ (ν/ν₀)^α``, optional extreme-scattering-like
  dips (`dsa110_contimg.imaging.imager.sky_flux_at`), per-antenna complex gain errors and
  thermal noise.

The phase centre is recorded as pyuvdata's ``driftscan`` type (fixed az/el), which is what the
conversion reads as the telescope's pointing.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.table import Table
from astropy.time import Time

from dsa110_contimg.imaging.primary_beam import SPEED_OF_LIGHT_M_S, BeamTrack, PrimaryBeam

__all__ = [
    "OVRO",
    "ObservationSpec",
    "SimulatedObservation",
    "dsa110_layout",
    "injected_flux",
    "meridian_pointing",
    "pointing_track",
    "simulate_observation",
    "subband_file_name",
]

#: The DSA-110 site at the Owens Valley Radio Observatory (geodetic lon, lat in deg; height m).
OVRO = (-118.2834, 37.2334, 1188.0)
#: Reference frequency of catalogue fluxes and spectral indices.
REFERENCE_FREQ_HZ = 1.4e9


@dataclass(frozen=True)
class ObservationSpec:
    """What one simulated observation looks like.

    Parameters
    ----------
    start : str
        UTC start time (ISO), which also names the files.
    dec_deg : float
        Declination of the meridian pointing (the dishes' fixed elevation).
    duration_s : float
        Length of the observation (DSA-110: ~309 s).
    n_integrations : int
        Integrations over it (their centres are the time stamps).
    n_antennas : int
        Antennas in the T layout.
    ew_length_m, ns_length_m : float
        Lengths of the east-west and north arms (resolution ~ λ / length).
    n_subbands, channels_per_subband : int
        16 sub-bands for DSA-110; channels in each.
    freq_min_hz, freq_max_hz : float
        Centres of the lowest and highest channels.
    noise_jy : float
        Thermal noise: standard deviation of the real and of the imaginary part of each
        visibility (per polarization, channel and integration).
    gain_amplitude_rms, gain_phase_rms_deg : float
        Per-antenna gain errors of this epoch (the product ``g_i g_j*`` multiplies V_ij).
    gain : float
        A global amplitude calibration factor of this epoch (multiplies every visibility).
    beam : PrimaryBeam
        The dishes' primary beam.
    seed : int
        Random seed (layout jitter uses ``layout_seed`` so epochs share one array).
    layout_seed : int
        Seed of the antenna layout.
    """

    start: str
    dec_deg: float = 37.23
    duration_s: float = 300.0
    n_integrations: int = 10
    n_antennas: int = 32
    ew_length_m: float = 600.0
    ns_length_m: float = 350.0
    n_subbands: int = 16
    channels_per_subband: int = 4
    freq_min_hz: float = 1.3115e9
    freq_max_hz: float = 1.4990e9
    noise_jy: float = 1.0
    gain_amplitude_rms: float = 0.0
    gain_phase_rms_deg: float = 0.0
    gain: float = 1.0
    beam: PrimaryBeam = field(default_factory=PrimaryBeam)
    seed: int = 0
    layout_seed: int = 110

    @property
    def times_mjd(self) -> np.ndarray:
        """UTC MJD of the integration centres."""
        start = Time(self.start, scale="utc").mjd
        step = self.duration_s / self.n_integrations
        return start + (np.arange(self.n_integrations) + 0.5) * step / 86400.0

    @property
    def frequencies_hz(self) -> np.ndarray:
        """All channel centres, ascending."""
        n = self.n_subbands * self.channels_per_subband
        return np.linspace(self.freq_min_hz, self.freq_max_hz, n)


@dataclass
class SimulatedObservation:
    """Files written by `simulate_observation` and the truth behind them."""

    files: list[Path]
    truth: Table
    mjd_start: float
    mjd_mid: float
    mjd_end: float
    track: BeamTrack


def injected_flux(truth: Table, freq_hz: float, column: str = "flux_ref_jy") -> np.ndarray:
    """The truth's flux densities (Jy) at ``freq_hz``: ``column`` (at 1.4 GHz; by default this
    epoch's, dips applied) scaled by each source's spectral index (−0.7 when absent)."""
    alpha = (
        np.asarray(truth["spectral_index"], dtype=float)
        if "spectral_index" in truth.colnames
        else np.full(len(truth), -0.7)
    )
    return np.asarray(truth[column], dtype=float) * (freq_hz / REFERENCE_FREQ_HZ) ** alpha


def subband_file_name(start: str, subband: int) -> str:
    """DSA-110's name of one sub-band file: ``<ISO start>_sb<NN>.hdf5``."""
    return f"{Time(start, scale='utc').isot[:19]}_sb{subband:02d}.hdf5"


def dsa110_layout(
    n_antennas: int, *, ew_length_m: float = 600.0, ns_length_m: float = 350.0, seed: int = 110
) -> np.ndarray:
    """East-north-up antenna positions (m) in a T: two thirds on an east-west arm, the rest on
    a north arm from its middle, with irregular spacings (as DSA-110's, against grating lobes).
    """
    if n_antennas < 4:
        raise ValueError(f"at least 4 antennas are needed, got {n_antennas}")
    rng = np.random.default_rng(seed)
    n_ew = int(round(n_antennas * 2 / 3))
    n_ns = n_antennas - n_ew
    ew = np.sort(rng.uniform(-0.5, 0.5, n_ew)) * ew_length_m
    ew[[0, -1]] = -0.5 * ew_length_m, 0.5 * ew_length_m
    ns = np.sort(rng.uniform(0.05, 1.0, n_ns)) * ns_length_m
    enu = np.zeros((n_antennas, 3))
    enu[:n_ew, 0] = ew
    enu[n_ew:, 1] = ns
    enu[:, 2] = rng.normal(0.0, 0.3, n_antennas)  # the valley floor is not flat
    return enu


def meridian_pointing(dec_deg: float, lat_deg: float = OVRO[1]) -> tuple[float, float]:
    """(azimuth, elevation) in degrees of a meridian pointing at ``dec_deg``."""
    alt = 90.0 - abs(lat_deg - dec_deg)
    az = 0.0 if dec_deg > lat_deg else 180.0
    return az, alt


def pointing_track(spec: ObservationSpec, site: tuple[float, float, float] = OVRO) -> BeamTrack:
    """The primary beam's track over ``spec``'s integrations and band (meridian pointing)."""
    lon, lat, height = site
    az, alt = meridian_pointing(spec.dec_deg, lat)
    freqs = spec.frequencies_hz
    return BeamTrack.from_altaz(
        spec.beam,
        az_deg=az,
        alt_deg=alt,
        lon_deg=lon,
        lat_deg=lat,
        height_m=height,
        mjd=spec.times_mjd,
        freq_min_hz=freqs[0],
        freq_max_hz=freqs[-1],
    )


def simulate_observation(
    directory: str | Path,
    sky: Table,
    spec: ObservationSpec,
    *,
    site: tuple[float, float, float] = OVRO,
) -> SimulatedObservation:
    """Write one observation as ``spec.n_subbands`` UVH5 files and return its truth.

    Parameters
    ----------
    directory : path
        Where the files go (created). Each file is written under a temporary name and renamed
        into place, as a careful writer does.
    sky : astropy.table.Table
        ``ra_deg, dec_deg, flux_jy`` (integrated flux at 1.4 GHz; point sources), optional
        ``spectral_index`` (default −0.7), ``name`` and dip columns (see
        `dsa110_contimg.imaging.imager.sky_flux_at`).
    spec : ObservationSpec
    site : (lon_deg, lat_deg, height_m)

    Returns
    -------
    SimulatedObservation
        The files (sb00 first) and ``truth``: the sky plus ``flux_ref_jy`` (flux at 1.4 GHz at
        this epoch, dips applied, before gain errors), ``pb_response`` (the beam averaged over
        integrations and band), and the observation's start/mid/end MJD and beam track.
    """
    from pyuvdata import Telescope, UVData
    from pyuvdata.utils import ECEF_from_ENU

    from dsa110_contimg.imaging.imager import sky_flux_at

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    lon, lat, height = site
    location = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, height * u.m)
    az0, alt0 = meridian_pointing(spec.dec_deg, lat)

    enu = dsa110_layout(
        spec.n_antennas,
        ew_length_m=spec.ew_length_m,
        ns_length_m=spec.ns_length_m,
        seed=spec.layout_seed,
    )
    ecef = ECEF_from_ENU(enu, center_loc=location)
    center_ecef = np.array(
        [location.x.to_value(u.m), location.y.to_value(u.m), location.z.to_value(u.m)]
    )
    numbers = np.arange(spec.n_antennas)
    telescope = Telescope.new(
        name="DSA-110",
        location=location,
        antenna_positions=ecef - center_ecef,
        antenna_names=[f"DSA-{n + 1:03d}" for n in numbers],
        antenna_numbers=numbers,
        instrument="DSA-110",
        antenna_diameters=np.full(spec.n_antennas, spec.beam.dish_diameter_m),
        x_orientation="east",
        feeds=["x", "y"],
        mount_type="fixed",
        update_from_known=False,
    )
    antpairs = [(i, j) for i in range(spec.n_antennas) for j in range(i + 1, spec.n_antennas)]
    times_mjd = spec.times_mjd
    freqs = spec.frequencies_hz
    catalog = {
        0: {
            "cat_name": f"drift_az{az0:g}_el{alt0:.3f}",
            "cat_type": "driftscan",
            "cat_lon": math.radians(az0),
            "cat_lat": math.radians(alt0),
            "cat_frame": "altaz",
            "cat_epoch": None,
            "cat_times": None,
            "cat_pm_ra": None,
            "cat_pm_dec": None,
            "cat_dist": None,
            "cat_vrad": None,
            "info_source": "user",
        }
    }
    with warnings.catch_warnings():  # uvws are computed for the drift-scan centre: no data yet
        warnings.filterwarnings("ignore", message="Recalculating uvw_array")
        uvd = UVData.new(
            freq_array=freqs,
            polarization_array=["xx", "yy"],
            times=Time(times_mjd, format="mjd", scale="utc").jd,
            telescope=telescope,
            antpairs=antpairs,
            do_blt_outer=True,
            time_axis_faster_than_bls=False,
            integration_time=spec.duration_s / spec.n_integrations,
            channel_width=float(np.median(np.diff(freqs))),
            phase_center_catalog=catalog,
            vis_units="Jy",
            empty=True,
            history="simulated by dsa110_contimg.imaging.simulate_visibilities",
        )

    # Sky at this epoch: dips at mid-time, spectra, beam at each integration and channel.
    mjd_mid = float(Time(spec.start, scale="utc").mjd + spec.duration_s / 2 / 86400.0)
    flux_ref = sky_flux_at(sky, mjd_mid)
    alpha = (
        np.asarray(sky["spectral_index"], dtype=float)
        if "spectral_index" in sky.colnames
        else np.full(len(sky), -0.7)
    )
    spectra = flux_ref[:, None] * (freqs[None, :] / REFERENCE_FREQ_HZ) ** alpha[:, None]
    frame = AltAz(obstime=Time(times_mjd, format="mjd", scale="utc")[:, None], location=location)
    altaz = SkyCoord(
        np.asarray(sky["ra_deg"]) * u.deg, np.asarray(sky["dec_deg"]) * u.deg, frame="icrs"
    )[None, :].transform_to(frame)
    directions = _enu_direction(altaz.az.rad, altaz.alt.rad)  # (t, s, 3)
    pointing = _enu_direction(np.radians(az0), np.radians(alt0))  # (3,)
    cos_sep = np.clip(directions @ pointing, -1.0, 1.0)
    sep_deg = np.degrees(np.arccos(cos_sep))  # (t, s)

    a1 = np.array([p[0] for p in antpairs])
    a2 = np.array([p[1] for p in antpairs])
    baselines = enu[a2] - enu[a1]  # (bl, 3)
    amplitude = spec.gain * (1.0 + rng.normal(0.0, spec.gain_amplitude_rms, spec.n_antennas))
    phase = np.radians(rng.normal(0.0, spec.gain_phase_rms_deg, spec.n_antennas))
    gains = amplitude * np.exp(1j * phase)
    gain_products = gains[a1] * np.conj(gains[a2])  # (bl,)

    n_bl = len(antpairs)
    data = np.zeros((len(times_mjd), n_bl, freqs.size), dtype=np.complex128)
    for it in range(len(times_mjd)):
        delays = baselines @ (directions[it] - pointing).T  # (bl, s) metres
        apparent = spectra * spec.beam.response(sep_deg[it][:, None], freqs[None, :])  # (s, f)
        for k, freq in enumerate(freqs):
            phases = np.exp((2j * math.pi * freq / SPEED_OF_LIGHT_M_S) * delays)
            data[it, :, k] = phases @ apparent[:, k]
    data *= gain_products[None, :, None]
    noise = rng.normal(0.0, spec.noise_jy, data.shape + (2, 2))
    vis = data[..., None] + noise[..., 0] + 1j * noise[..., 1]  # (t, bl, f, pol)
    # Put each (time, baseline) where pyuvdata's baseline-time axis has it.
    order_t = np.searchsorted(np.unique(uvd.time_array), uvd.time_array)
    bl_index = {pair: i for i, pair in enumerate(antpairs)}
    order_b = np.array(
        [bl_index[(int(a), int(b))] for a, b in zip(uvd.ant_1_array, uvd.ant_2_array)]
    )
    uvd.data_array = vis[order_t, order_b].astype(np.complex64)
    uvd.nsample_array[:] = 1.0
    uvd.flag_array[:] = False

    track = pointing_track(spec, site)
    files = _write_subbands(uvd, directory, spec)
    truth = sky.copy()
    truth["flux_ref_jy"] = flux_ref
    truth["pb_response"] = track.response(np.asarray(sky["ra_deg"]), np.asarray(sky["dec_deg"]))
    truth["pb_response_direct"] = spec.beam.response(
        sep_deg[:, :, None], freqs[None, None, :]
    ).mean(axis=(0, 2))
    start = float(Time(spec.start, scale="utc").mjd)
    truth.meta.update(
        {
            "mjd_start": start,
            "mjd_mid": mjd_mid,
            "mjd_end": start + spec.duration_s / 86400.0,
            "gain": spec.gain,
        }
    )
    return SimulatedObservation(
        files, truth, start, mjd_mid, start + spec.duration_s / 86400.0, track
    )


def _enu_direction(az_rad, alt_rad) -> np.ndarray:
    az = np.asarray(az_rad, dtype=float)
    alt = np.asarray(alt_rad, dtype=float)
    return np.stack([np.cos(alt) * np.sin(az), np.cos(alt) * np.cos(az), np.sin(alt)], axis=-1)


def _write_subbands(uvd, directory: Path, spec: ObservationSpec) -> list[Path]:
    """One file per sub-band, sb00 the highest frequencies, each renamed into place."""
    files = []
    n_chan = spec.channels_per_subband
    for sb in range(spec.n_subbands):
        high = spec.n_subbands - 1 - sb
        channels = np.arange(high * n_chan, (high + 1) * n_chan)
        part = uvd.select(freq_chans=channels, inplace=False)
        final = directory / subband_file_name(spec.start, sb)
        temporary = final.with_name(final.name + ".tmp")
        part.write_uvh5(str(temporary), clobber=True)
        temporary.replace(final)
        files.append(final)
    return files
