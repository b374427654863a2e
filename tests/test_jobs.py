"""Batch photometry jobs: every item ends, bad inputs fail with reasons, crashes lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from astropy.io import fits
from astropy.table import Table
from sqlalchemy import func, select
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.query import cone_search
from dsa110_contimg.cli import app
from dsa110_contimg.config import JobSettings
from dsa110_contimg.data_roots import PathOutsideRootsError
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.models import BatchJobItem, Photometry
from dsa110_contimg.database.registry import (
    UnknownDataError,
    get_photometry_status,
    register_data,
)
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.imaging.fits_io import ImageReadError
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.executor import run_job
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import cancel_job, create_batch_photometry_job, get_job
from dsa110_contimg.jobs.worker import _Heartbeat, claim_item, run_worker

RA0, DEC0 = 150.0, 37.2
PARAMS = PhotometryParams(catalog="sim")


def _images(tmp_path, url: str, n: int) -> list:
    sky = make_sky(RA0, DEC0, 0.2, seed=9, n_sources=30, min_flux_jy=0.02, max_flux_jy=0.2)
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    catalogue = tmp_path / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(catalogue, format="ascii.csv", overwrite=True)
    ingest_catalog(catalogue, "sim", url=url)
    return [
        simulate_image(
            tmp_path / f"img{k:02d}-image-pb.fits",
            sky,
            center_ra_deg=RA0,
            center_dec_deg=DEC0,
            npix=400,
            pb=None,
            seed=k,
            date_obs=f"2026-05-01T{k // 12:02d}:{5 * (k % 12):02d}:00",
        ).path
        for k in range(n)
    ]


def _rows(url: str) -> tuple[int, int]:
    with session_scope(url) as session:
        total = session.scalar(select(func.count()).select_from(Photometry))
        distinct = session.scalar(
            select(func.count()).select_from(
                select(Photometry.product_id, Photometry.source_id).distinct().subquery()
            )
        )
    return total, distinct


def test_job_runs_every_item_to_completion(tmp_path, db_url):
    paths = _images(tmp_path, db_url, 4)
    job_id = create_batch_photometry_job(paths, params=PARAMS, url=db_url)
    assert create_batch_photometry_job(paths, params=PARAMS, url=db_url) == job_id  # idempotent
    assert get_job(job_id, url=db_url).status == "pending"
    settings = JobSettings(lease_s=30)
    assert run_worker(stop_when_idle=True, settings=settings, url=db_url) == 4
    job = get_job(job_id, url=db_url)
    assert (job.status, job.n_completed, job.n_failed, job.n_pending) == ("completed", 4, 0, 0)
    for item in job.items:
        status = get_photometry_status(item["data_id"], url=db_url)
        assert status.status == "completed" and status.n_measured == item["n_measured"] > 5
    total, distinct = _rows(db_url)
    assert total == distinct == sum(i["n_measured"] + i["n_failed"] for i in job.items)
    # A new request after completion queues a new job (reprocessing).
    assert create_batch_photometry_job(paths[:1], params=PARAMS, url=db_url) != job_id


def test_bad_items_fail_with_reasons_and_others_complete(tmp_path, sqlite_url):
    paths = _images(tmp_path, sqlite_url, 5)
    for path in paths:
        register_data(path, url=sqlite_url)
    paths[1].write_bytes(b"SIMPLE  = T" + b"\0" * 100)  # corrupt
    paths[2].unlink()  # missing
    with fits.open(paths[3], mode="update") as hdul:  # beam keywords lost
        for key in ("BMAJ", "BMIN", "BPA"):
            del hdul[0].header[key]
    job_id = create_batch_photometry_job(paths, params=PARAMS, url=sqlite_url)
    run_worker(stop_when_idle=True, settings=JobSettings(), url=sqlite_url)
    job = get_job(job_id, url=sqlite_url)
    assert (job.status, job.n_completed, job.n_failed) == ("completed_with_errors", 2, 3)
    errors = {i["data_id"]: i["error"] for i in job.items}
    reasons = [get_photometry_status(i["data_id"], url=sqlite_url).error for i in job.items]
    assert "not a readable FITS image" in reasons[1]
    assert "no such file" in reasons[2]
    assert "no restoring beam" in reasons[3]
    assert reasons[0] is None and reasons[4] is None
    assert errors == {i["data_id"]: r for i, r in zip(job.items, reasons)}
    with session_scope(sqlite_url) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(BatchJobItem)
                .where(BatchJobItem.status == "running")
            )
            == 0
        )


def test_dask_local_cluster_gives_identical_rows(tmp_path, sqlite_url):
    paths = _images(tmp_path, sqlite_url, 3)
    local_job = create_batch_photometry_job(paths, params=PARAMS, url=sqlite_url)
    run_worker(stop_when_idle=True, url=sqlite_url)
    with session_scope(sqlite_url) as session:
        local = sorted(
            session.execute(
                select(Photometry.product_id, Photometry.source_id, Photometry.peak_jyb)
            ).all()
        )
        session.execute(Photometry.__table__.delete())
    dask_job = create_batch_photometry_job(paths, params=PARAMS, url=sqlite_url)
    assert dask_job != local_job
    outcomes = run_job(dask_job, executor="dask", workers=2, url=sqlite_url)
    assert sorted(o.status for o in outcomes) == ["completed"] * 3
    with session_scope(sqlite_url) as session:
        remote = sorted(
            session.execute(
                select(Photometry.product_id, Photometry.source_id, Photometry.peak_jyb)
            ).all()
        )
    assert remote == local
    assert get_job(dask_job, url=sqlite_url).status == "completed"


def test_killed_worker_loses_nothing(tmp_path, sqlite_url):
    """SIGKILL a worker mid-job; a second worker re-claims its item after the lease expires."""
    paths = _images(tmp_path, sqlite_url, 8)
    job_id = create_batch_photometry_job(paths, params=PARAMS, url=sqlite_url)
    env = {**os.environ, "CONTIMG_DATABASE_URL": sqlite_url, "CONTIMG_JOBS__LEASE_S": "3"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "dsa110_contimg.cli", "worker", "--once"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while time.time() < deadline and get_job(job_id, url=sqlite_url).n_completed < 2:
        time.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = get_job(job_id, url=sqlite_url)
    assert 2 <= before.n_completed < 8, "the worker should have been killed mid-job"
    time.sleep(3.5)  # let the dead worker's lease expire
    run_worker(stop_when_idle=True, settings=JobSettings(lease_s=30), url=sqlite_url)
    job = get_job(job_id, url=sqlite_url)
    assert (job.status, job.n_completed, job.n_failed) == ("completed", 8, 0)
    total, distinct = _rows(sqlite_url)
    assert total == distinct == sum(i["n_measured"] + i["n_failed"] for i in job.items)


def test_cancel_fails_pending_items_with_a_reason(tmp_path, sqlite_url):
    paths = _images(tmp_path, sqlite_url, 2)
    job_id = create_batch_photometry_job(paths, params=PARAMS, url=sqlite_url)
    job = cancel_job(job_id, url=sqlite_url)
    assert job.status == "cancelled"
    assert {i["status"] for i in job.items} == {"cancelled"}
    assert run_worker(stop_when_idle=True, url=sqlite_url) == 0
    status = get_photometry_status(job.items[0]["data_id"], url=sqlite_url)
    assert status.status == "failed" and "cancelled" in status.error


def test_explicit_source_list(tmp_path, sqlite_url):
    paths = _images(tmp_path, sqlite_url, 1)
    ids = [int(v) for v in cone_search("sim", RA0, DEC0, 0.1, url=sqlite_url)["source_id"][:3]]
    job_id = create_batch_photometry_job(paths, params=PARAMS, source_ids=ids, url=sqlite_url)
    run_worker(stop_when_idle=True, url=sqlite_url)
    job = get_job(job_id, url=sqlite_url)
    assert job.status == "completed"
    with session_scope(sqlite_url) as session:
        stored = sorted(session.scalars(select(Photometry.source_id)).all())
    assert stored == sorted(ids)


@pytest.mark.parametrize("product", ["image-nothing-here", "/no/such/file.fits"])
def test_unknown_products_are_refused(sqlite_url, product):
    with pytest.raises((UnknownDataError, ImageReadError, PathOutsideRootsError)):
        create_batch_photometry_job([product], params=PARAMS, url=sqlite_url)


def test_reprocess_queues_products_in_a_time_range(tmp_path, isolated_settings):
    url = isolated_settings.database_url
    upgrade(url)
    paths = _images(tmp_path, url, 3)
    for path in paths:
        register_data(path, url=url)
    runner = CliRunner()
    # img00/01/02 were observed at 00:00, 00:05 and 00:10 on 2026-05-01 (MJD 61161).
    out = runner.invoke(
        app,
        [
            "photometry",
            "reprocess",
            "--since",
            "61161.0",
            "--until",
            "61161.006",
            "--catalog",
            "sim",
        ],
    )
    assert out.exit_code == 0, out.output
    job = get_job(1, url=url)
    assert (job.status, job.n_items) == ("completed", 2)
    out = runner.invoke(app, ["photometry", "reprocess", "--since", "50000", "--until", "50001"])
    assert out.exit_code == 1 and "no products" in out.output
    out = runner.invoke(app, ["jobs", "show", "1", "--json"])
    assert out.exit_code == 0 and '"status": "completed"' in out.output


def test_heartbeat_keeps_a_long_item_leased(tmp_path, sqlite_url):
    paths = _images(tmp_path, sqlite_url, 1)
    create_batch_photometry_job(paths, params=PARAMS, url=sqlite_url)
    settings = JobSettings(lease_s=0.6)
    item_id = claim_item("w1", settings=settings, url=sqlite_url)
    with _Heartbeat(item_id, "w1", settings.lease_s, sqlite_url):
        time.sleep(1.5)  # more than two leases
        assert claim_item("w2", settings=settings, url=sqlite_url) is None
    time.sleep(0.8)
    assert claim_item("w2", settings=settings, url=sqlite_url) == item_id


def test_sigterm_stops_the_worker_after_its_current_item(tmp_path, sqlite_url):
    paths = _images(tmp_path, sqlite_url, 6)
    job_id = create_batch_photometry_job(paths, params=PARAMS, url=sqlite_url)
    env = {**os.environ, "CONTIMG_DATABASE_URL": sqlite_url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "dsa110_contimg.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while time.time() < deadline and get_job(job_id, url=sqlite_url).n_completed < 1:
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    job = get_job(job_id, url=sqlite_url)
    assert all(item["status"] in ("completed", "pending") for item in job.items)
    assert 1 <= job.n_completed < 6


def test_cli_submit_worker_and_show(tmp_path, isolated_settings):
    url = isolated_settings.database_url
    upgrade(url)
    paths = _images(tmp_path, url, 2)
    runner = CliRunner()
    out = runner.invoke(app, ["jobs", "submit", *map(str, paths), "--catalog", "sim"])
    assert out.exit_code == 0, out.output
    job_id = int(out.stdout.strip())
    assert runner.invoke(app, ["worker", "--once"]).exit_code == 0
    out = runner.invoke(app, ["jobs", "show", str(job_id), "--json"])
    assert '"status": "completed"' in out.output
    out = runner.invoke(app, ["jobs", "submit", "image-unknown"])
    assert out.exit_code == 2 and "neither a FITS file nor a registered data_id" in out.output
    assert runner.invoke(app, ["jobs", "show", "999"]).exit_code == 2
