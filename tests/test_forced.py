"""Forced photometry on simulated DSA-110-like images: injection–recovery, blends, errors, flags."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.table import Table

from dsa110_contimg.config import FittingOptions
from dsa110_contimg.imaging.fits_io import Beam, MissingBeamError, NotAnImageError, load_image
from dsa110_contimg.imaging.simulate import add_blend_companions, make_sky, simulate_image
from dsa110_contimg.photometry.flags import PhotometryFlag as F
from dsa110_contimg.photometry.forced import measure_forced_peak, measure_many

RA0, DEC0 = 150.0, 37.2
NOISE = 1e-3


def _robust_width(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def _isolated_sky(n: int, seed: int, min_flux: float = 3e-3, max_flux: float = 0.3) -> Table:
    sky = make_sky(
        RA0, DEC0, 0.6, seed=seed, n_sources=n, min_flux_jy=min_flux, max_flux_jy=max_flux
    )
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    return sky


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """Four 2048² DSA-110-like 4-axis images with PB attenuation and 450 sources each."""
    out = []
    for seed in (1, 2, 3, 4):
        path = tmp_path_factory.mktemp("field") / f"field{seed}.fits"
        sky = _isolated_sky(450, seed)
        sim = simulate_image(
            path,
            sky,
            center_ra_deg=RA0,
            center_dec_deg=DEC0,
            npix=2048,
            noise_jy=NOISE,
            pb="gaussian",
            seed=seed,
        )
        image = load_image(sim.path)
        truth = sim.truth
        table = measure_many(
            image, truth["ra_deg"], truth["dec_deg"], source_ids=truth["source_id"]
        )
        out.append((truth, table))
    return out


def test_isolated_bright_sources_are_unbiased(field):
    bias = []
    for truth, table in field:
        on = np.asarray(truth["on_image"], bool)
        iso = (np.asarray(table["group_size"]) == 1) & on
        bright = iso & (np.asarray(truth["peak_jyb"]) / NOISE > 20)
        bias.append((np.asarray(table["peak_jyb"]) / np.asarray(truth["peak_jyb"]) - 1)[bright])
    bias = np.concatenate(bias)
    assert bias.size > 150
    assert abs(np.median(bias)) < 0.005


def test_pull_distribution_has_unit_width(field):
    pulls = []
    for truth, table in field:
        iso = (np.asarray(table["group_size"]) == 1) & np.asarray(truth["on_image"], bool)
        pulls.append(
            (
                (np.asarray(table["peak_jyb"]) - np.asarray(truth["peak_jyb"]))
                / np.asarray(table["peak_err_jyb"])
            )[iso]
        )
    pulls = np.concatenate(pulls)
    print("pull width", _robust_width(pulls), pulls.size)
    assert pulls.size > 800
    assert 0.93 <= _robust_width(pulls) <= 1.07
    # The white-noise error alone (what the local rms gives) would be far too small.
    _, table = field[0]
    assert table.meta["error_scale"] > 5


def test_errors_match_the_beam_autocorrelation_model(field):
    # The simulator's noise autocorrelation is the beam, so both calibrations agree.
    _, table = field[0]
    assert table.meta["error_calibration"] == "null-fits"
    assert table.meta["error_scale"] == pytest.approx(table.meta["error_scale_analytic"], rel=0.06)


def test_local_rms_is_the_pixel_noise(field):
    _, table = field[0]
    assert np.nanmedian(table["local_rms_jyb"]) == pytest.approx(NOISE, rel=0.05)


def test_chisq_matches_effective_dof_for_good_fits(field):
    truth, table = field[0]
    iso = (np.asarray(table["group_size"]) == 1) & (np.asarray(table["flags"]) == 0)
    ratio = np.asarray(table["chisq"])[iso] / np.asarray(table["dof"])[iso]
    assert 0.7 < np.median(ratio) < 1.4


def test_blended_pairs_are_separated(tmp_path):
    rng = np.random.default_rng(7)
    sky = _isolated_sky(60, seed=7, min_flux=0.05, max_flux=0.1)
    n = len(sky)
    pairs = add_blend_companions(
        sky, rng.uniform(0.6, 1.2, n), rng.uniform(0, 180, n), rng.uniform(1 / 3, 3, n)
    )
    sim = simulate_image(
        tmp_path / "pairs.fits",
        pairs,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=2048,
        noise_jy=NOISE,
        pb=None,
        seed=7,
    )
    truth = sim.truth
    table = measure_many(sim.path, truth["ra_deg"], truth["dec_deg"])
    x, y = np.asarray(truth["x_pix"]), np.asarray(truth["y_pix"])
    inside = (x > 80) & (x < 1968) & (y > 80) & (y < 1968)
    both = inside[:n] & inside[n:]
    sel = np.concatenate([both, both])
    assert both.sum() > 30
    assert np.all(np.asarray(table["group_size"])[sel] >= 2)
    assert np.all(np.asarray(table["flags"])[sel] & F.BLENDED)
    bias = (np.asarray(table["peak_jyb"]) / np.asarray(truth["peak_jyb"]) - 1)[sel]
    assert abs(np.median(bias)) < 0.02
    pulls = (
        (np.asarray(table["peak_jyb"]) - np.asarray(truth["peak_jyb"]))
        / np.asarray(table["peak_err_jyb"])
    )[sel]
    assert 0.8 < _robust_width(pulls) < 1.25


def test_off_image_nan_and_edge_positions_are_flagged_not_fatal(tmp_path):
    sky = _isolated_sky(40, seed=3, min_flux=0.02, max_flux=0.05)
    sim = simulate_image(
        tmp_path / "edge.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=1024,
        noise_jy=NOISE,
        pb=None,
        nan_border_pix=40,
        seed=3,
    )
    truth = sim.truth
    image = load_image(sim.path)
    ra = np.concatenate([truth["ra_deg"], [RA0 + 5.0, np.nan, RA0]])
    dec = np.concatenate([truth["dec_deg"], [DEC0, DEC0, 95.0]])
    table = measure_many(image, ra, dec)
    assert len(table) == len(ra)
    flags = np.asarray(table["flags"])
    peaks = np.asarray(table["peak_jyb"])
    assert np.all(flags[-3:] & F.OFF_IMAGE)
    assert np.all(np.isnan(peaks[-3:]))
    x, y = np.asarray(truth["x_pix"]), np.asarray(truth["y_pix"])
    deep_inside = (x > 150) & (x < 874) & (y > 150) & (y < 874)
    assert np.all(np.isfinite(peaks[:-3][deep_inside]))
    in_nan = ~((x > 39.5) & (x < 983.5) & (y > 39.5) & (y < 983.5))
    near_nan = ~deep_inside & ~in_nan
    assert np.all(flags[:-3][in_nan] & (F.FIT_FAILED | F.OFF_IMAGE | F.NAN_IN_BOX))
    assert np.all(np.asarray(table["edge_dist_pix"])[:-3][near_nan] < 120)
    assert not np.any(peaks == 0.0)


def test_all_nan_image_is_refused_with_a_reason(tmp_path):
    sky = _isolated_sky(5, seed=4)
    sim = simulate_image(
        tmp_path / "nan.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=256,
        noise_jy=NOISE,
        pb=None,
        seed=4,
    )
    image = load_image(sim.path)
    image.data[:] = np.nan
    with pytest.raises(NotAnImageError, match="nan.fits: not an image: every pixel is blank"):
        measure_many(image, sky["ra_deg"], sky["dec_deg"])


def test_missing_beam_needs_an_explicit_beam(tmp_path):
    sky = _isolated_sky(5, seed=5, min_flux=0.05, max_flux=0.1)
    sim = simulate_image(
        tmp_path / "nobeam.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=512,
        noise_jy=NOISE,
        pb=None,
        beam_in="none",
        seed=5,
    )
    with pytest.raises(MissingBeamError, match="no restoring beam"):
        measure_many(sim.path, sky["ra_deg"], sky["dec_deg"])
    table = measure_many(sim.path, sky["ra_deg"], sky["dec_deg"], beam=Beam(58.0, 18.0, 110.0))
    on = np.asarray(sim.truth["on_image"], bool)
    ratio = np.asarray(table["peak_jyb"])[on] / np.asarray(sim.truth["peak_jyb"])[on]
    assert np.allclose(ratio, 1.0, atol=0.1)


def test_single_position_measurement_and_duplicates(tmp_path):
    sky = _isolated_sky(3, seed=6, min_flux=0.1, max_flux=0.2)
    sim = simulate_image(
        tmp_path / "one.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=512,
        noise_jy=NOISE,
        pb=None,
        seed=6,
    )
    t = sim.truth[np.argmax(sim.truth["peak_jyb"] * sim.truth["on_image"])]
    m = measure_forced_peak(sim.path, float(t["ra_deg"]), float(t["dec_deg"]))
    assert m.success and m.method == "forced-beam-fit"
    assert m.peak_jyb == pytest.approx(float(t["peak_jyb"]), rel=0.05)
    assert m.snr > 20 and m.flag_names == ()
    table = measure_many(sim.path, [t["ra_deg"], t["ra_deg"]], [t["dec_deg"], t["dec_deg"]])
    assert np.all(np.asarray(table["flags"]) & F.MERGED)
    assert table["peak_jyb"][0] == table["peak_jyb"][1]
    assert table["peak_jyb"][0] == pytest.approx(m.peak_jyb, rel=1e-9)


def test_negative_fluxes_are_kept(tmp_path):
    sky = _isolated_sky(4, seed=8, min_flux=0.05, max_flux=0.06)
    sky["flux_jy"] *= -1  # absorption-like negative sources (or sidelobe holes)
    sim = simulate_image(
        tmp_path / "neg.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=512,
        noise_jy=NOISE,
        pb=None,
        seed=8,
    )
    on = np.asarray(sim.truth["on_image"], bool)
    table = measure_many(sim.path, sky["ra_deg"], sky["dec_deg"])
    assert np.all(np.asarray(table["peak_jyb"])[on] < -0.04)


def test_resolved_sources_with_catalogue_shapes(tmp_path):
    sky = _isolated_sky(30, seed=9, min_flux=0.1, max_flux=0.2)
    sky["major_arcsec"] = 40.0
    sky["minor_arcsec"] = 25.0
    sky["pa_deg"] = 30.0
    sim = simulate_image(
        tmp_path / "ext.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=1024,
        noise_jy=NOISE,
        pb=None,
        seed=9,
    )
    truth = sim.truth
    on = (
        np.asarray(truth["on_image"], bool)
        & (np.asarray(truth["x_pix"]) > 60)
        & (np.asarray(truth["x_pix"]) < 964)
    )
    shapes = (truth["major_arcsec"], truth["minor_arcsec"], truth["pa_deg"])
    shaped = measure_many(sim.path, truth["ra_deg"], truth["dec_deg"], shapes=shapes)
    point = measure_many(sim.path, truth["ra_deg"], truth["dec_deg"])
    peak_ratio = np.asarray(shaped["peak_jyb"])[on] / np.asarray(truth["peak_jyb"])[on]
    int_ratio = np.asarray(shaped["int_flux_jy"])[on] / np.asarray(truth["flux_jy"])[on]
    assert np.median(peak_ratio) == pytest.approx(1.0, abs=0.01)
    assert np.median(int_ratio) == pytest.approx(1.0, abs=0.01)
    # A point-source kernel on a resolved source overestimates its peak.
    assert np.median(np.asarray(point["peak_jyb"])[on] / np.asarray(truth["peak_jyb"])[on]) > 1.1


def test_primary_beam_response_model(tmp_path):
    sky = _isolated_sky(20, seed=10, min_flux=0.05, max_flux=0.1)
    sim = simulate_image(
        tmp_path / "pb.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=1024,
        noise_jy=NOISE,
        pb="gaussian",
        pb_fwhm_deg=3.2,
        seed=10,
    )
    options = FittingOptions(model_pb=True)
    table = measure_many(sim.path, sky["ra_deg"], sky["dec_deg"], options=options)
    on = np.asarray(sim.truth["on_image"], bool)
    # Model FWHM = 1.2 λ/D for a 4.65 m dish at 1.405 GHz ≈ 3.15°, close to the simulated 3.2°.
    np.testing.assert_allclose(
        np.asarray(table["pb_response"])[on], np.asarray(sim.truth["pb_response"])[on], atol=0.01
    )


def test_crowded_field_stays_bounded(tmp_path):
    """~8k positions on a 1024² image, ~1 source per 4 beams: one giant blend group that is
    solved sparsely with windowed errors and still right on average (its time is in
    bench_forced)."""
    sky = make_sky(RA0, DEC0, 0.4, seed=11, n_sources=8000, min_flux_jy=1e-3, max_flux_jy=0.02)
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    sim = simulate_image(
        tmp_path / "crowd.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=1024,
        noise_jy=NOISE,
        pb=None,
        seed=11,
    )
    table = measure_many(
        sim.path, sky["ra_deg"], sky["dec_deg"], options=FittingOptions(max_dense_group=32)
    )
    truth = sim.truth
    x, y = np.asarray(truth["x_pix"]), np.asarray(truth["y_pix"])
    inner = (x > 80) & (x < 944) & (y > 80) & (y < 944)
    assert np.all(np.asarray(table["flags"])[inner] & F.WINDOWED_ERROR)
    assert np.all(np.isfinite(np.asarray(table["peak_jyb"])[inner]))
    # Catalogue entries closer than the merge radius are fitted as one and flagged.
    single = inner & ~(np.asarray(table["flags"]) & F.MERGED).astype(bool)
    resid = (np.asarray(table["peak_jyb"]) - np.asarray(truth["peak_jyb"]))[single]
    assert abs(np.median(resid)) < 0.3 * NOISE
    pulls = resid / np.asarray(table["peak_err_jyb"])[single]
    assert 0.7 < _robust_width(pulls) < 1.4


def test_invalid_inputs_raise_clear_errors(tmp_path):
    sky = _isolated_sky(3, seed=12)
    sim = simulate_image(
        tmp_path / "x.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=256,
        noise_jy=NOISE,
        pb=None,
        seed=12,
    )
    with pytest.raises(ValueError, match="dec_deg has 1"):
        measure_many(sim.path, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="names has 1 entries"):
        measure_many(sim.path, [1.0, 2.0], [1.0, 2.0], names=["a"])
    with pytest.raises(ValueError, match="map shape"):
        measure_many(sim.path, [1.0], [1.0], rms_map=np.ones((3, 3)))


def test_invalid_coordinates_are_logged(tmp_path, caplog):
    sky = _isolated_sky(3, seed=13)
    sim = simulate_image(
        tmp_path / "y.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=256,
        noise_jy=NOISE,
        pb=None,
        seed=13,
    )
    with caplog.at_level(logging.WARNING):
        table = measure_many(sim.path, [np.nan], [0.0])
    assert table["flags"][0] & F.OFF_IMAGE
    assert "invalid coordinates" in caplog.text
