"""`contimg run` as an operator runs it: images dropped into the watched directory are
measured, a mosaic is built, measured and published, the API answers, SIGTERM stops it all
with nothing left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from astropy.table import Table
from sqlalchemy import func, select
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.config import get_settings
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.models import BatchJobItem, DataRegistry
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 120.0, 37.2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _statuses() -> dict[tuple[str, str | None, str], int]:
    with session_scope() as session:
        rows = session.execute(
            select(
                DataRegistry.data_type,
                DataRegistry.photometry_status,
                DataRegistry.status,
                func.count(),
            ).group_by(DataRegistry.data_type, DataRegistry.photometry_status, DataRegistry.status)
        ).all()
    return {(t, p, s): n for t, p, s, n in rows}


def test_run_serves_stream_workers_mosaics_and_api_until_sigterm(
    tmp_path, isolated_settings, monkeypatch
):
    port = _free_port()
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__CATALOG", "run-sky")
    monkeypatch.setenv("CONTIMG_STREAM__SETTLE_S", "0.2")
    monkeypatch.setenv("CONTIMG_STREAM__POLL_S", "0.5")
    monkeypatch.setenv("CONTIMG_MOSAIC__IMAGES_PER_MOSAIC", "2")
    monkeypatch.setenv("CONTIMG_MOSAIC__MIN_IMAGES", "2")
    monkeypatch.setenv("CONTIMG_MOSAIC__INTERVAL_S", "1")
    monkeypatch.setenv("CONTIMG_JOBS__POLL_S", "0.2")
    monkeypatch.setenv("CONTIMG_API__PORT", str(port))
    upgrade()
    sky = make_sky(RA0, DEC0, 0.2, seed=5, min_flux_jy=5e-3, n_sources=200)
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(tmp_path / "sky.csv", format="ascii.csv")
    ingest_catalog(tmp_path / "sky.csv", "run-sky")
    incoming = isolated_settings.stream.input_dir
    incoming.mkdir(parents=True)

    service = subprocess.Popen(
        [sys.executable, "-m", "dsa110_contimg.cli", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for i, offset in enumerate((-0.02, 0.02)):
            partial = tmp_path / f"obs{i}-image-pb.fits"
            simulate_image(
                partial,
                sky,
                center_ra_deg=RA0 + offset,
                center_dec_deg=DEC0,
                npix=256,
                noise_jy=1e-3,
                pb_corrected=True,
                seed=i,
                date_obs=f"2026-11-24T06:0{5 * i}:00",
            )
            os.replace(partial, incoming / partial.name)  # an imager finishing a file
        deadline = time.monotonic() + 180
        expected = {("image", "completed", "staging"): 2, ("mosaic", "completed", "published"): 1}
        while _statuses() != expected:
            assert service.poll() is None, service.communicate()[1][-3000:]
            assert time.monotonic() < deadline, f"stuck at {_statuses()}"
            time.sleep(0.3)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert health.status_code == 200
        listed = httpx.get(
            f"http://127.0.0.1:{port}/api/data", params={"type": "mosaic"}, timeout=10
        ).json()
        assert listed["count"] == 1
        assert listed["data"][0]["photometry_status"] == "completed"
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=120)
    assert service.returncode == 0, err[-3000:]
    assert "mosaic" in out and "completed" in out  # the summary's products table
    with session_scope() as session:
        running = session.scalar(
            select(func.count())
            .select_from(BatchJobItem)
            .where(BatchJobItem.status.in_(("pending", "running")))
        )
    assert running == 0


def test_run_refuses_an_open_api_beyond_loopback(isolated_settings, monkeypatch):
    monkeypatch.setenv("CONTIMG_API__HOST", "0.0.0.0")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2
    assert "no API token is configured" in result.output
