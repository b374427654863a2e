"""A Dask cluster started as a user would (``dask scheduler``, ``dask worker`` processes) with
PostgreSQL: identical rows to the local pool, a killed worker loses and duplicates nothing, the
local pool takes over from a killed scheduler, and live images are measured before the rest of a
running reprocess; ``contimg worker --dask`` against such a cluster, rows reaching PostgreSQL by
COPY."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.table import Table
from sqlalchemy import event, func, select

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.config import get_settings
from dsa110_contimg.database.models import BatchJob, BatchJobItem, Photometry
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.executor import run_job
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.reprocess import reprocess_range
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job
from dsa110_contimg.jobs.triggers import trigger_photometry_for_image
from dsa110_contimg.jobs.worker import run_worker

RA0, DEC0 = 150.0, 37.2
PARAMS = PhotometryParams(catalog="sim", normalize=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def dask_cluster(n_workers: int, logs: Path):
    """``dask scheduler`` and ``n_workers`` single-threaded ``dask worker`` processes on
    127.0.0.1 (no nanny: the worker is the process, so SIGKILL kills it); yields the scheduler
    address, the worker processes and the scheduler process, and stops them all however the
    test ends."""
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    processes = []

    def start(*args: str, name: str) -> subprocess.Popen:
        with open(logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen([dask, *args], stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    try:
        scheduler = start(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            address.rsplit(":", 1)[1],
            "--dashboard-address",
            f"127.0.0.1:{_free_port()}",
            name="scheduler",
        )
        workers = [
            start(
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                f"w{i}",
                name=f"worker{i}",
            )
            for i in range(n_workers)
        ]
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(n_workers, timeout=60)
        yield address, workers, scheduler
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _images(tmp_path: Path, url: str, n: int, *, npix: int = 256) -> list[Path]:
    sky = make_sky(RA0, DEC0, 0.12, seed=9, n_sources=15, min_flux_jy=0.05, max_flux_jy=0.2)
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
    masters = [
        simulate_image(
            tmp_path / f"master{k}.fits",
            sky,
            center_ra_deg=RA0,
            center_dec_deg=DEC0,
            npix=npix,
            pb=None,
            seed=k,
        ).path
        for k in range(min(n, 4))
    ]
    paths = []
    for k in range(n):  # copies of a few simulated images, observed 5 minutes apart
        path = tmp_path / f"img{k:03d}-image-pb.fits"
        shutil.copy(masters[k % len(masters)], path)
        with fits.open(path, mode="update") as hdul:
            hdul[0].header["DATE-OBS"] = (
                f"2026-05-{1 + k // 288:02d}T{k % 288 // 12:02d}:{5 * (k % 12):02d}:00"
            )
        paths.append(path)
    return paths


def _rows(url: str) -> list[tuple]:
    with session_scope(url) as session:
        return sorted(
            session.execute(
                select(
                    Photometry.product_id,
                    Photometry.source_id,
                    Photometry.peak_jyb,
                    Photometry.peak_err_jyb,
                    Photometry.flags,
                )
            ).all()
        )


def _running(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(
            select(func.count()).select_from(BatchJobItem).where(BatchJobItem.status == "running")
        )


def _settings(monkeypatch, **jobs) -> None:
    for key, value in jobs.items():
        monkeypatch.setenv(f"CONTIMG_JOBS__{key.upper()}", str(value))
    get_settings.cache_clear()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh PostgreSQL database cloned from the server's migrated template."""
    import uuid

    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.session import get_engine

    name = f"test_{uuid.uuid4().hex[:12]}"
    postgres_server.psql(f"CREATE DATABASE {name} TEMPLATE contimg_template;")
    url = postgres_server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)
    upgrade(url)
    yield url
    get_engine(url).dispose()


def test_separate_cluster_rows_identical_to_local_pool(tmp_path, postgres_url, monkeypatch):
    _settings(monkeypatch, poll_s=0.2)
    paths = _images(tmp_path, postgres_url, 20)
    local_job = create_batch_photometry_job(paths, params=PARAMS, url=postgres_url)
    run_job(local_job, executor="local", workers=2, url=postgres_url)
    local = _rows(postgres_url)
    with session_scope(postgres_url) as session:
        session.execute(Photometry.__table__.delete())
    with dask_cluster(2, tmp_path) as (address, _workers, _scheduler):
        dask_job = create_batch_photometry_job(paths, params=PARAMS, url=postgres_url)
        outcomes = run_job(dask_job, executor="dask", scheduler=address, url=postgres_url)
    assert len(outcomes) == 20 and {o.status for o in outcomes} == {"completed"}
    assert get_job(dask_job, url=postgres_url).status == "completed"
    assert len(local) == sum(o.n_measured + o.n_failed for o in outcomes) > 20 * 5
    assert _rows(postgres_url) == local


def test_sigkill_of_a_dask_worker_loses_and_duplicates_nothing(tmp_path, postgres_url, monkeypatch):
    _settings(monkeypatch, poll_s=0.2, lease_s=3)
    paths = _images(tmp_path, postgres_url, 12, npix=512)
    job_id = create_batch_photometry_job(paths, params=PARAMS, url=postgres_url)
    with dask_cluster(2, tmp_path) as (address, workers, _scheduler):
        victim = workers[0]
        killed = {}

        def kill_mid_item() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with session_scope(postgres_url) as session:
                    item = session.scalar(
                        select(BatchJobItem.id).where(
                            BatchJobItem.status == "running",
                            BatchJobItem.lease_owner.like(f"%:{victim.pid}"),
                        )
                    )
                if item is not None:
                    os.kill(victim.pid, signal.SIGKILL)
                    killed["item"] = item
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_mid_item)
        killer.start()
        run_job(job_id, executor="dask", scheduler=address, url=postgres_url)
        killer.join()
    assert "item" in killed
    job = get_job(job_id, url=postgres_url)
    assert (job.status, job.n_completed, job.n_failed) == ("completed", 12, 0)
    assert _running(postgres_url) == 0
    assert next(i for i in job.items if i["id"] == killed["item"])["attempts"] == 2
    with session_scope(postgres_url) as session:
        total = session.scalar(select(func.count()).select_from(Photometry))
        distinct = session.scalar(
            select(func.count()).select_from(
                select(Photometry.product_id, Photometry.source_id).distinct().subquery()
            )
        )
    assert total == distinct == sum(i["n_measured"] + i["n_failed"] for i in job.items)


def test_local_pool_takes_over_when_the_scheduler_is_killed(
    tmp_path, postgres_url, monkeypatch, caplog
):
    _settings(monkeypatch, poll_s=0.2, lease_s=3, dask_retry_s=120, workers=2)
    paths = _images(tmp_path, postgres_url, 12, npix=512)
    job_id = create_batch_photometry_job(paths, params=PARAMS, url=postgres_url)
    with dask_cluster(1, tmp_path) as (address, _workers, scheduler):
        killed = threading.Event()

        def kill_after_two_items() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _completed_items(postgres_url) < 2:
                time.sleep(0.02)
            os.kill(scheduler.pid, signal.SIGKILL)
            killed.set()

        killer = threading.Thread(target=kill_after_two_items)
        killer.start()
        with caplog.at_level(logging.WARNING, logger="dsa110_contimg.jobs.executor"):
            run_job(job_id, executor="dask", scheduler=address, url=postgres_url)
        killer.join()
    assert killed.is_set()
    assert any(
        "takes over" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )
    job = get_job(job_id, url=postgres_url)
    assert (job.status, job.n_completed, job.n_failed) == ("completed", 12, 0)
    assert _running(postgres_url) == 0
    with session_scope(postgres_url) as session:
        total = session.scalar(select(func.count()).select_from(Photometry))
        distinct = session.scalar(
            select(func.count()).select_from(
                select(Photometry.product_id, Photometry.source_id).distinct().subquery()
            )
        )
    assert total == distinct == sum(i["n_measured"] + i["n_failed"] for i in job.items)


def test_live_image_measured_before_a_running_reprocess_ends(tmp_path, postgres_url, monkeypatch):
    _settings(monkeypatch, poll_s=0.1)
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__CATALOG", "sim")
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__NORMALIZE", "false")
    get_settings.cache_clear()
    paths = _images(tmp_path, postgres_url, 202)
    archive, live = paths[:200], paths[200:]
    for path in archive:
        register_data(path, url=postgres_url)
    with dask_cluster(2, tmp_path) as (address, _workers, _scheduler):
        idle_job = trigger_photometry_for_image(live[0], url=postgres_url)
        run_job(idle_job, executor="dask", scheduler=address, url=postgres_url)
        idle = _latency_s(idle_job, postgres_url)
        registered = {}

        def register_live() -> None:
            while _completed_items(postgres_url) < 40:
                time.sleep(0.05)
            registered["job"] = trigger_photometry_for_image(live[1], url=postgres_url)

        thread = threading.Thread(target=register_live)
        thread.start()
        summary = reprocess_range(
            0.0, 1e6, params=PARAMS, chunk=50, executor="dask", scheduler=address, url=postgres_url
        )
        thread.join()
    assert summary.progress.completed == 200
    with session_scope(postgres_url) as session:
        reprocess_end = session.scalar(
            select(func.max(BatchJobItem.finished_at)).where(
                BatchJobItem.job_id.in_(summary.job_ids)
            )
        )
        items = session.execute(
            select(BatchJobItem.started_at, BatchJobItem.finished_at).where(
                BatchJobItem.job_id.in_(summary.job_ids)
            )
        ).all()
        live_end = session.scalar(
            select(BatchJobItem.finished_at).where(BatchJobItem.job_id == registered["job"])
        )
    item_s = max((i.finished_at - i.started_at).total_seconds() for i in items)
    latency = _latency_s(registered["job"], postgres_url)
    assert live_end < reprocess_end
    assert latency <= idle + item_s + 0.3, (latency, idle, item_s)


def _latency_s(job_id: int, url: str) -> float:
    """Queued → photometry committed, of a one-item job."""
    with session_scope(url) as session:
        job = session.get(BatchJob, job_id)
        return (job.finished_at - job.created_at).total_seconds()


def _completed_items(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(
            select(func.count()).select_from(BatchJobItem).where(BatchJobItem.status == "completed")
        )


def test_worker_command_serves_a_job_on_a_separate_cluster(tmp_path, postgres_url):
    """``contimg worker --dask tcp://…`` (the real command, its own process) dispatches a job
    to a separately started scheduler and its workers, and exits once the queue is empty."""
    paths = _images(tmp_path, postgres_url, 6)
    job_id = create_batch_photometry_job(paths, params=PARAMS, url=postgres_url)
    env = {**os.environ, "CONTIMG_DATABASE_URL": postgres_url, "CONTIMG_JOBS__POLL_S": "0.2"}
    with dask_cluster(2, tmp_path) as (address, _workers, _scheduler):
        command = subprocess.run(
            [sys.executable, "-m", "dsa110_contimg.cli", "worker", "--dask", address, "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        from distributed import Client

        with Client(address, timeout=60) as client:
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert command.returncode == 0, command.stdout + command.stderr
    assert "worker stopped after 6 item(s)" in command.stderr
    assert sum(executed.values()) >= 1  # the items were measured by the cluster's workers
    job = get_job(job_id, url=postgres_url)
    assert (job.status, job.n_completed, job.n_failed) == ("completed", 6, 0)
    assert _running(postgres_url) == 0
    with session_scope(postgres_url) as session:
        rows = session.scalar(select(func.count()).select_from(Photometry))
    assert rows == sum(i["n_measured"] + i["n_failed"] for i in job.items) > 6 * 5


def test_photometry_rows_reach_postgresql_by_copy(tmp_path, postgres_url):
    """The worker's rows reach PostgreSQL by COPY, new rows and replaced ones alike, as the
    libpq protocol trace of every connection shows: the server answers each COPY with the
    number of rows it took, and no INSERT … VALUES statement reaches the photometry table."""
    from psycopg import pq

    from dsa110_contimg.database.session import get_engine

    paths = _images(tmp_path, postgres_url, 2)
    engine = get_engine(postgres_url)
    engine.dispose()  # every connection from here on is a new, traced one
    traces = []

    def trace(dbapi_connection, _record) -> None:
        traces.append(open(tmp_path / f"libpq{len(traces)}.trace", "w"))  # closed below
        dbapi_connection.pgconn.trace(traces[-1].fileno())
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    event.listen(engine, "connect", trace)
    try:
        jobs = []
        for _ in range(2):  # the second job replaces the first one's rows
            jobs.append(create_batch_photometry_job(paths, params=PARAMS, url=postgres_url))
            run_worker(stop_when_idle=True, url=postgres_url)
    finally:
        event.remove(engine, "connect", trace)
        engine.dispose()
        for file in traces:
            file.close()
    protocol = "".join(path.read_text() for path in sorted(tmp_path.glob("libpq*.trace")))
    copied = [int(n) for n in re.findall(r'CommandComplete\t "COPY (\d+)"', protocol)]
    stored = [
        sum(i["n_measured"] + i["n_failed"] for i in get_job(job, url=postgres_url).items)
        for job in jobs
    ]
    assert len(copied) == 4 and sum(copied) == sum(stored) > 2 * 2 * 5
    assert re.search(r"INSERT INTO photometry \([^)]*\) VALUES", protocol) is None
    assert len(_rows(postgres_url)) == stored[1]
