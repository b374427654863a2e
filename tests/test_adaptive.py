"""Adaptive sub-band photometry: bins that reach the target S/N with unbiased fluxes, upper
limits instead of fabricated numbers, and spectral indices with calibrated errors — on
synthetic measurements and on simulated sub-band images (beam scaling with frequency,
beam-correlated noise)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.table import Table

from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.imaging.simulate import simulate_image
from dsa110_contimg.photometry import forced
from dsa110_contimg.photometry.adaptive import (
    SPECTRUM_COLUMNS,
    SubbandMeasurements,
    adaptive_bins,
    alpha_error_limit,
    combine_spectral_indices,
    fit_spectral_index,
    measure_subbands,
    spectra,
)
from dsa110_contimg.photometry.options import FittingOptions

FREQ = np.linspace(1.3115e9, 1.4990e9, 16)  # DSA-110's 16 sub-band centres
REF = 1.4e9


def _robust_width(values: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def _spectra(rng, n: int, snr_per_subband: tuple[float, float], sigma: float = 1e-3):
    """``n`` sources with α in [−1.5, 0.5] whose sub-band S/N at 1.4 GHz lies in the range."""
    alpha = rng.uniform(-1.5, 0.5, n)
    s0 = rng.uniform(*snr_per_subband, n) * sigma
    truth = s0[:, None] * (FREQ[None, :] / REF) ** alpha[:, None]
    measured = truth + rng.normal(0.0, sigma, truth.shape)
    return alpha, s0, truth, measured, np.full(truth.shape, sigma)


def test_faint_sources_get_bins_at_the_target_with_unbiased_fluxes():
    rng = np.random.default_rng(1)
    alpha, s0, _, flux, err = _spectra(rng, 3000, (1.0, 3.0))
    ratios, snrs, expected_snrs = [], [], []
    for i in range(len(alpha)):
        for b in adaptive_bins(FREQ, flux[i], err[i], target_snr=5.0):
            expected = s0[i] * (b.freq_hz / REF) ** alpha[i]
            if b.upper_limit:
                assert math.isnan(b.flux_jy) and b.limit_jy > 0
                continue
            ratios.append(b.flux_jy / expected)
            snrs.append(b.snr)
            expected_snrs.append(expected / b.flux_err_jy)
    assert len(ratios) > 3000
    # Every bin's error lets the source's true flux reach about the target; widths come from
    # the whole band's estimate of the spectrum, which is itself noisy for faint sources.
    assert np.median(expected_snrs) >= 5.0 and np.mean(np.array(expected_snrs) > 4.0) > 0.95
    assert np.median(ratios) == pytest.approx(1.0, abs=0.02)
    assert np.median(snrs) >= 5.0


def test_bin_flux_is_a_weighted_mean_not_a_sum():
    flux = np.full(16, 2e-3)
    err = np.full(16, 1e-3)
    bins = adaptive_bins(FREQ, flux, err, target_snr=5.0)
    assert 1 < len(bins) < 16
    assert all(b.flux_jy == pytest.approx(2e-3) for b in bins)
    assert sum(b.width for b in bins) == 16
    assert [b.first for b in bins] == sorted(b.first for b in bins)


def test_only_the_whole_band_detects_a_source_and_nothing_detects_another():
    """S/N 1.5 in each sub-band, 6 over the band: mostly one bin over the whole band with the
    right flux within its error (when a noise peak lifts it above 7, two bins; below 5, a
    limit). A source far below the target is an upper limit, never a number."""
    rng = np.random.default_rng(2)
    pulls, outcomes = [], []
    for _ in range(400):
        flux = 1.5e-3 + rng.normal(0.0, 1e-3, 16)
        bins = adaptive_bins(FREQ, flux, np.full(16, 1e-3), target_snr=5.0)
        outcomes.append("limit" if bins[0].upper_limit else len(bins))
        if outcomes[-1] == 1:
            assert (bins[0].first, bins[0].last) == (0, 15)
            pulls.append((bins[0].flux_jy - 1.5e-3) / bins[0].flux_err_jy)
    assert outcomes.count(1) > 0.6 * len(outcomes)
    assert np.all(np.abs(pulls) < 3)

    (limit,) = adaptive_bins(FREQ, np.full(16, 2e-4), np.full(16, 1e-3), target_snr=5.0)
    assert limit.upper_limit and math.isnan(limit.flux_jy) and math.isnan(limit.snr)
    assert limit.limit_jy == pytest.approx(2e-4 + 3 * 1e-3 / 4)


def test_gaps_end_bins_unless_bridged():
    flux, err = np.full(16, 0.05), np.full(16, 1e-3)
    usable = np.ones(16, bool)
    usable[7] = False
    bins = adaptive_bins(FREQ, flux, err, usable, target_snr=5.0)
    assert len(bins) == 15 and all(not (b.first <= 7 <= b.last) for b in bins)
    faint = np.full(16, 3e-3)
    split = adaptive_bins(FREQ, faint, err, usable, target_snr=5.0)
    assert all(not (b.first < 7 < b.last) for b in split)
    bridged = adaptive_bins(FREQ, faint, err, usable, target_snr=5.0, bridge_gaps=True)
    assert any(b.first < 7 < b.last for b in bridged)
    assert adaptive_bins(FREQ, flux, err, np.zeros(16, bool)) == []
    capped = adaptive_bins(FREQ, np.full(16, 1.5e-3), err, target_snr=5.0, max_width=4)
    assert all(b.width <= 4 for b in capped)


def test_spectral_index_errors_are_calibrated_and_at_the_band_limit():
    """Synthetic spectra at S/N 50–500 over the band: α pulls have unit width and no bias,
    σ_α is the limit the band allows; 30 epochs of steady sources shrink it by √30."""
    rng = np.random.default_rng(3)
    n, epochs = 300, 30
    alpha = rng.uniform(-1.5, 0.5, n)
    s0 = rng.uniform(50, 500, n) / 4 * 1e-3  # total S/N 50–500 over 16 sub-bands of σ = 1 mJy
    truth = s0[:, None] * (FREQ[None, :] / REF) ** alpha[:, None]
    fits, combined = [], []
    for i in range(n):
        per_epoch = [
            fit_spectral_index(FREQ, truth[i] + rng.normal(0, 1e-3, 16), np.full(16, 1e-3))
            for _ in range(epochs)
        ]
        fits.append(per_epoch[0])
        combined.append(
            combine_spectral_indices([f.alpha for f in per_epoch], [f.alpha_err for f in per_epoch])
        )
    pulls = np.array([(f.alpha - a) / f.alpha_err for f, a in zip(fits, alpha)])
    assert _robust_width(pulls) == pytest.approx(1.0, abs=0.1)
    assert abs(np.median(pulls)) < 0.15
    snr = np.array([f.s0_jy / f.s0_err_jy for f in fits])
    ratio = np.array([f.alpha_err for f in fits]) / [alpha_error_limit(s, FREQ) for s in snr]
    assert np.median(ratio) < 1.1 and ratio.max() < 1.3
    combined_pulls = np.array([(c[0] - a) / c[1] for c, a in zip(combined, alpha)])
    assert _robust_width(combined_pulls) == pytest.approx(1.0, abs=0.12)
    shrink = np.array([f.alpha_err / c[1] for f, c in zip(fits, combined)])
    assert np.median(shrink) == pytest.approx(math.sqrt(epochs), rel=0.1)


def test_curvature_is_measured_where_the_snr_allows_and_left_out_elsewhere():
    """Curved spectra (β = −3) at total S/N ~6000 recover β with calibrated errors and keep α
    as the slope at ν₀; the same spectra at S/N ~60 report no β, only a power law."""
    rng = np.random.default_rng(8)
    n, beta, sigma = 400, -3.0, 1e-3
    alpha = rng.uniform(-1.5, 0.5, n)
    x = np.log(FREQ / REF)
    for total_snr, curved in ((6000.0, True), (60.0, False)):
        s0 = np.full(n, total_snr / 4 * sigma)
        truth = s0[:, None] * np.exp((alpha[:, None] + beta * x[None, :]) * x[None, :])
        measured = SubbandMeasurements(
            FREQ,
            truth + rng.normal(0.0, sigma, truth.shape),
            np.full(truth.shape, sigma),
            np.zeros(truth.shape, dtype=np.int64),
            [f"s{i}" for i in range(n)],
            np.arange(n),
            [],
        )
        table = spectra(measured, target_snr=5.0)
        assert table.colnames == list(SPECTRUM_COLUMNS)
        first = table[np.unique(table["source_id"], return_index=True)[1]]
        assert len(first) == n
        if not curved:
            assert np.all(np.isnan(first["curvature"]))
            assert np.all(np.isnan(first["curvature_err"]))
            assert np.all(np.isfinite(first["alpha"]))
            continue
        pulls = (first["curvature"] - beta) / first["curvature_err"]
        assert np.all(first["curvature_err"] < 0.5)
        assert _robust_width(pulls) == pytest.approx(1.0, abs=0.12)
        assert abs(np.median(pulls)) < 0.2
        # α is the slope at the reference frequency ν₀ of the curved spectrum.
        slope = alpha + 2 * beta * np.log(first["ref_freq_hz"] / REF)
        alpha_pulls = (first["alpha"] - slope) / first["alpha_err"]
        assert abs(np.median(alpha_pulls)) < 0.3


def test_subband_images_give_calibrated_spectral_indices(tmp_path):
    """Three fields, each 16 simulated sub-band images (restoring beam ∝ 1/ν, beam-correlated
    noise of 4 mJy each, so 1 mJy over the band) of 196 isolated sources with α in
    [−1.5, 0.5]: measured once per image, binned and fitted, the α pulls of the sources with
    S/N_MFS > 50 are calibrated and unbiased and σ_α is at the band's limit. (One field's 16
    noise realizations move all its pulls together, so three fields are pooled.)"""
    pulls, ratios = [], []
    for field in range(3):
        field_pulls, field_ratios = _measure_field(tmp_path / f"field{field}", seed=field)
        pulls += field_pulls
        ratios += field_ratios
    assert len(pulls) > 450
    assert _robust_width(np.array(pulls)) == pytest.approx(1.0, abs=0.15)
    assert abs(np.median(pulls)) < 0.25
    assert np.median(ratios) < 1.3


def _measure_field(directory, *, seed: int) -> tuple[list[float], list[float]]:
    directory.mkdir()
    rng = np.random.default_rng(seed)
    side, step = 14, 0.105  # > 3 beam FWHM at the lowest frequency apart: isolated
    ra0, dec0 = 150.0, 45.0
    grid = (np.arange(side) - (side - 1) / 2) * step
    dec = dec0 + np.repeat(grid, side)
    ra = ra0 + np.tile(grid, side) / math.cos(math.radians(dec0))
    n = side * side
    alpha = rng.uniform(-1.5, 0.5, n)
    s0 = np.exp(rng.uniform(math.log(0.04), math.log(0.6), n))
    paths = []
    for k, freq in enumerate(FREQ):
        sky = Table(
            {
                "name": [f"s{i}" for i in range(n)],
                "ra_deg": ra,
                "dec_deg": dec,
                "flux_jy": s0 * (freq / REF) ** alpha,
                "major_arcsec": np.zeros(n),
                "minor_arcsec": np.zeros(n),
                "pa_deg": np.zeros(n),
            }
        )
        scale = 1.405e9 / freq
        sim = simulate_image(
            directory / f"sb{k:02d}.fits",
            sky,
            center_ra_deg=ra0,
            center_dec_deg=dec0,
            npix=1408,
            pixel_arcsec=4.0,
            noise_jy=4e-3,
            beam_major_arcsec=116.0 * scale,
            beam_minor_arcsec=36.0 * scale,
            freq_hz=float(freq),
            pb=None,
            seed=100 * seed + k,
        )
        paths.append(sim.path)
    measured = measure_subbands(paths[::-1], ra, dec)
    np.testing.assert_allclose(measured.freq_hz, FREQ)
    pulls, ratios = [], []
    for i in range(n):
        bins = adaptive_bins(
            measured.freq_hz,
            measured.flux_jy[i],
            measured.flux_err_jy[i],
            measured.usable[i],
            target_snr=5.0,
        )
        good = [b for b in bins if not b.upper_limit]
        fit = fit_spectral_index(
            [b.freq_hz for b in good], [b.flux_jy for b in good], [b.flux_err_jy for b in good]
        )
        snr_mfs = fit.s0_jy / fit.s0_err_jy
        if snr_mfs > 50:
            pulls.append((fit.alpha - alpha[i]) / fit.alpha_err)
            ratios.append(fit.alpha_err / alpha_error_limit(snr_mfs, measured.freq_hz))
    return pulls, ratios


def test_subband_measurements_are_the_mfs_engines_with_the_grid_geometry_shared(
    tmp_path, monkeypatch
):
    """Each sub-band's peaks, errors and flags are exactly `measure_many`'s on that image
    (primary-beam corrected by the model, NaN border, blended neighbours), and the targets'
    pixel geometry is computed once per pixel grid: once for two sub-bands of one grid, again
    for an image on a shifted grid."""
    rng = np.random.default_rng(3)
    ra = 150.0 + rng.uniform(-0.25, 0.25, 40) / math.cos(math.radians(45.0))
    dec = 45.0 + rng.uniform(-0.25, 0.25, 40)
    ra[1], dec[1] = ra[0] + 0.01, dec[0]  # a blend
    neighbours = (ra[:3] + 0.02, dec[:3])
    options = FittingOptions(model_pb=True)
    paths = []
    for k, (freq, centre_ra) in enumerate(((1.33e9, 150.0), (1.45e9, 150.0), (1.40e9, 150.02))):
        sky = Table(
            {
                "name": [f"s{i}" for i in range(ra.size)],
                "ra_deg": ra,
                "dec_deg": dec,
                "flux_jy": rng.uniform(5e-3, 0.2, ra.size),
                "major_arcsec": np.zeros(ra.size),
                "minor_arcsec": np.zeros(ra.size),
                "pa_deg": np.zeros(ra.size),
            }
        )
        sim = simulate_image(
            tmp_path / f"sb{k}.fits",
            sky,
            center_ra_deg=centre_ra,
            center_dec_deg=45.0,
            npix=512,
            pixel_arcsec=4.0,
            noise_jy=2e-3,
            beam_major_arcsec=116.0 * 1.405e9 / freq,
            beam_minor_arcsec=36.0 * 1.405e9 / freq,
            freq_hz=freq,
            nan_border_pix=20,
            seed=k,
        )
        paths.append(sim.path)
    computed = []
    original = forced.pixel_geometry

    def counted(image, ra_deg, dec_deg):
        computed.append(image.path)
        return original(image, ra_deg, dec_deg)

    monkeypatch.setattr(forced, "pixel_geometry", counted)
    measured = measure_subbands(paths, ra, dec, neighbours=neighbours, options=options)
    assert computed == [paths[0], paths[2]]
    assert measured.images == [paths[0], paths[2], paths[1]]  # by frequency
    for path in paths:
        table = forced.measure_many(path, ra, dec, neighbours=neighbours, options=options)
        assert table.meta["pb_applied"]
        column = measured.images.index(path)
        np.testing.assert_array_equal(measured.flux_jy[:, column], table["peak_jyb"])
        np.testing.assert_array_equal(measured.flux_err_jy[:, column], table["peak_err_jyb"])
        np.testing.assert_array_equal(measured.flags[:, column], table["flags"])
    assert np.any(measured.flags & int(forced.F.BLENDED))
    assert np.any(measured.flags & int(forced.F.NAN_IN_BOX | forced.F.OFF_IMAGE))

    first, same_grid, shifted = (load_image(p) for p in paths)
    geometry = original(first, ra, dec)
    assert geometry.describes(same_grid, ra, dec)
    assert not geometry.describes(shifted, ra, dec)
    assert not geometry.describes(same_grid, ra[::-1], dec[::-1])


def test_cli_writes_spectra_of_listed_positions(tmp_path):
    from typer.testing import CliRunner

    from dsa110_contimg.cli import app

    ra, dec = np.array([150.0, 150.2]), np.array([45.0, 45.1])
    paths = []
    for k, freq in enumerate(FREQ):
        sky = Table(
            {
                "name": ["steep", "faint"],
                "ra_deg": ra,
                "dec_deg": dec,
                "flux_jy": [0.3 * (freq / REF) ** -1.2, 4e-3],
                "major_arcsec": [0.0, 0.0],
                "minor_arcsec": [0.0, 0.0],
                "pa_deg": [0.0, 0.0],
            }
        )
        sim = simulate_image(
            tmp_path / f"obs-{k:04d}-image.fits",
            sky,
            center_ra_deg=150.1,
            center_dec_deg=45.05,
            npix=512,
            pixel_arcsec=4.0,
            noise_jy=2e-3,
            beam_major_arcsec=116.0 * 1.405e9 / freq,
            beam_minor_arcsec=36.0 * 1.405e9 / freq,
            freq_hz=float(freq),
            pb=None,
            seed=k,
        )
        paths.append(str(sim.path))
    positions = tmp_path / "targets.csv"
    positions.write_text("name,ra_deg,dec_deg\nsteep,150.0,45.0\nfaint,150.2,45.1\n")
    out = tmp_path / "spectra.csv"
    result = CliRunner().invoke(
        app, ["photometry", "adaptive", *paths, "--positions", str(positions), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = Table.read(out, format="ascii.csv")
    steep = table[table["name"] == "steep"]
    assert len(steep) == 16 and not np.any(steep["upper_limit"].astype(str) == "True")
    assert abs(steep["alpha"][0] + 1.2) < 3 * steep["alpha_err"][0]
    assert steep["alpha_err"][0] < 0.1
    faint = table[table["name"] == "faint"]
    assert 1 <= len(faint) < 16  # S/N ~2 per sub-band: merged into a few bins
    assert np.all(np.abs(faint["flux_jy"] - 4e-3) < 3 * faint["flux_err_jy"])


def test_a_faint_constant_source_binned_over_epochs_reaches_the_target_unbiased():
    """S/N 1.5 per epoch over 30 epochs: points of ≥ 5σ (in expectation) whose weighted mean
    is the true flux within its error, over many such light curves."""
    from dsa110_contimg.photometry.adaptive import bin_light_curve

    rng = np.random.default_rng(7)
    mjd = 61000.0 + np.sort(rng.uniform(0, 60, 30))
    pulls, widths = [], []
    for _ in range(1000):
        flux = 1.5e-3 + rng.normal(0.0, 1e-3, 30)
        curve = bin_light_curve(mjd[::-1], flux[::-1], np.full(30, 1e-3), target_snr=5.0)
        assert np.all(np.diff(curve["mjd"]) > 0)
        assert curve["n_epochs"].sum() == 30
        assert np.all(curve["mjd_first"] <= curve["mjd"]) and np.all(
            curve["mjd"] <= curve["mjd_last"]
        )
        detected = curve[~curve["upper_limit"].astype(bool)]
        widths += list(detected["n_epochs"])
        w = 1 / np.asarray(detected["flux_err_jy"]) ** 2
        mean = np.sum(w * detected["flux_jy"]) / np.sum(w)
        pulls.append((mean - 1.5e-3) * math.sqrt(np.sum(w)))
    assert np.median(widths) >= 10  # 1.5 √n ≥ 5 needs 11 epochs, in expectation
    assert abs(np.median(pulls)) < 0.1 and np.std(pulls) == pytest.approx(1.0, abs=0.1)
