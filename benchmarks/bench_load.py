"""Load on the real server: concurrent clients on ``GET /api/data`` and on
``POST /api/photometry/measure`` (one position on a 2048² image).

Run with ``.venv/bin/python benchmarks/bench_load.py [--clients 8] [--seconds 30]
[--npix 2048] [--products 50]``. Simulates the image and ``--products`` small registered
products in a temporary SQLite database, starts ``contimg serve`` in its own process (uvicorn,
the default budgets), and runs ``--clients`` threads, each with its own connection, sending one
kind of request after another for ``--seconds`` per endpoint. Prints one table: requests,
throughput, median and 99th-percentile latency, errors (any answer but 200, or a failed
connection) and the server's peak resident memory.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.api.local_server import PeakMemory, local_server
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 150.0, 37.2


@dataclass
class Load:
    """What the clients of one endpoint saw."""

    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def prepare(root: Path, url: str, npix: int, n_products: int) -> str:
    """The measured image (its name under ``root``) and ``n_products`` registered products."""
    upgrade(url)
    sky = make_sky(RA0, DEC0, 0.5, seed=1, n_sources=200, min_flux_jy=0.01, max_flux_jy=0.5)
    image = simulate_image(
        root / "load-image-pb.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=npix,
        pb=None,
        seed=1,
        date_obs="2026-05-01T00:00:00",
    ).path
    register_data(image, url=url, roots=[root])
    for k in range(n_products - 1):
        small = simulate_image(
            root / f"small{k:03d}-image-pb.fits",
            sky,
            center_ra_deg=RA0,
            center_dec_deg=DEC0,
            npix=160,
            pb=None,
            seed=k,
            date_obs=f"2026-05-02T{k // 60:02d}:{k % 60:02d}:00",
        ).path
        register_data(small, url=url, roots=[root])
    return image.name


def run_clients(base_url: str, n_clients: int, seconds: float, request) -> Load:
    """``n_clients`` threads calling ``request(client, rng)`` until ``seconds`` have passed."""
    load = Load()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client_loop(seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(base_url=base_url, timeout=120) as client:
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                try:
                    response = request(client, rng)
                    error = (
                        None
                        if response.status_code == 200
                        else f"{response.status_code} {response.text[:120]}"
                    )
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - start
                with lock:
                    load.latencies_s.append(elapsed)
                    if error is not None:
                        load.errors.append(error)

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(n_clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.wall_s = time.perf_counter() - start
    return load


def warm_up(base_url: str, request, timeout_s: float = 600.0) -> None:
    """Call ``request`` until it answers 200: a cold server compiles the fitting kernels on its
    first measurement, which may take longer than the time budget (503) while it goes on."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
        while True:
            response = request(client, np.random.default_rng(0))
            if response.status_code == 200:
                return
            if response.status_code != 503 or time.monotonic() > deadline:
                raise RuntimeError(f"warm-up failed: {response.status_code} {response.text}")
            time.sleep(2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--npix", type=int, default=2048)
    parser.add_argument("--products", type=int, default=50)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        url = f"sqlite:///{Path(tmp) / 'load.sqlite3'}"
        image = prepare(root, url, args.npix, args.products)
        half_deg = 0.4 * args.npix * 2.0 / 3600.0  # inside the image (2″ pixels)

        def data(client: httpx.Client, _rng: np.random.Generator) -> httpx.Response:
            return client.get("/api/data")

        def measure(client: httpx.Client, rng: np.random.Generator) -> httpx.Response:
            ra, dec = (np.array([RA0, DEC0]) + rng.uniform(-half_deg, half_deg, 2)).tolist()
            return client.post(
                "/api/photometry/measure", json={"image": image, "ra_deg": ra, "dec_deg": dec}
            )

        env = {
            "CONTIMG_DATABASE_URL": url,
            "CONTIMG_DATA_ROOTS": str(root),
            "CONTIMG_STATE_DIR": str(Path(tmp) / "state"),
            "CONTIMG_LOG_LEVEL": "WARNING",
        }
        with local_server(env, log_path=Path(tmp) / "server.log") as server:
            warm_up(server.base_url, measure)
            results = {}
            with PeakMemory(server.process.pid) as memory:
                for label, request in (
                    (f"GET /api/data ({args.products} products)", data),
                    (f"POST /api/photometry/measure ({args.npix}²)", measure),
                ):
                    results[label] = run_clients(
                        server.base_url, args.clients, args.seconds, request
                    )
    table = RichTable(
        title=f"{args.clients} concurrent clients, {args.seconds:g} s per "
        f"endpoint, contimg serve (uvicorn, one process)"
    )
    for column in ("endpoint", "requests", "req/s", "p50 (ms)", "p99 (ms)", "errors"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for label, load in results.items():
        ms = 1e3 * np.asarray(load.latencies_s)
        table.add_row(
            label,
            str(ms.size),
            f"{ms.size / load.wall_s:.1f}",
            f"{np.percentile(ms, 50):.0f}",
            f"{np.percentile(ms, 99):.0f}",
            str(len(load.errors)),
        )
    console.print(table)
    console.print(f"server peak resident memory: {memory.peak / 2**20:.0f} MiB")
    for label, load in results.items():
        for error in sorted(set(load.errors))[:5]:
            console.print(f"{label}: {error}", markup=False)


if __name__ == "__main__":
    main()
