"""The one primary-beam model: Gaussian and Airy against independent evaluations, the
drift-scan track against astropy, and forced photometry applying the response exactly once."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from scipy import integrate, special

from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.imaging.primary_beam import BeamTrack, PrimaryBeam
from dsa110_contimg.imaging.simulate import simulate_image
from dsa110_contimg.imaging.simulate_visibilities import OVRO
from dsa110_contimg.photometry.forced import measure_many

C = 299_792_458.0


def _aperture_power(theta_rad: float, freq_hz: float, diameter_m: float) -> float:
    """Far-field power of a uniformly illuminated circular aperture, by integrating the
    aperture (∫ J0(k r sinθ) r dr), normalised to 1 on axis."""
    k = 2 * math.pi * freq_hz / C
    radius = diameter_m / 2
    field, _ = integrate.quad(lambda r: special.j0(k * r * math.sin(theta_rad)) * r, 0, radius)
    return (field / (radius ** 2 / 2)) ** 2


@pytest.mark.parametrize("freq_hz", [1.31e9, 1.4e9, 1.5e9])
def test_airy_model_is_the_uniform_aperture(freq_hz):
    beam = PrimaryBeam("airy", 4.65)
    for theta_deg in (0.3, 1.0, 1.5, 2.2, 3.0):
        expected = _aperture_power(math.radians(theta_deg), freq_hz, 4.65)
        assert float(beam.response(theta_deg, freq_hz)) == pytest.approx(expected, abs=2e-4)
    half = beam.fwhm_deg(freq_hz) / 2
    assert _aperture_power(math.radians(half), freq_hz, 4.65) == pytest.approx(0.5, abs=1e-4)


def test_gaussian_model_has_fwhm_of_1p2_lambda_over_d():
    beam = PrimaryBeam("gaussian", 4.65)
    fwhm = math.degrees(1.2 * C / 1.4e9 / 4.65)
    assert beam.fwhm_deg(1.4e9) == pytest.approx(fwhm)
    sep = np.array([0.0, fwhm / 2, fwhm, 1.5])
    expected = np.exp(-4 * math.log(2) * (sep / fwhm) ** 2)
    np.testing.assert_allclose(beam.response(sep, 1.4e9), expected, rtol=1e-12)
    # The two models differ by tens of per cent at 1.5°: one must be chosen, never mixed.
    assert float(PrimaryBeam("airy").response(1.5, 1.4e9)) < 0.45 < float(beam.response(1.5, 1.4e9))


def test_drift_track_follows_the_fixed_altaz_pointing_through_icrs():
    site = EarthLocation.from_geodetic(OVRO[0] * u.deg, OVRO[1] * u.deg, OVRO[2] * u.m)
    mjd = 61368.25 + (np.arange(10) + 0.5) * 30.0 / 86400.0
    track = BeamTrack.from_altaz(PrimaryBeam(), az_deg=0.0, alt_deg=82.0, lon_deg=OVRO[0],
                                 lat_deg=OVRO[1], height_m=OVRO[2], mjd=mjd,
                                 freq_min_hz=1.31e9, freq_max_hz=1.5e9)
    direct = SkyCoord(az=0 * u.deg, alt=82 * u.deg,
                      frame=AltAz(obstime=Time(mjd, format="mjd"), location=site)).icrs
    ra, dec = track.centres()
    offsets = SkyCoord(ra * u.deg, dec * u.deg).separation(direct).arcsec
    assert offsets.max() < 1.0
    # The pointing's declination of date is 45.2334°; carried to ICRS it is ~0.1° away.
    assert abs(dec.mean() - (OVRO[1] + 8.0)) > 0.05
    drift = SkyCoord(ra[0] * u.deg, dec[0] * u.deg).separation(
        SkyCoord(ra[-1] * u.deg, dec[-1] * u.deg)).deg
    assert drift == pytest.approx(300 * 15.04 / 3600 * math.cos(math.radians(dec.mean())) * 0.9,
                                  rel=0.02)


def test_track_response_averages_over_integrations_and_band():
    beam = PrimaryBeam("gaussian", 4.65)
    track = BeamTrack(beam, 100.0, 45.0, 101.0, 45.0, 5, 1.3e9, 1.5e9, 4)
    ra, dec = np.array([100.5, 102.0]), np.array([46.0, 45.0])
    centres = SkyCoord(*[c * u.deg for c in track.centres()])
    expected = [np.mean([beam.response(centres[i].separation(SkyCoord(r * u.deg, d * u.deg)).deg,
                                       f) for i in range(5) for f in track.frequencies()])
                for r, d in zip(ra, dec)]
    np.testing.assert_allclose(track.response(ra, dec), expected, rtol=1e-9)
    assert BeamTrack.from_header(fits.Header(
        {k: v for k, (v, _) in track.to_header().items()})) == track
    assert BeamTrack.from_header(fits.Header()) is None


def test_forced_photometry_applies_the_header_beam_exactly_once(tmp_path):
    """An image that declares PBCORR = F and carries a beam track is divided by the averaged
    response; the same image declared PB-corrected is not; the response is its own column."""
    ra0, dec0 = 150.0, 45.0
    sky = Table({"name": ["a", "b", "c"], "ra_deg": [150.0, 150.9, 149.6],
                 "dec_deg": [45.0, 45.3, 44.5], "flux_jy": [0.2, 0.2, 0.2],
                 "major_arcsec": [0.0] * 3, "minor_arcsec": [0.0] * 3, "pa_deg": [0.0] * 3})
    track = BeamTrack(PrimaryBeam("gaussian"), 149.5, 45.05, 150.5, 45.05, 10, 1.31e9, 1.5e9)
    response = track.response(np.asarray(sky["ra_deg"]), np.asarray(sky["dec_deg"]))
    attenuated = sky.copy()
    attenuated["flux_jy"] = sky["flux_jy"] * response
    sim = simulate_image(tmp_path / "drift.fits", attenuated, center_ra_deg=ra0,
                         center_dec_deg=dec0, npix=1024, pixel_arcsec=8.0, noise_jy=1e-4,
                         pb=None, seed=1)
    with fits.open(sim.path, mode="update") as hdul:
        for key, (value, comment) in track.to_header().items():
            hdul[0].header[key] = (value, comment)
        hdul[0].header["PBCORR"] = False
    image = load_image(sim.path)
    assert not image.pb_corrected and image.pb_track == track
    table = measure_many(image, sky["ra_deg"], sky["dec_deg"])
    np.testing.assert_allclose(table["pb_response"], response, rtol=1e-9)
    np.testing.assert_allclose(table["peak_jyb"], 0.2, rtol=0.01)
    assert table.meta["pb_applied"]

    with fits.open(sim.path, mode="update") as hdul:
        hdul[0].header["PBCORR"] = True
    table = measure_many(sim.path, sky["ra_deg"], sky["dec_deg"])
    np.testing.assert_allclose(table["peak_jyb"], 0.2 * response, rtol=0.01)
    assert not table.meta["pb_applied"]


def test_a_source_measured_in_drift_images_and_in_their_mosaic_agrees(tmp_path):
    """Two non-PB-corrected images carrying their drift-scan beam tracks, measured alone and
    mosaicked (weights and correction from the same tracks): the sky fluxes every time."""
    from dsa110_contimg.mosaic.builder import build_mosaic

    sky = Table({"name": ["a", "b", "c"], "ra_deg": [150.0, 150.5, 150.9],
                 "dec_deg": [45.0, 45.2, 44.9], "flux_jy": [0.2, 0.3, 0.25],
                 "major_arcsec": [0.0] * 3, "minor_arcsec": [0.0] * 3, "pa_deg": [0.0] * 3})
    paths, alone = [], []
    for k, ra0 in enumerate((150.2, 150.7)):
        track = BeamTrack(PrimaryBeam("airy"), ra0 - 0.4, 45.05, ra0 + 0.4, 45.05, 10,
                          1.31e9, 1.5e9)
        attenuated = sky.copy()
        attenuated["flux_jy"] = sky["flux_jy"] * track.response(
            np.asarray(sky["ra_deg"]), np.asarray(sky["dec_deg"]))
        sim = simulate_image(tmp_path / f"drift{k}.fits", attenuated, center_ra_deg=ra0,
                             center_dec_deg=45.0, npix=768, pixel_arcsec=6.0, noise_jy=2e-4,
                             pb=None, seed=k, date_obs=f"2026-11-2{k + 1}T06:00:00",
                             beam_major_arcsec=90.0, beam_minor_arcsec=60.0)
        with fits.open(sim.path, mode="update") as hdul:
            for key, (value, comment) in track.to_header().items():
                hdul[0].header[key] = (value, comment)
            hdul[0].header["PBCORR"] = False
        paths.append(sim.path)
        alone.append(np.asarray(measure_many(sim.path, sky["ra_deg"], sky["dec_deg"])["peak_jyb"]))
    result = build_mosaic(paths, tmp_path / "mosaic.fits", pb_model="gaussian")
    mosaic = measure_many(result.path, sky["ra_deg"], sky["dec_deg"])
    np.testing.assert_allclose(mosaic["peak_jyb"], sky["flux_jy"], rtol=0.02)
    for peaks in alone:
        np.testing.assert_allclose(peaks, sky["flux_jy"], rtol=0.02)
