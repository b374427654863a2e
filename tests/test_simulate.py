"""The simulator's truth is exact: noise level and correlation, headers, PB, source shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.io import fits

from dsa110_contimg.imaging.fits_io import Beam, load_image
from dsa110_contimg.imaging.primary_beam import PrimaryBeam
from dsa110_contimg.imaging.simulate import (
    add_blend_companions,
    make_sky,
    simulate_image,
)

RA0, DEC0 = 150.0, 37.2


def _sky(n: int, seed: int = 1, **kw):
    sky = make_sky(RA0, DEC0, 0.2, seed=seed, n_sources=n, **kw)
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    return sky


def test_noise_has_the_requested_rms_and_the_beam_as_autocorrelation(tmp_path):
    sim = simulate_image(
        tmp_path / "noise.fits",
        _sky(0),
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=1024,
        noise_jy=2e-3,
        pb=None,
        seed=3,
    )
    data = load_image(sim.path).data.astype(float)
    assert data.std() == pytest.approx(2e-3, rel=0.05)
    # Autocorrelation at lags along the beam's major axis (PA 110°: x decreases to the east).
    theta = math.radians(110.0)
    for lag_fwhm, expected in ((0.5, 0.5), (1.0, 1 / 16)):
        step = lag_fwhm * 58.0 / 2.0
        dx, dy = int(round(-math.sin(theta) * step)), int(round(math.cos(theta) * step))
        a = data[100:-100, 100:-100]
        b = np.roll(np.roll(data, -dy, axis=0), -dx, axis=1)[100:-100, 100:-100]
        assert np.mean(a * b) / np.mean(a * a) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize(
    "naxis, order, beam_in",
    [
        (4, ("RA", "DEC", "FREQ", "STOKES"), "keywords"),
        (4, ("RA", "DEC", "STOKES", "FREQ"), "history-aips"),
        (3, ("RA", "DEC", "FREQ"), "history-casa"),
        (2, ("RA", "DEC"), "keywords"),
    ],
)
def test_headers_round_trip(tmp_path, naxis, order, beam_in):
    sim = simulate_image(
        tmp_path / "h.fits",
        _sky(3),
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=128,
        pb=None,
        naxis=naxis,
        axis_order=order,
        beam_in=beam_in,
        date_obs="2026-02-03T04:05:06",
        exposure_s=300.0,
        seed=1,
    )
    assert fits.getheader(sim.path)["NAXIS"] == naxis
    image = load_image(sim.path)
    assert image.beam.major_arcsec == pytest.approx(58.0, rel=1e-3)
    assert image.beam.minor_arcsec == pytest.approx(18.0, rel=1e-3)
    assert image.beam.pa_deg == pytest.approx(110.0, abs=0.01)
    assert image.mjd_mid == pytest.approx(61074.170208 + 150 / 86400, abs=1e-5)
    assert image.pointing == pytest.approx((RA0, DEC0))


def test_point_source_peak_position_and_orientation(tmp_path):
    sky = _sky(1, min_flux_jy=1.0, max_flux_jy=1.0)
    sky["ra_deg"], sky["dec_deg"] = RA0 + 0.01, DEC0 - 0.01
    sim = simulate_image(
        tmp_path / "p.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=256,
        noise_jy=1e-9,
        pb=None,
        seed=2,
    )
    data = load_image(sim.path).data
    j, i = np.unravel_index(np.argmax(data), data.shape)
    x, y = float(sim.truth["x_pix"][0]), float(sim.truth["y_pix"][0])
    assert abs(i - x) <= 0.5 and abs(j - y) <= 0.5
    assert data[j, i] == pytest.approx(1.0, abs=0.02)
    # Second moments of the source give the beam's PA on the sky (east of north).
    yy, xx = np.mgrid[0:256, 0:256]
    w = np.clip(data, 0, None)
    dx, dy = xx - x, yy - y
    cxx, cyy, cxy = (np.sum(w * dx * dx), np.sum(w * dy * dy), np.sum(w * dx * dy))
    major_angle = 0.5 * math.degrees(math.atan2(2 * cxy, cxx - cyy))  # from +x towards +y
    # +x is west and +y north, so sky direction PA φ is pixel direction (-sin φ, cos φ), i.e.
    # at angle φ - 90° (mod 180°) from +x.
    pa = (major_angle + 90.0) % 180.0
    assert pa == pytest.approx(110.0, abs=1.0)


def test_extended_source_peak_and_primary_beam(tmp_path):
    sky = _sky(1, min_flux_jy=1.0, max_flux_jy=1.0)
    sky["ra_deg"], sky["dec_deg"] = RA0, DEC0
    sky["major_arcsec"], sky["minor_arcsec"], sky["pa_deg"] = 40.0, 20.0, 30.0
    sim = simulate_image(
        tmp_path / "e.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=256,
        noise_jy=1e-9,
        pb=None,
        seed=2,
    )
    data = load_image(sim.path).data
    assert data.max() == pytest.approx(float(sim.truth["peak_jyb"][0]), rel=0.01)
    assert float(sim.truth["peak_jyb"][0]) < 0.6
    for model in ("gaussian", "airy"):
        beam = PrimaryBeam.with_fwhm(model, 3.2, 1.4e9)
        assert beam.fwhm_deg(1.4e9) == pytest.approx(3.2)
        assert float(beam.response(1.6, 1.4e9)) == pytest.approx(0.5, abs=1e-4)


def test_nan_border_off_image_sources_and_blends(tmp_path):
    sky = _sky(20)
    sky = add_blend_companions(sky, np.full(20, 1.0), np.zeros(20), np.ones(20))
    sim = simulate_image(
        tmp_path / "b.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=256,
        pb=None,
        nan_border_pix=10,
        seed=4,
    )
    data = load_image(sim.path).data
    assert np.isnan(data[:10]).all() and np.isfinite(data[10:-10, 10:-10]).all()
    assert len(sim.truth) == 40 and (~sim.truth["on_image"]).any()
    # Companions lie one FWHM away along PA 0 (north): 58″·18″ beam at PA 110° has FWHM along
    # north 1/√(cos²(110°)/58² + sin²(110°)/18²) arcsec.
    fwhm_north = 1 / math.sqrt(
        math.cos(math.radians(110)) ** 2 / 58**2 + math.sin(math.radians(110)) ** 2 / 18**2
    )
    sep = (np.asarray(sim.truth["dec_deg"][20:]) - np.asarray(sim.truth["dec_deg"][:20])) * 3600
    np.testing.assert_allclose(sep, fwhm_north, rtol=1e-3)
    assert Beam(58.0, 18.0, 110.0) == load_image(sim.path).beam
