"""Bounded work: nonsensical beams are refused with a reason by the engine, the CLI, the worker
and the API; request bodies are limited (413); a body that is not JSON gets 400."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from reliability_support import DEC0, RA0, field_image, measurement_client
from typer.testing import CliRunner

from dsa110_contimg.cli import app
from dsa110_contimg.imaging.fits_io import Beam, BeamSizeError, load_image
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job
from dsa110_contimg.jobs.worker import run_worker
from dsa110_contimg.photometry.forced import measure_in_chunks, measure_many


@pytest.fixture
def image(tmp_path):
    """A 160² image of 2″ pixels (58″ × 18″ beam) under ``<tmp>/data``."""
    return field_image(tmp_path, npix=160, radius_deg=0.05, n_sources=4, sky_seed=6, noise_seed=2)


def _set_beam(path, bmaj_deg: float, bmin_deg: float) -> None:
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["BMAJ"], hdul[0].header["BMIN"] = bmaj_deg, bmin_deg


@pytest.mark.parametrize(
    ("beam", "reason"),
    [
        (
            Beam(50 * 3600.0, 10.0, 0.0),
            "major axis is 9e+04 pixels, more than 0.25 of the image's 160-pixel side",
        ),
        (
            Beam(0.001, 0.001, 0.0),
            "minor axis is 0.0005 pixels of 2″, below the minimum of 0.5 pixel",
        ),
    ],
)
def test_engine_refuses_a_beam_that_makes_no_sense(image, beam, reason):
    with pytest.raises(BeamSizeError, match="makes no sense for this image") as raised:
        measure_many(load_image(image), [RA0], [DEC0], beam=beam)
    assert reason in str(raised.value)


def test_cli_and_worker_refuse_a_header_beam_of_50_degrees(image, tmp_path, sqlite_url):
    job_id = create_batch_photometry_job(
        [image], params=PhotometryParams(catalog="none"), url=sqlite_url
    )
    _set_beam(image, 50.0, 40.0)  # the header changed after registration
    positions = tmp_path / "targets.csv"
    Table({"ra_deg": [RA0], "dec_deg": [DEC0]}).write(positions, format="ascii.csv")
    result = CliRunner().invoke(
        app, ["photometry", "measure", str(image), "--positions", str(positions)]
    )
    assert result.exit_code == 2
    assert "makes no sense for this image: its major axis is 9e+04 pixels" in " ".join(
        result.output.split()
    )
    run_worker(stop_when_idle=True, url=sqlite_url)
    item = get_job(job_id, url=sqlite_url).items[0]
    assert item["status"] == "failed" and item["attempts"] == 1
    assert "BeamSizeError" in item["error"] and "makes no sense" in item["error"]


def test_api_refuses_beams_and_large_or_malformed_bodies(image, tmp_path, sqlite_url):
    body = {"image": image.name, "ra_deg": RA0, "dec_deg": DEC0}
    with measurement_client(tmp_path, sqlite_url, max_body_bytes=4096) as client:
        for beam in (
            {"major_arcsec": 36000, "minor_arcsec": 100, "pa_deg": 0},
            {"major_arcsec": 0.001, "minor_arcsec": 0.001, "pa_deg": 0},
        ):
            response = client.post("/api/photometry/measure", json={**body, "beam": beam})
            assert response.status_code == 422, response.text
            assert "makes no sense for this image" in response.json()["detail"]
        assert client.post("/api/photometry/measure", json=body).status_code == 200
        positions = [{"ra_deg": RA0, "dec_deg": DEC0}] * 200  # ~6 kB of JSON
        large = client.post(
            "/api/photometry/measure-batch", json={"image": image.name, "positions": positions}
        )
        assert large.status_code == 413
        assert "at most 4096 bytes (api.max_body_bytes)" in large.json()["detail"]
        encoded = json.dumps({"image": image.name, "positions": positions}).encode()
        chunked = client.post(
            "/api/photometry/measure-batch",  # no Content-Length
            content=(encoded[i : i + 1000] for i in range(0, len(encoded), 1000)),
            headers={"Content-Type": "application/json"},
        )
        assert chunked.status_code == 413
        malformed = client.post(
            "/api/photometry/measure",
            content=b'{"image": ',
            headers={"Content-Type": "application/json"},
        )
        assert malformed.status_code == 400
        assert malformed.json()["detail"].startswith("request body is not JSON")
        documented = client.get("/openapi.json").json()["paths"]
    assert "413" in documented["/api/photometry/measure-batch"]["post"]["responses"]


def test_positions_measured_in_chunks_match_one_pass(tmp_path):
    """Bands of 7 targets, blends across band edges fitted with their neighbours."""
    sky = make_sky(RA0, DEC0, 0.09, seed=8, n_sources=40, min_flux_jy=0.05, max_flux_jy=0.5)
    path = simulate_image(
        tmp_path / "chunks-image-pb.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=400,
        pb=None,
        seed=3,
        date_obs="2026-05-01T00:00:00",
    ).path
    image = load_image(path)
    names = list(sky["name"])
    whole = measure_many(image, sky["ra_deg"], sky["dec_deg"], names=names)
    chunked = measure_in_chunks(image, sky["ra_deg"], sky["dec_deg"], names=names, chunk_size=7)
    assert chunked.meta["n_chunks"] == 6
    assert list(chunked["name"]) == names  # input order
    measured = np.isfinite(whole["peak_jyb"])
    assert measured.sum() > 20
    assert np.array_equal(np.isfinite(chunked["peak_jyb"]), measured)
    pull = (chunked["peak_jyb"] - whole["peak_jyb"])[measured] / whole["peak_err_jyb"][measured]
    assert np.max(np.abs(pull)) < 0.3
    assert (whole["group_size"] > 1).any()  # there were blends to keep together
