"""The reconciliation sweep: missing, failed (once fixed), stale and stuck photometry is queued
again and ends completed; nothing else is touched."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from astropy.table import Table
from sqlalchemy import update
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.config import get_settings
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.models import DataRegistry
from dsa110_contimg.database.registry import get_photometry_status, register_data
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.reconcile import PeriodicSweep, reconcile
from dsa110_contimg.jobs.triggers import trigger_photometry_for_image
from dsa110_contimg.jobs.worker import run_worker

RA0, DEC0 = 210.0, 37.2
PARAMS = PhotometryParams(catalog="recon-sky")


@pytest.fixture
def sky(tmp_path: Path) -> Table:
    sky = make_sky(RA0, DEC0, 0.2, seed=3, min_flux_jy=5e-3, n_sources=150)
    sky.write(
        tmp_path / "sky.csv",
        format="ascii.csv",
        include_names=["name", "ra_deg", "dec_deg", "flux_jy"],
    )
    return sky


def _ingest(tmp_path: Path, url: str) -> None:
    table = Table.read(tmp_path / "sky.csv", format="ascii.csv")
    table["flux_mjy"] = table["flux_jy"] * 1e3
    table.remove_column("flux_jy")
    table.write(tmp_path / "sky-mjy.csv", format="ascii.csv", overwrite=True)
    ingest_catalog(tmp_path / "sky-mjy.csv", "recon-sky", url=url)


def _image(path: Path, sky: Table, seed: int = 0) -> Path:
    simulate_image(
        path,
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=200,
        noise_jy=1e-3,
        pb_corrected=True,
        seed=seed,
        date_obs=f"2026-11-24T07:{seed:02d}:00",
    )
    return path


def test_failed_photometry_shows_its_reason_and_is_requeued_once_the_cause_is_fixed(
    tmp_path, sky, db_url
):
    image = _image(tmp_path / "a-image-pb.fits", sky)
    job = trigger_photometry_for_image(image, params=PARAMS, url=db_url)
    assert job > 0
    run_worker(stop_when_idle=True, url=db_url)
    data_id = register_data(image, url=db_url)
    status = get_photometry_status(data_id, url=db_url)
    assert status.status == "failed"
    assert "recon-sky" in status.error  # the catalogue is not ingested yet

    # Periodic sweeps leave it alone while nothing changed…
    assert reconcile(params=PARAMS, retry_failed="changed", url=db_url).queued == []
    # …and queue it once the cause is fixed (the catalogue arrives).
    time.sleep(0.01)
    _ingest(tmp_path, db_url)
    report = reconcile(params=PARAMS, retry_failed="changed", url=db_url)
    assert report.failed == [data_id] and report.job_id is not None
    run_worker(stop_when_idle=True, url=db_url)
    status = get_photometry_status(data_id, url=db_url)
    assert status.status == "completed" and status.error is None and status.n_measured > 5


def test_missing_stale_and_stuck_are_queued_and_completed(tmp_path, sky, db_url):
    _ingest(tmp_path, db_url)
    never = register_data(_image(tmp_path / "never-image-pb.fits", sky, 1), url=db_url)
    done = _image(tmp_path / "done-image-pb.fits", sky, 2)
    trigger_photometry_for_image(done, params=PARAMS, url=db_url)
    stuck = _image(tmp_path / "stuck-image-pb.fits", sky, 3)
    trigger_photometry_for_image(stuck, params=PARAMS, url=db_url)
    run_worker(stop_when_idle=True, url=db_url)
    done_id, stuck_id = (register_data(p, url=db_url) for p in (done, stuck))
    with session_scope(db_url) as session:  # a status whose job item is gone
        session.execute(
            update(DataRegistry)
            .where(DataRegistry.data_id == stuck_id)
            .values(photometry_status="running")
        )

    dry = reconcile(params=PARAMS, dry_run=True, url=db_url)
    assert (dry.missing, dry.stuck, dry.stale, dry.job_id) == ([never], [stuck_id], [], None)
    report = reconcile(params=PARAMS, url=db_url)
    assert (report.missing, report.stuck, report.stale) == ([never], [stuck_id], [])
    run_worker(stop_when_idle=True, url=db_url)
    for data_id in (never, done_id, stuck_id):
        assert get_photometry_status(data_id, url=db_url).status == "completed"
    assert reconcile(params=PARAMS, url=db_url).queued == []

    changed = PARAMS.model_copy(update={"radius_deg": 0.05})
    report = reconcile(params=changed, url=db_url)
    assert sorted(report.stale) == sorted([never, done_id, stuck_id])
    run_worker(stop_when_idle=True, url=db_url)
    assert reconcile(params=changed, url=db_url).queued == []


def test_replaced_file_is_retried_and_cli_reports(tmp_path, sky, isolated_settings, monkeypatch):
    url = isolated_settings.database_url
    upgrade(url)
    _ingest(tmp_path, url)
    good = _image(tmp_path / "good.fits", sky, 4)
    path = tmp_path / "b-image-pb.fits"
    shutil.copy(good, path)
    data_id = register_data(path, url=url)
    with open(path, "r+b") as handle:  # the file is damaged after registration
        handle.truncate(5000)
    trigger_photometry_for_image(path, params=PARAMS, url=url)
    run_worker(stop_when_idle=True, url=url)
    assert get_photometry_status(data_id, url=url).status == "failed"

    runner = CliRunner()
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__CATALOG", "recon-sky")
    get_settings.cache_clear()
    result = runner.invoke(app, ["reconcile", "--retry-failed", "changed", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["failed"] == []
    shutil.copy(good, path)  # repaired: newer than the failure
    os.utime(path, (time.time() + 1, time.time() + 1))
    result = runner.invoke(app, ["reconcile", "--retry-failed", "changed", "--json"])
    assert json.loads(result.stdout)["failed"] == [data_id]
    run_worker(stop_when_idle=True, url=url)
    assert get_photometry_status(data_id, url=url).status == "completed"


def test_periodic_sweep_runs_at_most_once_per_interval(tmp_path, sky, sqlite_url):
    _ingest(tmp_path, sqlite_url)
    data_id = register_data(_image(tmp_path / "p-image-pb.fits", sky, 5), url=sqlite_url)
    sweep = PeriodicSweep(3600.0, url=sqlite_url)
    first = sweep()
    assert first is not None and first.missing == [data_id]
    assert sweep() is None  # within the interval
    assert PeriodicSweep(0.0, url=sqlite_url)().queued == []  # already queued, not stuck
