"""The primary beam of a DSA-110 dish, and where it points during a drift scan.

DSA-110's 4.65 m dishes are fixed in azimuth and elevation: the sky drifts through the beam.
The beam's centre in ICRS is therefore the fixed (az, el) pointing carried to ICRS at each
integration of an observation (precession, nutation, aberration included, no refraction), and
a source's response in an image is the beam averaged over the observation's integrations and
its band. This module is the one place where that is computed:

* `PrimaryBeam` — the power pattern of one dish at one frequency: ``"gaussian"`` (FWHM
  ``1.2 λ/D``, a tapered illumination) or ``"airy"`` (the uniformly illuminated aperture,
  ``(2 J₁(x)/x)²`` with ``x = π D sin θ / λ``).
* `BeamTrack` — the ICRS positions of the pointing over an observation's integrations and the
  band, from which `BeamTrack.response` averages the beam; `BeamTrack.from_altaz` derives it
  from the site, the fixed (az, el) and the integration times.
* `BeamTrack.to_header` / `BeamTrack.from_header` — the FITS keywords that carry it with an
  image (``OBSRA``/``OBSDEC`` at mid-time, the start and end of the track, integrations, band,
  model and dish), so forced photometry and mosaics compute the same response.

Examples
--------
>>> beam = PrimaryBeam("gaussian", 4.65)
>>> round(beam.fwhm_deg(1.4e9), 2)
3.17
>>> float(beam.response(beam.fwhm_deg(1.4e9) / 2, 1.4e9))
0.5
>>> round(float(PrimaryBeam("airy", 4.65).response(1.5, 1.4e9)), 3)
0.424
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
from scipy import special

if TYPE_CHECKING:
    from dsa110_contimg.config import PrimaryBeamSettings

__all__ = ["BeamModel", "BeamTrack", "PrimaryBeam", "SPEED_OF_LIGHT_M_S"]

SPEED_OF_LIGHT_M_S = 299_792_458.0
#: Gaussian FWHM in units of λ/D (a tapered 4.65 m dish: 3.2° at 1.4 GHz).
GAUSSIAN_FWHM_LAMBDA_OVER_D = 1.2
#: FWHM of the uniformly illuminated aperture's Airy pattern, in λ/D.
AIRY_FWHM_LAMBDA_OVER_D = 1.0289939
_AIRY_FIRST_NULL_X = 3.8317059702075125

BeamModel = Literal["gaussian", "airy"]


@dataclass(frozen=True)
class PrimaryBeam:
    """Power pattern of one dish.

    Parameters
    ----------
    model : {"gaussian", "airy"}
        Gaussian of FWHM 1.2 λ/D, or the Airy pattern of a uniformly illuminated aperture of
        diameter D (zero beyond its first null).
    dish_diameter_m : float
        Dish diameter D.
    """

    model: BeamModel = "gaussian"
    dish_diameter_m: float = 4.65

    def __post_init__(self) -> None:
        if self.model not in ("gaussian", "airy"):
            raise ValueError(f"unknown primary-beam model {self.model!r}; use 'gaussian' or 'airy'")
        if not self.dish_diameter_m > 0:
            raise ValueError(f"dish diameter must be positive, got {self.dish_diameter_m}")

    @classmethod
    def from_settings(cls, settings: PrimaryBeamSettings) -> PrimaryBeam:
        """The beam a ``primary_beam`` settings section describes."""
        return cls(settings.model, settings.dish_diameter_m)

    @classmethod
    def with_fwhm(cls, model: BeamModel, fwhm_deg: float, freq_hz: float) -> PrimaryBeam:
        """The beam of the dish whose half-power width at ``freq_hz`` is ``fwhm_deg``."""
        factor = GAUSSIAN_FWHM_LAMBDA_OVER_D if model == "gaussian" else AIRY_FWHM_LAMBDA_OVER_D
        return cls(model, factor * SPEED_OF_LIGHT_M_S / freq_hz / math.radians(fwhm_deg))

    def fwhm_deg(self, freq_hz: float) -> float:
        """Half-power beam width at ``freq_hz`` in degrees."""
        factor = (
            GAUSSIAN_FWHM_LAMBDA_OVER_D if self.model == "gaussian" else AIRY_FWHM_LAMBDA_OVER_D
        )
        return math.degrees(factor * SPEED_OF_LIGHT_M_S / freq_hz / self.dish_diameter_m)

    def response(
        self,
        separation_deg: np.ndarray | float,
        freq_hz: np.ndarray | float,
    ) -> np.ndarray:
        """Power response at angular distances ``separation_deg`` from the beam centre.

        ``separation_deg`` and ``freq_hz`` broadcast against each other.
        """
        theta = np.radians(np.asarray(separation_deg, dtype=float))
        wavelength = SPEED_OF_LIGHT_M_S / np.asarray(freq_hz, dtype=float)
        if self.model == "gaussian":
            fwhm = GAUSSIAN_FWHM_LAMBDA_OVER_D * wavelength / self.dish_diameter_m
            return np.exp(-4.0 * math.log(2.0) * (theta / fwhm) ** 2)
        x = math.pi * self.dish_diameter_m * np.sin(theta) / wavelength
        with np.errstate(invalid="ignore", divide="ignore"):
            airy = np.where(x > 0, (2.0 * special.j1(x) / np.where(x > 0, x, 1.0)) ** 2, 1.0)
        return np.where(x < _AIRY_FIRST_NULL_X, airy, 0.0)


@dataclass(frozen=True)
class BeamTrack:
    """Where a (possibly drifting) primary beam pointed during an observation, and in what band.

    The track is sampled at ``n_times`` equally spaced integrations from ``start`` to ``end``
    (ICRS degrees, interpolated linearly in RA and Dec: a pointing fixed in azimuth and
    elevation keeps its apparent declination, so over one observation this follows the drift
    to a fraction of an arcsecond); a fixed pointing has ``start == end``. The band
    is sampled at ``n_freqs`` equally spaced frequencies from ``freq_min_hz`` to
    ``freq_max_hz``.
    """

    beam: PrimaryBeam
    start_ra_deg: float
    start_dec_deg: float
    end_ra_deg: float
    end_dec_deg: float
    n_times: int
    freq_min_hz: float
    freq_max_hz: float
    n_freqs: int = 8
    az_deg: float | None = None
    alt_deg: float | None = None

    @classmethod
    def fixed(
        cls,
        beam: PrimaryBeam,
        ra_deg: float,
        dec_deg: float,
        freq_hz: float,
    ) -> BeamTrack:
        """A beam that pointed at one position, at one frequency."""
        return cls(beam, ra_deg, dec_deg, ra_deg, dec_deg, 1, freq_hz, freq_hz, 1)

    @classmethod
    def from_altaz(
        cls,
        beam: PrimaryBeam,
        *,
        az_deg: float,
        alt_deg: float,
        lon_deg: float,
        lat_deg: float,
        height_m: float,
        mjd: np.ndarray,
        freq_min_hz: float,
        freq_max_hz: float,
        n_freqs: int = 8,
    ) -> BeamTrack:
        """The track of a pointing fixed in azimuth/elevation at a site over integrations.

        Parameters
        ----------
        beam : PrimaryBeam
        az_deg, alt_deg : float
            Fixed pointing (azimuth east of north, elevation), degrees.
        lon_deg, lat_deg, height_m : float
            Geodetic site.
        mjd : array_like
            UTC MJD of the integrations (centres), equally spaced.
        freq_min_hz, freq_max_hz : float
            Band (first and last channel centres).
        """
        from astropy import units as u
        from astropy.coordinates import AltAz, EarthLocation, SkyCoord
        from astropy.time import Time

        times = np.sort(np.atleast_1d(np.asarray(mjd, dtype=float)))
        ends = Time(times[[0, -1]], format="mjd", scale="utc")
        site = EarthLocation.from_geodetic(lon_deg * u.deg, lat_deg * u.deg, height_m * u.m)
        frame = AltAz(obstime=ends, location=site)  # pressure 0: no refraction
        icrs = SkyCoord(az=[az_deg] * 2 * u.deg, alt=[alt_deg] * 2 * u.deg, frame=frame).icrs
        return cls(
            beam,
            float(icrs.ra.deg[0]),
            float(icrs.dec.deg[0]),
            float(icrs.ra.deg[1]),
            float(icrs.dec.deg[1]),
            int(times.size),
            float(freq_min_hz),
            float(freq_max_hz),
            int(n_freqs),
            float(az_deg),
            float(alt_deg),
        )

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """ICRS (RA, Dec) in degrees of the beam centre at each integration."""
        fractions = np.array([0.5]) if self.n_times == 1 else np.linspace(0.0, 1.0, self.n_times)
        return self._at(fractions)

    @property
    def centre(self) -> tuple[float, float]:
        """ICRS (RA, Dec) of the beam centre at mid-observation."""
        ra, dec = self._at(np.array([0.5]))
        return float(ra[0]), float(dec[0])

    def _at(self, fractions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d_ra = (self.end_ra_deg - self.start_ra_deg + 180.0) % 360.0 - 180.0
        ra = (self.start_ra_deg + fractions * d_ra) % 360.0
        dec = self.start_dec_deg + fractions * (self.end_dec_deg - self.start_dec_deg)
        return ra, dec

    def frequencies(self) -> np.ndarray:
        """The band's sample frequencies in Hz."""
        if self.n_freqs == 1 or self.freq_min_hz == self.freq_max_hz:
            return np.array([0.5 * (self.freq_min_hz + self.freq_max_hz)])
        return np.linspace(self.freq_min_hz, self.freq_max_hz, self.n_freqs)

    def response(self, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
        """Beam response at ICRS positions, averaged over the integrations and the band.

        This is the factor by which an image made from all integrations and channels
        attenuates a source (equal weights per integration and channel).
        """
        shape = np.shape(ra_deg)
        targets = _unit_vector(np.ravel(ra_deg), np.ravel(dec_deg))  # (n, 3)
        centres = _unit_vector(*self.centres())  # (t, 3)
        freqs = self.frequencies()
        total = np.zeros(len(targets), dtype=float)
        for centre in centres:
            sep = np.degrees(np.arccos(np.clip(targets @ centre, -1.0, 1.0)))
            total += self.beam.response(sep[:, None], freqs[None, :]).mean(axis=1)
        return (total / len(centres)).reshape(shape)

    def response_map(self, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
        """`response` over a 2-D grid of positions (NaN positions give NaN)."""
        ra = np.asarray(ra_deg, dtype=float)
        dec = np.asarray(dec_deg, dtype=float)
        out = np.full(ra.shape, np.nan)
        finite = np.isfinite(ra) & np.isfinite(dec)
        out[finite] = self.response(ra[finite], dec[finite])
        return out

    def to_header(self) -> dict[str, tuple[object, str]]:
        """FITS keywords (with comments) that carry this track with an image."""
        ra, dec = self.centre
        cards: dict[str, tuple[object, str]] = {
            "OBSRA": (ra, "[deg] primary-beam centre at mid-time (ICRS)"),
            "OBSDEC": (dec, "[deg] primary-beam centre at mid-time (ICRS)"),
            "PBRA0": (self.start_ra_deg, "[deg] beam centre, first integration"),
            "PBDEC0": (self.start_dec_deg, "[deg] beam centre, first integration"),
            "PBRA1": (self.end_ra_deg, "[deg] beam centre, last integration"),
            "PBDEC1": (self.end_dec_deg, "[deg] beam centre, last integration"),
            "PBNTIME": (self.n_times, "integrations the beam is averaged over"),
            "PBFREQ0": (self.freq_min_hz, "[Hz] lowest frequency of the beam average"),
            "PBFREQ1": (self.freq_max_hz, "[Hz] highest frequency of the beam average"),
            "PBNFREQ": (self.n_freqs, "frequencies the beam is averaged over"),
            "PBMODEL": (self.beam.model, "primary-beam model (dsa110_contimg)"),
            "PBDIAM": (self.beam.dish_diameter_m, "[m] dish diameter of the beam model"),
        }
        if self.az_deg is not None and self.alt_deg is not None:
            cards["PBAZ"] = (self.az_deg, "[deg] fixed pointing azimuth (E of N)")
            cards["PBALT"] = (self.alt_deg, "[deg] fixed pointing elevation")
        return cards

    @classmethod
    def from_header(cls, header) -> BeamTrack | None:
        """The track written by `to_header`, or None when ``header`` has none."""
        required = (
            "PBRA0",
            "PBDEC0",
            "PBRA1",
            "PBDEC1",
            "PBNTIME",
            "PBFREQ0",
            "PBFREQ1",
            "PBMODEL",
            "PBDIAM",
        )
        if not all(key in header for key in required):
            return None
        model = cast(BeamModel, str(header["PBMODEL"]).strip().lower())  # checked by PrimaryBeam
        beam = PrimaryBeam(model, float(header["PBDIAM"]))
        return cls(
            beam,
            float(header["PBRA0"]),
            float(header["PBDEC0"]),
            float(header["PBRA1"]),
            float(header["PBDEC1"]),
            int(header["PBNTIME"]),
            float(header["PBFREQ0"]),
            float(header["PBFREQ1"]),
            int(header.get("PBNFREQ", 8)),
            _optional_float(header, "PBAZ"),
            _optional_float(header, "PBALT"),
        )


def _optional_float(header, key: str) -> float | None:
    return float(header[key]) if key in header else None


def _unit_vector(ra_deg, dec_deg) -> np.ndarray:
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)
