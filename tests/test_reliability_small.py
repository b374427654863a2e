"""Small findings: cancelled jobs show no pending items, `jobs submit` queues the good files and
names the refused ones, error responses name paths relative to the data root."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dsa110_contimg.api.app import create_app
from dsa110_contimg.cli import app
from dsa110_contimg.config import Settings
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.service import get_job, list_jobs


def _images(directory, n: int) -> list:
    sky = make_sky(150.0, 37.2, 0.05, seed=5, n_sources=4)
    return [
        simulate_image(
            directory / f"img{k}-image-pb.fits",
            sky,
            center_ra_deg=150.0,
            center_dec_deg=37.2,
            npix=128,
            pb=None,
            seed=k,
            date_obs=f"2026-05-01T00:0{k}:00",
        ).path
        for k in range(n)
    ]


def test_submit_queues_good_files_and_names_the_refused_ones(tmp_path):
    good, other, corrupt = _images(tmp_path, 3)
    corrupt.write_bytes(b"SIMPLE  = T" + b"\0" * 100)
    runner = CliRunner()
    result = runner.invoke(app, ["jobs", "submit", str(good), str(corrupt), str(other)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert f"refused {corrupt}" in output and "not a readable FITS image" in output
    assert "2 product(s) queued in job 1, 1 refused" in output
    assert get_job(1).n_items == 2
    only_bad = runner.invoke(app, ["jobs", "submit", str(corrupt)])
    assert only_bad.exit_code == 2 and "nothing to queue" in only_bad.output
    assert [job.id for job in list_jobs()] == [1]


def test_cancelled_job_shows_its_items_cancelled_not_pending(tmp_path):
    runner = CliRunner()
    submitted = runner.invoke(app, ["jobs", "submit", *map(str, _images(tmp_path, 3))])
    assert submitted.exit_code == 0
    assert runner.invoke(app, ["jobs", "cancel", "1"]).exit_code == 0
    shown = " ".join(runner.invoke(app, ["jobs", "show", "1"]).output.split())
    assert "job 1: cancelled, 0 completed, 0 failed, 3 cancelled, 0 pending of 3" in shown
    assert list_jobs()[0].n_pending == 0


def test_error_responses_name_paths_relative_to_the_data_root(tmp_path, sqlite_url):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "images" / "broken-image-pb.fits").write_bytes(b"SIMPLE  = T" + b"\0" * 100)
    settings = Settings(state_dir=tmp_path / "state", database_url=sqlite_url, data_roots=[data])
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/api/photometry/measure",
            json={"image": "images/broken-image-pb.fits", "ra_deg": 150.0, "dec_deg": 37.2},
        )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("images/broken-image-pb.fits: not a readable FITS image")
    assert str(tmp_path) not in response.text
