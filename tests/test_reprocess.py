"""contimg photometry reprocess: chunks, resumable, nothing measured twice."""

from __future__ import annotations

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
    out = runner.invoke(
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
            "--chunk",
            "2",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "3 products: 0 already measured, 3 completed, 0 failed" in out.output
    out = runner.invoke(
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
        ],
    )
    assert "3 already measured, 0 completed" in out.output
    out = runner.invoke(
        app, ["photometry", "reprocess", "--since", "0", "--until", "1", "--params", "oops"]
    )
    assert out.exit_code == 2 and "KEY=VALUE" in out.output
