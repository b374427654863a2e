"""Children of ``contimg run`` end with it, however it ends (SIGKILL included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil


def _alive(process: psutil.Process) -> bool:
    """Running (a reaped or zombie process has ended)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_sigkilled_run_takes_its_workers_and_imaging_command_with_it(tmp_path):
    """Workers (Python, prctl), the resource tracker and an imaging command (setpriv) all end."""
    incoming = tmp_path / "state" / "data" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "obs1.ms").write_text("an observation the command takes long to image")
    env = {
        **os.environ,
        "CONTIMG_STATE_DIR": str(tmp_path / "state"),
        "CONTIMG_STREAM__IMAGER": "command",
        "CONTIMG_STREAM__IMAGING_COMMAND": json.dumps(["sleep", "300"]),
        "CONTIMG_STREAM__SETTLE_S": "0.1",
        "CONTIMG_JOBS__POLL_S": "0.2",
    }
    env.pop("CONTIMG_DATABASE_URL", None)
    service = subprocess.Popen(
        [sys.executable, "-m", "dsa110_contimg.cli", "run", "--no-api", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    parent = psutil.Process(service.pid)
    try:

        def started() -> bool:
            names = [" ".join(c.cmdline()) for c in parent.children(recursive=True)]
            return sum("multiprocessing.spawn" in n for n in names) >= 2 and any(
                n.endswith("sleep 300") for n in names
            )

        _wait_for(started, 120, "two workers and the imaging command")
        children = parent.children(recursive=True)
        assert len(children) >= 4  # 2 workers, the resource tracker, setpriv → sleep
    finally:
        service.send_signal(signal.SIGKILL)
        service.wait()
    try:
        _wait_for(
            lambda: not any(_alive(c) for c in children),
            30,
            "the children of the killed service to end",
        )
    finally:
        for child in children:  # leave no orphan behind when the test fails
            if _alive(child):
                child.kill()
