"""contimg photometry reprocess: chunks, resumable, nothing measured twice; a worker's memory
stays flat over a long range."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import Result
from sqlalchemy import func, select
from test_dask_cluster import _images
from typer.testing import CliRunner

from dsa110_contimg.cli import app
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.models import BatchJobItem, Photometry
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.reprocess import reprocess_range
from dsa110_contimg.jobs.service import PRIORITY_REPROCESS

PARAMS = PhotometryParams(catalog="sim", normalize=False)


def _count(url: str, model) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(model))


def _reprocess(runner: CliRunner, *extra: str) -> Result:
    """``contimg photometry reprocess`` of all time with the catalogue ``sim``, unnormalized, with
    the same parameters every call (a second call finds everything measured)."""
    return runner.invoke(
        app,
        [
            "photometry",
            "reprocess",
            "--since",
            "0",
            "--until",
            "1e6",
            "--catalog",
            "sim",
            "--params",
            "normalize=false",
            "--params",
            "fitting.low_snr=4.5",
            *extra,
        ],
    )


def test_interrupted_reprocess_resumes_and_measures_nothing_twice(tmp_path, sqlite_url):
    for path in _images(tmp_path, sqlite_url, 7):
        register_data(path, url=sqlite_url)
    # An interrupted run: every chunk queued, nothing measured yet.
    queued = reprocess_range(0.0, 1e6, params=PARAMS, chunk=3, queue_only=True, url=sqlite_url)
    assert (queued.progress.total, len(queued.job_ids)) == (7, 3)
    with session_scope(sqlite_url) as session:
        assert set(session.scalars(select(BatchJobItem.priority))) == {PRIORITY_REPROCESS}
    # The rerun waits for the queued items instead of queueing them again.
    resumed = reprocess_range(
        0.0, 1e6, params=PARAMS, chunk=3, executor="local", workers=1, url=sqlite_url
    )
    assert resumed.job_ids == queued.job_ids and resumed.progress.completed == 7
    assert _count(sqlite_url, BatchJobItem) == 7
    rows = _count(sqlite_url, Photometry)
    assert rows == resumed.rows > 7 * 5
    # A third run finds everything measured.
    again = reprocess_range(0.0, 1e6, params=PARAMS, chunk=3, url=sqlite_url)
    assert (again.progress.skipped, again.job_ids) == (7, [])
    assert (_count(sqlite_url, BatchJobItem), _count(sqlite_url, Photometry)) == (7, rows)


def test_reprocess_command_progress_and_summary(tmp_path, isolated_settings):
    url = isolated_settings.database_url
    upgrade(url)
    for path in _images(tmp_path, url, 3):
        register_data(path, url=url)
    runner = CliRunner()
    out = _reprocess(runner, "--chunk", "2")
    assert out.exit_code == 0, out.output
    assert "3 products: 0 already measured, 3 completed, 0 failed" in out.output
    out = _reprocess(runner)
    assert "3 already measured, 0 completed" in out.output
    out = runner.invoke(
        app, ["photometry", "reprocess", "--since", "0", "--until", "1", "--params", "oops"]
    )
    assert out.exit_code == 2 and "KEY=VALUE" in out.output


#: Items measured before the first reading of the worker's memory, and in all.
EARLY_ITEMS, LONG_RANGE_ITEMS = 40, 160
#: Allowed growth of the worker's resident memory between the two readings; keeping each
#: 512² image (1 MiB) would add 120 MiB.
MEMORY_GROWTH_BOUND_MIB = 24

_MEASURE_WORKER_MEMORY = """
import json, sys
import psutil
from dsa110_contimg.config import get_settings
from dsa110_contimg.jobs.executor import execute_batch

url, early, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rss, served = {}, 0
while served < total:
    served += len(execute_batch(url, get_settings().jobs, for_s=0.0))  # one item per task
    if served in (early, total):
        rss[served] = psutil.Process().memory_info().rss
print(json.dumps(rss))
"""


def test_worker_memory_flat_over_a_long_range(tmp_path, sqlite_url):
    """A pool worker process serving a reprocess of many chunks: its resident memory after
    `LONG_RANGE_ITEMS` items exceeds that after `EARLY_ITEMS` (imports, compiled kernels and
    caches warm) by less than `MEMORY_GROWTH_BOUND_MIB`."""
    for path in _images(tmp_path, sqlite_url, LONG_RANGE_ITEMS, npix=512):
        register_data(path, url=sqlite_url)
    queued = reprocess_range(0.0, 1e6, params=PARAMS, chunk=40, queue_only=True, url=sqlite_url)
    assert len(queued.job_ids) == LONG_RANGE_ITEMS // 40
    worker = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE_WORKER_MEMORY,
            sqlite_url,
            str(EARLY_ITEMS),
            str(LONG_RANGE_ITEMS),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert worker.returncode == 0, worker.stderr
    rss = {int(k): v for k, v in json.loads(worker.stdout).items()}
    assert set(rss) == {EARLY_ITEMS, LONG_RANGE_ITEMS}
    growth_mib = (rss[LONG_RANGE_ITEMS] - rss[EARLY_ITEMS]) / 2**20
    assert growth_mib < MEMORY_GROWTH_BOUND_MIB, rss
    with session_scope(sqlite_url) as session:
        statuses = set(session.scalars(select(BatchJobItem.status)))
    assert statuses == {"completed"} and _count(sqlite_url, Photometry) > LONG_RANGE_ITEMS * 5
