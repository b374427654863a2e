"""Restarts are not failures: orderly stops of the stream are not counted, deaths are, and an
observation failed by deaths gets one more try after a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from dsa110_contimg.conversion.streaming.ledger import MAX_ATTEMPTS, Ledger
from dsa110_contimg.conversion.streaming.streaming_converter import StreamingConverter
from dsa110_contimg.imaging.imager import CommandImager
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.reconcile import PeriodicSweep


def _image(tmp_path: Path) -> Path:
    sky = make_sky(150.0, 37.2, 0.1, seed=1, n_sources=5)
    return simulate_image(
        tmp_path / "made-image-pb.fits",
        sky,
        center_ra_deg=150.0,
        center_dec_deg=37.2,
        npix=128,
        pb=None,
        seed=1,
        date_obs="2026-05-01T00:00:00",
    ).path


def _command(image: Path, marker: Path) -> list[str]:
    """Images by copying ``image``; takes 300 s (a long imaging run) while ``marker`` exists."""
    return [
        "sh",
        "-c",
        f"if [ -e {marker} ]; then exec sleep 300; fi; "
        f"cp {image} {{output_dir}}/obs1-image-pb.fits",
    ]


def test_orderly_stops_do_not_count_but_a_death_does(tmp_path):
    state = tmp_path / "state"
    incoming = state / "data" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "obs1.ms").write_text("observation")
    marker = tmp_path / "slow"
    marker.touch()
    env = {
        **os.environ,
        "CONTIMG_STATE_DIR": str(state),
        "CONTIMG_STREAM__IMAGER": "command",
        "CONTIMG_STREAM__IMAGING_COMMAND": json.dumps(_command(_image(tmp_path), marker)),
        "CONTIMG_STREAM__SETTLE_S": "0",
        "CONTIMG_PHOTOMETRY__ENABLED": "false",
        "COLUMNS": "400",
    }  # log lines unwrapped
    env.pop("CONTIMG_DATABASE_URL", None)
    ledger = Ledger(state / "stream" / "ledger")
    command = [sys.executable, "-m", "dsa110_contimg.cli", "stream", "--once"]

    def interrupted_by(signum: int) -> str:
        stream = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        while not any(c.name() == "sleep" for c in psutil.Process(stream.pid).children(True)):
            assert time.monotonic() < deadline and stream.poll() is None, "imaging never began"
            time.sleep(0.1)
        assert ledger.get("obs1").status == "started"
        stream.send_signal(signum)
        return stream.communicate(timeout=60)[1]

    for signum in (signal.SIGTERM, signal.SIGINT):  # two restarts by an operator
        stderr = interrupted_by(signum)
        record = ledger.get("obs1")
        assert (record.status, record.attempts) == ("stopped", 0), stderr
        assert "stopped while being processed" in stderr
    interrupted_by(signal.SIGKILL)  # a death while processing counts
    assert (ledger.get("obs1").status, ledger.get("obs1").attempts) == ("started", 1)
    marker.unlink()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    record = ledger.get("obs1")
    assert (record.status, record.attempts, record.error) == ("done", 2, None)
    assert record.data_id


def _run_service(converter: StreamingConverter, url: str, passes: int = 3) -> None:
    """`StreamingConverter.run` with the real periodic sweep, stopped after ``passes``."""
    stop = threading.Event()
    sweep = PeriodicSweep(1e-9, url=url)
    count = [0]

    def every_pass():
        count[0] += 1
        if count[0] >= passes:
            stop.set()
        return sweep()

    converter.run(stop, poll_s=0.05, every_pass=every_pass)


def test_observation_failed_by_deaths_is_retried_once_after_a_restart(tmp_path, sqlite_url):
    incoming, images = tmp_path / "incoming", tmp_path / "images"
    incoming.mkdir()
    image = _image(tmp_path)
    for key in ("healthy", "poison"):
        (incoming / f"{key}.ms").write_text("observation")
    ledger = Ledger(tmp_path / "ledger")
    # What MAX_ATTEMPTS deaths leave behind; "poison" already had its retry after a restart.
    ledger.record("healthy", status="started", attempts=MAX_ATTEMPTS)
    ledger.record("poison", status="started", attempts=MAX_ATTEMPTS, retried_after_restart=True)

    def service() -> StreamingConverter:
        imager = CommandImager(["cp", str(image), "{output_dir}/x-image-pb.fits"], "*.ms", 60.0)
        return StreamingConverter(
            imager, incoming, images, None, settle_s=0.0, ledger=ledger, url=sqlite_url
        )

    _run_service(service(), sqlite_url)  # fails both; not retried by the same run
    for key in ("healthy", "poison"):
        record = ledger.get(key)
        assert record.status == "failed" and record.died_processing
        assert record.error.startswith(f"the process died {MAX_ATTEMPTS} times")
    _run_service(service(), sqlite_url)  # a restart: its first sweep retries "healthy" once
    healthy, poison = ledger.get("healthy"), ledger.get("poison")
    assert (healthy.status, healthy.attempts, healthy.retried_after_restart) == (
        "done",
        MAX_ATTEMPTS,
        True,
    )
    assert healthy.data_id
    assert (poison.status, poison.attempts) == ("failed", MAX_ATTEMPTS)  # never a second retry
