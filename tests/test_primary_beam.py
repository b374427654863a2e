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

from dsa110_contimg.config import FittingOptions, Settings
from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.imaging.primary_beam import BeamTrack, PrimaryBeam
from dsa110_contimg.imaging.simulate import simulate_image
from dsa110_contimg.imaging.simulate_visibilities import OVRO
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.photometry.forced import measure_many

C = 299_792_458.0


def _aperture_power(theta_rad: float, freq_hz: float, diameter_m: float) -> float:
    """Far-field power of a uniformly illuminated circular aperture, by integrating the
    aperture (∫ J0(k r sinθ) r dr), normalised to 1 on axis."""
    k = 2 * math.pi * freq_hz / C
    radius = diameter_m / 2
    field, _ = integrate.quad(lambda r: special.j0(k * r * math.sin(theta_rad)) * r, 0, radius)
    return (field / (radius**2 / 2)) ** 2


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
    track = BeamTrack.from_altaz(
        PrimaryBeam(),
        az_deg=0.0,
        alt_deg=82.0,
        lon_deg=OVRO[0],
        lat_deg=OVRO[1],
        height_m=OVRO[2],
        mjd=mjd,
        freq_min_hz=1.31e9,
        freq_max_hz=1.5e9,
    )
    direct = SkyCoord(
        az=0 * u.deg, alt=82 * u.deg, frame=AltAz(obstime=Time(mjd, format="mjd"), location=site)
    ).icrs
    ra, dec = track.centres()
    offsets = SkyCoord(ra * u.deg, dec * u.deg).separation(direct).arcsec
    assert offsets.max() < 1.0
    # The pointing's declination of date is 45.2334°; carried to ICRS it is ~0.1° away.
    assert abs(dec.mean() - (OVRO[1] + 8.0)) > 0.05
    drift = (
        SkyCoord(ra[0] * u.deg, dec[0] * u.deg)
        .separation(SkyCoord(ra[-1] * u.deg, dec[-1] * u.deg))
        .deg
    )
    assert drift == pytest.approx(
        300 * 15.04 / 3600 * math.cos(math.radians(dec.mean())) * 0.9, rel=0.02
    )


def test_track_response_averages_over_integrations_and_band():
    beam = PrimaryBeam("gaussian", 4.65)
    track = BeamTrack(beam, 100.0, 45.0, 101.0, 45.0, 5, 1.3e9, 1.5e9, 4)
    ra, dec = np.array([100.5, 102.0]), np.array([46.0, 45.0])
    centres = SkyCoord(*[c * u.deg for c in track.centres()])
    expected = [
        np.mean(
            [
                beam.response(centres[i].separation(SkyCoord(r * u.deg, d * u.deg)).deg, f)
                for i in range(5)
                for f in track.frequencies()
            ]
        )
        for r, d in zip(ra, dec)
    ]
    np.testing.assert_allclose(track.response(ra, dec), expected, rtol=1e-9)
    assert (
        BeamTrack.from_header(fits.Header({k: v for k, (v, _) in track.to_header().items()}))
        == track
    )
    assert BeamTrack.from_header(fits.Header()) is None


def test_forced_photometry_applies_the_header_beam_exactly_once(tmp_path):
    """An image that declares PBCORR = F and carries a beam track is divided by the averaged
    response; the same image declared PB-corrected is not; the response is its own column."""
    ra0, dec0 = 150.0, 45.0
    sky = Table(
        {
            "name": ["a", "b", "c"],
            "ra_deg": [150.0, 150.9, 149.6],
            "dec_deg": [45.0, 45.3, 44.5],
            "flux_jy": [0.2, 0.2, 0.2],
            "major_arcsec": [0.0] * 3,
            "minor_arcsec": [0.0] * 3,
            "pa_deg": [0.0] * 3,
        }
    )
    track = BeamTrack(PrimaryBeam("gaussian"), 149.5, 45.05, 150.5, 45.05, 10, 1.31e9, 1.5e9)
    response = track.response(np.asarray(sky["ra_deg"]), np.asarray(sky["dec_deg"]))
    attenuated = sky.copy()
    attenuated["flux_jy"] = sky["flux_jy"] * response
    sim = simulate_image(
        tmp_path / "drift.fits",
        attenuated,
        center_ra_deg=ra0,
        center_dec_deg=dec0,
        npix=1024,
        pixel_arcsec=8.0,
        noise_jy=1e-4,
        pb=None,
        seed=1,
    )
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

    sky = Table(
        {
            "name": ["a", "b", "c"],
            "ra_deg": [150.0, 150.5, 150.9],
            "dec_deg": [45.0, 45.2, 44.9],
            "flux_jy": [0.2, 0.3, 0.25],
            "major_arcsec": [0.0] * 3,
            "minor_arcsec": [0.0] * 3,
            "pa_deg": [0.0] * 3,
        }
    )
    paths, alone = [], []
    for k, ra0 in enumerate((150.2, 150.7)):
        track = BeamTrack(
            PrimaryBeam("airy"), ra0 - 0.4, 45.05, ra0 + 0.4, 45.05, 10, 1.31e9, 1.5e9
        )
        attenuated = sky.copy()
        attenuated["flux_jy"] = sky["flux_jy"] * track.response(
            np.asarray(sky["ra_deg"]), np.asarray(sky["dec_deg"])
        )
        sim = simulate_image(
            tmp_path / f"drift{k}.fits",
            attenuated,
            center_ra_deg=ra0,
            center_dec_deg=45.0,
            npix=768,
            pixel_arcsec=6.0,
            noise_jy=2e-4,
            pb=None,
            seed=k,
            date_obs=f"2026-11-2{k + 1}T06:00:00",
            beam_major_arcsec=90.0,
            beam_minor_arcsec=60.0,
        )
        with fits.open(sim.path, mode="update") as hdul:
            for key, (value, comment) in track.to_header().items():
                hdul[0].header[key] = (value, comment)
            hdul[0].header["PBCORR"] = False
        paths.append(sim.path)
        alone.append(np.asarray(measure_many(sim.path, sky["ra_deg"], sky["dec_deg"])["peak_jyb"]))
    result = build_mosaic(paths, tmp_path / "mosaic.fits", primary_beam=PrimaryBeam("gaussian"))
    mosaic = measure_many(result.path, sky["ra_deg"], sky["dec_deg"])
    np.testing.assert_allclose(mosaic["peak_jyb"], sky["flux_jy"], rtol=0.02)
    for peaks in alone:
        np.testing.assert_allclose(peaks, sky["flux_jy"], rtol=0.02)


# --- one setting ---------------------------------------------------------------------------

#: Digests of photometry parameters as stored before the primary beam had its own settings
#: section (defaults; ``fitting.pb_model = "airy"``, 5 m, catalogue FIRST; ``"none"``, 6 m).
STORED_DIGESTS = ("b975bc8a313c0a91", "04ffb53d526494f3", "02818166112cabe7")


def test_settings_of_earlier_versions_move_to_their_one_place(tmp_path, monkeypatch, caplog):
    cfg = tmp_path / "old.toml"
    cfg.write_text(
        '[photometry.fitting]\npb_model = "airy"\ndish_diameter_m = 5.0\n'
        '[mosaic]\npb_model = "airy"\nwait_for_photometry = false\n'
    )
    monkeypatch.setenv("CONTIMG_CONFIG", str(cfg))
    with caplog.at_level("WARNING", logger="dsa110_contimg.config"):
        settings = Settings()
    assert settings.primary_beam.model == "airy"
    assert settings.primary_beam.dish_diameter_m == 5.0
    assert settings.photometry.fitting.model_pb is True
    assert settings.publish.wait_for_photometry is False
    assert "primary_beam.model" in caplog.text and "mosaic.pb_model" in caplog.text
    params = PhotometryParams.from_settings(settings)
    assert PrimaryBeam.from_settings(params.primary_beam) == PrimaryBeam("airy", 5.0)
    # The same parameters as `fitting.pb_model = "airy"` stored before, so the same row key.
    assert params.model_copy(update={"catalog": "first"}).digest() == STORED_DIGESTS[1]


def test_stored_parameters_keep_their_hash():
    assert PhotometryParams().digest() == STORED_DIGESTS[0]
    old = PhotometryParams.model_validate(
        {"fitting": {"pb_model": "airy", "dish_diameter_m": 5.0}, "catalog": "first"}
    )
    assert old.fitting.model_pb and old.primary_beam.model == "airy"
    assert old.digest() == STORED_DIGESTS[1]
    unused = PhotometryParams.model_validate(
        {"fitting": {"pb_model": "none", "dish_diameter_m": 6.0}}
    )
    assert not unused.fitting.model_pb and unused.digest() == STORED_DIGESTS[2]
    # A different beam is a different measurement only where the model is used.
    airy = {"primary_beam": {"model": "airy"}}
    assert PhotometryParams.model_validate(airy).digest() == STORED_DIGESTS[0]
    assert (
        PhotometryParams.model_validate({**airy, "fitting": {"model_pb": True}}).digest()
        != PhotometryParams.model_validate({"fitting": {"model_pb": True}}).digest()
    )


def test_photometry_uses_the_configured_model_for_images_without_a_track(tmp_path):
    """With ``model_pb`` the response of an untracked, uncorrected image is the configured
    dish's beam about its pointing; without it the response is unknown and fluxes apparent."""
    ra0, dec0 = 150.0, 40.0
    sky = Table(
        {
            "ra_deg": [ra0] * 3,
            "dec_deg": [dec0, dec0 + 1.0, dec0 + 1.5],
            "flux_jy": [1.0] * 3,
            "major_arcsec": [0.0] * 3,
            "minor_arcsec": [0.0] * 3,
            "pa_deg": [0.0] * 3,
        }
    )
    sim = simulate_image(
        tmp_path / "untracked.fits",
        sky,
        center_ra_deg=ra0,
        center_dec_deg=dec0 + 0.75,
        npix=1000,
        pixel_arcsec=4.0,
        noise_jy=1e-3,
        pb=None,
        seed=3,
    )
    image = load_image(sim.path, pb_corrected=False)
    assert image.pb_track is None
    separation = np.array([0.75, 0.25, 0.75])  # from the image centre (no OBSRA/OBSDEC)
    apparent = measure_many(image, sky["ra_deg"], sky["dec_deg"])
    assert np.isnan(apparent["pb_response"]).all()
    for beam in (PrimaryBeam("gaussian"), PrimaryBeam("airy", 4.0)):
        table = measure_many(
            image,
            sky["ra_deg"],
            sky["dec_deg"],
            options=FittingOptions(model_pb=True),
            primary_beam=beam,
        )
        expected = beam.response(separation, image.freq_hz)
        np.testing.assert_allclose(table["pb_response"], expected, rtol=2e-3)
        np.testing.assert_allclose(
            table["peak_jyb"], np.asarray(apparent["peak_jyb"]) / expected, rtol=1e-6
        )
