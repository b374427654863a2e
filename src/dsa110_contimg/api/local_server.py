"""``contimg serve`` in a child process on a free loopback port, for tests and benchmarks that
need the real server (uvicorn, its own process and memory) rather than an in-process client;
and the peak memory of a process (`PeakMemory`) or of one ``contimg`` command
(`command_peak_memory`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psutil

__all__ = [
    "CommandPeak",
    "LocalServer",
    "PeakMemory",
    "command_peak_memory",
    "free_port",
    "local_server",
]

#: Runs ``contimg <argv>`` in this interpreter and prints its own peak resident memory (kB,
#: ``VmHWM``) last; ``ru_maxrss`` would carry over the resident set of the forking parent.
_PEAK_PROGRAM = """
import sys
from dsa110_contimg.cli import main
sys.argv = ["contimg", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
finally:
    with open("/proc/self/status") as status:
        print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM")))
"""


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
    env: Mapping[str, str], *, start_timeout_s: float = 300.0, log_path: os.PathLike | None = None
) -> Iterator[LocalServer]:
    """Run ``contimg serve`` with ``env`` added to this process's environment until the block
    ends (then SIGTERM, SIGKILL after 30 s).

    Parameters
    ----------
    env : mapping
        Settings of the server, e.g. ``CONTIMG_DATABASE_URL``, ``CONTIMG_DATA_ROOTS``.
    start_timeout_s : float
        How long ``/health`` may take to answer (the server first makes its fitting kernels
        ready: compiling them from cold took 62 s on 2 shared cores).
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
        if not isinstance(log, int):  # a file, not DEVNULL
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


@dataclass(frozen=True)
class CommandPeak:
    """One ``contimg`` command run by `command_peak_memory`: wall seconds and its own peak
    resident memory in bytes."""

    seconds: float
    peak: int


def command_peak_memory(args: Sequence[str], *, timeout_s: float | None = None) -> CommandPeak:
    """Run ``contimg <args>`` in a fresh interpreter and measure its peak resident memory.

    Parameters
    ----------
    args : sequence of str
        The command line after ``contimg`` (e.g. ``["photometry", "measure", ...]``).
    timeout_s : float, optional
        Longest run allowed (`subprocess.TimeoutExpired` beyond it).

    Raises
    ------
    RuntimeError
        The command exited with a non-zero status (its stderr's end in the message).
    """
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_PROGRAM, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"contimg {' '.join(args)} exited with status {done.returncode}: {done.stderr[-2000:]}"
        )
    peak_kb = int(done.stdout.rstrip().rpartition("\n")[2])
    return CommandPeak(seconds=seconds, peak=peak_kb * 1024)
