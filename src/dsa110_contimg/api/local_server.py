"""``contimg serve`` in a child process on a free loopback port, for tests and benchmarks that
need the real server (uvicorn, its own process and memory) rather than an in-process client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psutil

__all__ = ["LocalServer", "PeakMemory", "free_port", "local_server"]


@dataclass(frozen=True)
class LocalServer:
    """A running ``contimg serve``: its process and base URL (``http://127.0.0.1:<port>``)."""

    process: subprocess.Popen
    base_url: str


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_server(
    env: Mapping[str, str], *, start_timeout_s: float = 60.0, log_path: os.PathLike | None = None
) -> Iterator[LocalServer]:
    """Run ``contimg serve`` with ``env`` added to this process's environment until the block
    ends (then SIGTERM, SIGKILL after 30 s).

    Parameters
    ----------
    env : mapping
        Settings of the server, e.g. ``CONTIMG_DATABASE_URL``, ``CONTIMG_DATA_ROOTS``.
    start_timeout_s : float
        How long ``/health`` may take to answer.
    log_path : path-like, optional
        Where the server's output goes (default: discarded).

    Raises
    ------
    RuntimeError
        The server exited or did not answer within ``start_timeout_s``.
    """
    port = free_port()
    log = open(log_path, "w") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "dsa110_contimg.cli", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(process, base_url, start_timeout_s)
        yield LocalServer(process, base_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log is not subprocess.DEVNULL:
            log.close()


def _wait_for_health(process: subprocess.Popen, base_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"contimg serve exited with status {process.returncode}")
        try:
            answered = httpx.get(base_url + "/health", timeout=2).status_code == 200
        except httpx.TransportError:  # not listening yet
            answered = False
        if answered:
            return
        time.sleep(0.2)
    raise RuntimeError(f"contimg serve did not answer /health within {timeout_s:g} s")


class PeakMemory:
    """The peak resident memory of a process, sampled in a thread while the ``with`` block runs.

    Parameters
    ----------
    pid : int
        The process (e.g. ``LocalServer.process.pid``).
    interval_s : float
        Sampling interval.

    Attributes
    ----------
    peak : int
        Largest resident set size seen, in bytes.
    """

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        self.peak = 0
        self._process = psutil.Process(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self._process.memory_info().rss)
            if self._stop.wait(self._interval_s):
                return
