"""Sub-band spectra through the pipeline: the worker measures a product's sub-band images after
its MFS photometry, stores the adaptive bins and spectral indices, and the CLI and API serve
them (with S/N-binned light curves) — on simulated images of one field (16 sub-bands, restoring
beam ∝ 1/ν, beam-correlated noise)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from astropy.table import Table
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dsa110_contimg.api import create_app
from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.products import photometry_count
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.database.spectra import (
    product_spectral_indices,
    source_spectral_indices,
    source_spectrum,
)
from dsa110_contimg.imaging.simulate import simulate_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job
from dsa110_contimg.jobs.worker import run_worker
from dsa110_contimg.photometry.adaptive import alpha_error_limit

FREQ = np.linspace(1.3115e9, 1.4990e9, 16)
REF, MFS_FREQ = 1.4e9, 1.405e9
RA0, DEC0 = 150.0, 45.0
SUBBAND_NOISE, MFS_NOISE = 4e-3, 1e-3
#: Per source: flux density at 1.4 GHz and spectral index. The last two are faint: "whole"
#: reaches S/N ≈ 7 over the band (≈ 1.7 per sub-band), "none" S/N ≈ 0.4.
SOURCES = {
    "b0": (0.40, -0.9),
    "b1": (0.30, 0.3),
    "b2": (0.25, -1.4),
    "b3": (0.20, -0.5),
    "b4": (0.15, 0.0),
    "b5": (0.35, -0.7),
    "b6": (0.12, -1.1),
    "b7": (0.28, 0.5),
    "whole": (7e-3, 0.0),
    "none": (4e-4, 0.0),
}


def _sky() -> Table:
    names = list(SOURCES)
    offsets = (np.arange(len(names)) % 4 - 1.5) * 0.1, (np.arange(len(names)) // 4 - 1.0) * 0.1
    dec = DEC0 + offsets[1]
    return Table(
        {
            "name": names,
            "ra_deg": RA0 + offsets[0] / math.cos(math.radians(DEC0)),
            "dec_deg": dec,
            "s0": [SOURCES[n][0] for n in names],
            "alpha": [SOURCES[n][1] for n in names],
        }
    )


def _image(path, sky: Table, freq: float, noise: float, seed: int) -> str:
    table = Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_jy": sky["s0"] * (freq / REF) ** sky["alpha"],
            "major_arcsec": np.zeros(len(sky)),
            "minor_arcsec": np.zeros(len(sky)),
            "pa_deg": np.zeros(len(sky)),
        }
    )
    scale = MFS_FREQ / freq
    return str(
        simulate_image(
            path,
            table,
            center_ra_deg=RA0,
            center_dec_deg=DEC0,
            npix=448,
            pixel_arcsec=4.0,
            noise_jy=noise,
            beam_major_arcsec=116.0 * scale,
            beam_minor_arcsec=36.0 * scale,
            freq_hz=float(freq),
            pb=None,
            date_obs="2026-06-01T04:00:00",
            seed=seed,
        ).path
    )


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    """One observation's MFS image and its 16 sub-band images, written once for the module."""
    directory = tmp_path_factory.mktemp("observation")
    sky = _sky()
    subbands = [
        _image(directory / f"obs-{k:04d}-image.fits", sky, f, SUBBAND_NOISE, 10 + k)
        for k, f in enumerate(FREQ)
    ]
    mfs = _image(directory / "obs-MFS-image.fits", sky, MFS_FREQ, MFS_NOISE, 1)
    return sky, mfs, subbands


@pytest.fixture
def measured(observation, tmp_path, isolated_settings):
    """The observation registered with its sub-band images and measured by a worker."""
    sky, mfs, subbands = observation
    upgrade()
    catalogue = tmp_path / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": 1e3 * sky["s0"],
        }
    ).write(catalogue, format="ascii.csv")
    ingest_catalog(catalogue, "sim")
    data_id = register_data(mfs, metadata={"subband_images": subbands})
    job_id = create_batch_photometry_job([data_id], params=PhotometryParams(catalog="sim"))
    assert run_worker(stop_when_idle=True) == 1
    item = get_job(job_id).items[0]
    assert item["status"] == "completed" and item["error"] is None, item
    return sky, data_id


def test_the_worker_stores_each_sources_spectrum_with_calibrated_indices(measured):
    sky, data_id = measured
    indices = product_spectral_indices(data_id)
    assert len(indices) == len(sky)
    by_id = {int(r["source_id"]): r for r in indices}
    checked = 0
    for truth in sky:
        spectrum = source_spectrum(_source_id(truth["name"]), data_id=data_id)
        row = by_id[_source_id(truth["name"])]
        assert spectrum.meta["alpha"] == row["alpha"] or (
            math.isnan(spectrum.meta["alpha"]) and math.isnan(row["alpha"])
        )
        assert int(spectrum["last_subband"][-1] - spectrum["first_subband"][0]) + 1 <= 16
        if truth["name"].startswith("b"):
            snr = row["ref_flux_jy"] / row["ref_flux_err_jy"]
            assert snr > 50 and row["n_bins"] == 16 and not row["upper_limit"]
            assert abs(row["alpha"] - truth["alpha"]) < 3 * row["alpha_err"], dict(row)
            assert row["alpha_err"] < 1.3 * alpha_error_limit(snr, FREQ)
            checked += 1
    assert checked == 8

    whole = source_spectrum(_source_id("whole"), data_id=data_id)
    assert 1 <= len(whole) <= 2 and not whole["upper_limit"].any()
    assert whole["first_subband"][0] == 0 and whole["last_subband"][-1] == 15
    flux, err = np.asarray(whole["flux_jy"]), np.asarray(whole["flux_err_jy"])
    assert np.all(np.abs(flux - 7e-3) < 3 * err)

    none = source_spectrum(_source_id("none"), data_id=data_id)
    assert len(none) == 1 and bool(none["upper_limit"][0])
    assert math.isnan(none["flux_jy"][0]) and none["limit_jy"][0] > 4e-4
    assert none.meta["upper_limit"] and math.isnan(none.meta["alpha"])


def test_the_mfs_flux_agrees_with_the_spectrum(measured):
    sky, data_id = measured
    from dsa110_contimg.database.products import photometry_for_product

    mfs = {str(r["name"]): r for r in photometry_for_product(data_id)}
    for truth in sky[:8]:
        spectrum = source_spectrum(_source_id(truth["name"]), data_id=data_id).meta
        at_mfs = spectrum["ref_flux_jy"] * (MFS_FREQ / spectrum["ref_freq_hz"]) ** spectrum["alpha"]
        row = mfs[str(truth["name"])]
        assert abs(row["peak_jyb"] - at_mfs) < 3 * math.hypot(
            row["peak_err_jyb"], spectrum["ref_flux_err_jy"]
        )


def test_cli_shows_a_sources_spectrum_and_a_products_spectra(measured, tmp_path):
    sky, data_id = measured
    runner = CliRunner()
    result = runner.invoke(app, ["spectrum", "b2", "--plot", str(tmp_path / "b2.png")])
    assert result.exit_code == 0, result.output
    alpha, alpha_err = map(
        float, re.search(r"α = (-?[\d.]+) ± ([\d.]+)", " ".join(result.output.split())).groups()
    )
    assert abs(alpha + 1.4) < 3 * alpha_err
    assert (tmp_path / "b2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = runner.invoke(app, ["spectrum", "none"])
    assert result.exit_code == 0 and "upper limit only" in _text(result.output)
    result = runner.invoke(app, ["spectrum", "b2", "--over-time", "-o", str(tmp_path / "a.csv")])
    assert result.exit_code == 0 and "1 epochs with a spectrum" in _text(result.output)
    assert len(Table.read(tmp_path / "a.csv", format="ascii.csv")) == 1
    result = runner.invoke(app, ["spectrum", "b2", "--data-id", "no-such-product"])
    assert result.exit_code == 2
    assert "no sub-band spectrum of b2 on no-such-product" in _text(result.output)

    result = runner.invoke(app, ["data", "show", data_id, "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.output)["spectra"]
    assert summary["n_sources"] == len(sky) and summary["n_upper_limits"] == 1
    assert summary["n_alpha"] >= 8 and summary["target_snr"] == 5.0
    result = runner.invoke(app, ["data", "spectra", data_id])
    assert result.exit_code == 0
    assert len(Table.read(result.stdout, format="ascii.csv")) == len(sky)


def test_api_serves_spectra_and_spectral_indices_over_time(measured, isolated_settings):
    sky, data_id = measured
    with TestClient(create_app(isolated_settings)) as client:
        response = client.get("/api/sources/b0/spectrum", params={"data_id": data_id})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data_id"] == data_id and len(body["bins"]) == 16
        assert abs(body["fit"]["alpha"] + 0.9) < 3 * body["fit"]["alpha_err"]
        limit = client.get("/api/sources/none/spectrum").json()
        assert limit["fit"]["upper_limit"] and limit["fit"]["alpha"] is None
        assert limit["bins"][0]["flux_jy"] is None and limit["bins"][0]["limit_jy"] > 0
        assert (
            client.get(
                "/api/sources/b0/spectrum", params={"data_id": "no-such-product"}
            ).status_code
            == 404
        )
        csv = client.get("/api/sources/b0/spectrum", params={"format": "csv"})
        assert csv.status_code == 200 and len(Table.read(csv.text, format="ascii.csv")) == 16
        png = client.get("/api/sources/b0/spectrum.png")
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        history = client.get("/api/sources/b0/spectral-index").json()
        assert history["n_epochs"] == 1 and history["count"] == 1
        assert history["alpha"] == pytest.approx(body["fit"]["alpha"])
        assert history["data"][0]["data_id"] == data_id
    stored = source_spectral_indices(_source_id("b0"))
    assert list(stored["data_id"]) == [data_id]


def test_spectra_are_replaced_on_a_rerun_and_can_be_turned_off(measured):
    sky, data_id = measured
    before = product_spectral_indices(data_id)
    params = PhotometryParams(catalog="sim", adaptive={"target_snr": 50.0})
    create_batch_photometry_job([data_id], params=params)
    run_worker(stop_when_idle=True)
    after = product_spectral_indices(data_id)
    assert len(after) == len(before) and np.all(after["target_snr"] == 50.0)
    b6 = source_spectrum(_source_id("b6"), data_id=data_id)
    assert 1 < len(b6) < 16  # S/N ≈ 130 in all: a few bins of S/N 50

    create_batch_photometry_job(
        [data_id],
        params=PhotometryParams(catalog="sim", normalize=False, adaptive={"enabled": False}),
    )
    run_worker(stop_when_idle=True)
    assert np.all(product_spectral_indices(data_id)["target_snr"] == 50.0)  # untouched


def test_a_missing_subband_image_keeps_the_photometry_and_says_why(
    observation, tmp_path, isolated_settings
):
    sky, mfs, subbands = observation
    upgrade()
    catalogue = tmp_path / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": 1e3 * sky["s0"],
        }
    ).write(catalogue, format="ascii.csv")
    ingest_catalog(catalogue, "sim")
    missing = str(tmp_path / "gone-0003-image.fits")
    data_id = register_data(
        mfs, metadata={"subband_images": [*subbands[:3], missing, *subbands[4:]]}
    )
    job_id = create_batch_photometry_job([data_id], params=PhotometryParams(catalog="sim"))
    run_worker(stop_when_idle=True)
    item = get_job(job_id).items[0]
    assert item["status"] == "completed"
    assert item["error"].startswith("sub-band spectra not measured: ")
    assert "gone-0003-image.fits" in item["error"]
    assert photometry_count(data_id) == len(sky)
    assert len(product_spectral_indices(data_id)) == 0


def test_light_curves_binned_to_a_target_snr(tmp_path, isolated_settings):
    """Three epochs of a field: with ``bin_snr`` at 90 % of a source's S/N over all epochs
    (more than any one or two epochs reach) the API merges its light curve into one point
    spanning all three at the weighted mean flux; above the total S/N, one upper limit."""
    from api_support import api_env

    url = f"sqlite:///{tmp_path / 'products.db'}"
    upgrade(url)
    with api_env(tmp_path, url, n_images=3) as env:
        assert (
            env.client.post(
                "/api/batch/photometry", json={"images": [str(p) for p in env.images]}
            ).status_code
            == 201
        )
        run_worker(stop_when_idle=True, url=url)
        name = str(env.sky["name"][int(np.argmin(env.sky["flux_jy"]))])
        raw = env.client.get(f"/api/sources/{name}/lightcurve").json()
        assert raw["count"] == 3
        flux_key = "peak_norm_jyb" if raw["data"][0]["peak_norm_jyb"] else "peak_jyb"
        err_key = flux_key.replace("_jyb", "_err_jyb")
        flux = np.array([p[flux_key] for p in raw["data"]])
        w = 1 / np.array([p[err_key] for p in raw["data"]]) ** 2
        mean = float(np.sum(w * flux) / w.sum())
        total_snr = mean * float(np.sqrt(w.sum()))

        binned = env.client.get(
            f"/api/sources/{name}/lightcurve", params={"bin_snr": 0.9 * total_snr}
        ).json()
        assert binned["count"] == 1
        assert binned["flux"] == ("peak" if flux_key == "peak_jyb" else "normalized_flux")
        (point,) = binned["data"]
        mjds = [p["mjd_mid"] for p in raw["data"]]
        assert (point["n_epochs"], point["mjd_first"], point["mjd_last"]) == (
            3,
            min(mjds),
            max(mjds),
        )
        assert not point["upper_limit"] and point["flux_jy"] == pytest.approx(mean, rel=1e-9)
        assert point["snr"] == pytest.approx(total_snr, rel=1e-9)

        (limit,) = env.client.get(
            f"/api/sources/{name}/lightcurve", params={"bin_snr": 2 * total_snr}
        ).json()["data"]
        assert limit["upper_limit"] and limit["flux_jy"] is None
        assert limit["limit_jy"] == pytest.approx(mean + 3 / np.sqrt(w.sum()), rel=1e-9)
        assert (
            env.client.get(f"/api/sources/{name}/lightcurve", params={"bin_snr": 0}).status_code
            == 422
        )


def _text(output: str) -> str:
    """Console output with Rich's line wrapping undone."""
    return " ".join(output.split())


def _source_id(name: str) -> int:
    from dsa110_contimg.catalog.sources import resolve_source

    return resolve_source(name)[0]
