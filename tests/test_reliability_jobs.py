"""Poison items: a worker killed on every claim uses up the item's attempts, then it fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from astropy.table import Table
from sqlalchemy import func, select

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.database.models import BatchJobItem
from dsa110_contimg.database.registry import get_photometry_status
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job

#: A real worker whose process is killed (SIGKILL, as by the OOM killer) whenever it starts to
#: measure a file named "poison"; other items are measured normally.
DYING_WORKER = """
import os, signal
from dsa110_contimg.jobs import worker
measure = worker._measure
def measure_or_die(path, *args, **kwargs):
    if "poison" in str(path):
        os.kill(os.getpid(), signal.SIGKILL)
    return measure(path, *args, **kwargs)
worker._measure = measure_or_die
worker.run_worker(stop_when_idle=True)
"""


def test_item_killing_its_worker_fails_after_max_attempts(tmp_path, sqlite_url):
    sky = make_sky(150.0, 37.2, 0.2, seed=3, n_sources=10, min_flux_jy=0.05, max_flux_jy=0.2)
    paths = [
        simulate_image(
            tmp_path / f"{name}-image-pb.fits",
            sky,
            center_ra_deg=150.0,
            center_dec_deg=37.2,
            npix=256,
            pb=None,
            seed=k,
            date_obs="2026-05-01T00:00:00",
        ).path
        for k, name in enumerate(("poison", "good"))
    ]
    catalogue = tmp_path / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(catalogue, format="ascii.csv")
    ingest_catalog(catalogue, "sim", url=sqlite_url)
    job_id = create_batch_photometry_job(
        paths, params=PhotometryParams(catalog="sim"), url=sqlite_url
    )
    env = {
        **os.environ,
        "CONTIMG_DATABASE_URL": sqlite_url,
        "CONTIMG_JOBS__LEASE_S": "1",
        "CONTIMG_JOBS__MAX_ATTEMPTS": "3",
        "CONTIMG_JOBS__POLL_S": "0.1",
    }

    def worker() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", DYING_WORKER],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    # Each start claims the poison item again (its lease expired during the next start-up).
    for attempt in range(1, 4):
        died = worker()
        assert died.returncode == -signal.SIGKILL, died.stderr
        poison = get_job(job_id, url=sqlite_url).items[0]
        assert (poison["status"], poison["attempts"]) == ("running", attempt)
    last = worker()  # the fourth worker fails the poison item and measures the good one
    assert last.returncode == 0, last.stderr
    job = get_job(job_id, url=sqlite_url)
    poison, good = job.items
    assert poison["status"] == "failed" and poison["attempts"] == 3
    assert poison["error"].startswith("worker died 3 times while processing")
    assert good["status"] == "completed" and good["attempts"] == 1 and good["n_measured"] > 0
    assert (job.status, job.n_completed, job.n_failed) == ("completed_with_errors", 1, 1)
    registry = get_photometry_status(poison["data_id"], url=sqlite_url)
    assert registry.status == "failed" and "worker died 3 times" in registry.error
    assert "failed for good: worker died 3 times" in last.stderr  # logged at WARNING
    with session_scope(sqlite_url) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(BatchJobItem)
                .where(BatchJobItem.status == "running")
            )
            == 0
        )
    again = worker()  # never claimed again
    assert again.returncode == 0
    assert get_job(job_id, url=sqlite_url).items[0]["attempts"] == 3
