"""Web-page speed at DSA-110 scale: a product list of 100k rows and a 1000-epoch light curve.

Run with ``.venv/bin/python benchmarks/bench_web.py [--products 100000] [--epochs 1000]``
(needs the Debian package ``chromium`` for the browser column).

Fills a SQLite products database: ``--products`` registry records (bulk-inserted, 90 %
completed, 5 % failed with a reason, 3 % pending, 2 % never requested) and, through
`photometry_insert`, ``--epochs`` of them measured for 10 sources (so each of those sources
has a light curve of ``--epochs`` points). Then starts ``contimg serve`` on 127.0.0.1 and
times each page: the server's answer (HTTP GET, median of 5) and the load in headless
Chromium until the page's plots are drawn (median of 3). Prints one table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from astropy.table import Table
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import insert

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.query import cone_search
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.models import DataRegistry, Product
from dsa110_contimg.database.products import photometry_insert
from dsa110_contimg.database.session import get_engine

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
N_SOURCES = 10
BOKEH_READY = "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"


def fill(url: str, workdir: Path, n_products: int, n_epochs: int) -> int:
    """The database described in the module docstring; returns a measured source id."""
    upgrade(url)
    rng = np.random.default_rng(3)
    catalogue = workdir / "bench-sky.csv"
    Table(
        {
            "name": [f"WEB J{i:06d}" for i in range(N_SOURCES)],
            "ra_deg": rng.uniform(150.0, 150.2, N_SOURCES),
            "dec_deg": rng.uniform(37.0, 37.2, N_SOURCES),
            "flux_mjy": rng.uniform(10, 100, N_SOURCES),
        }
    ).write(catalogue, format="ascii.csv")
    ingest_catalog(catalogue, "bench", url=url)
    now = datetime.now(UTC)
    status = rng.choice(
        ["completed", "failed", "pending", None], size=n_products, p=[0.90, 0.05, 0.03, 0.02]
    )
    registry, products = [], []
    for k in range(n_products):
        data_id = f"image-{k:06d}"
        registry.append(
            {
                "data_type": "image",
                "data_id": data_id,
                "base_path": "/stage",
                "status": "staging",
                "stage_path": f"/stage/{data_id}.fits",
                "created_at": now - timedelta(seconds=n_products - k),
                "staged_at": now,
                "photometry_status": status[k],
                "photometry_error": "ImageReadError: truncated file"
                if status[k] == "failed"
                else None,
                "photometry_n_measured": N_SOURCES if status[k] == "completed" else None,
                "photometry_updated_at": now if status[k] else None,
            }
        )
        products.append(
            {
                "data_id": data_id,
                "data_type": "image",
                "mjd_mid": 61000.0 + k / 288,
                "pb_corrected": True,
                "created_at": now,
            }
        )
    with get_engine(url).begin() as conn:
        conn.execute(insert(DataRegistry), registry)
        conn.execute(insert(Product), products)
    ids = np.asarray(cone_search("bench", 150.1, 37.1, 1.0, url=url)["source_id"])
    for k in range(n_epochs):
        table = Table({"source_id": ids, "name": [f"s{i}" for i in ids]})
        for column in (
            "ra_deg",
            "dec_deg",
            "int_flux_jy",
            "int_flux_err_jy",
            "local_rms_jyb",
            "chisq",
            "dof",
            "pb_response",
        ):
            table[column] = rng.uniform(0.5, 1.0, ids.size)
        table["peak_jyb"] = rng.normal(0.05, 0.001, ids.size)
        table["peak_err_jyb"] = np.full(ids.size, 0.001)
        table["snr"] = table["peak_jyb"] / table["peak_err_jyb"]
        table["flags"] = (rng.uniform(size=ids.size) < 0.03).astype(np.int64)
        table["group_id"] = np.arange(ids.size)
        table["group_size"] = np.ones(ids.size, dtype=np.int64)
        table["edge_dist_pix"] = np.full(ids.size, 100.0)
        photometry_insert(f"image-{k:06d}", table, params_hash="bench", url=url)
    return int(ids[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(state: Path, url: str) -> tuple[subprocess.Popen, str]:
    """``contimg serve`` on a free loopback port; the process and its base URL."""
    port = _free_port()
    contimg = Path(sys.executable).with_name("contimg")
    env = {
        **os.environ,
        "CONTIMG_STATE_DIR": str(state),
        "CONTIMG_DATABASE_URL": url,
        "CONTIMG_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [str(contimg), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("contimg serve did not start")


def server_ms(base: str, path: str, repeats: int = 5) -> tuple[float, int]:
    """Median wall time of GET ``path`` (ms) and the page size in bytes."""
    times, size = [], 0
    with httpx.Client(base_url=base, timeout=120) as client:
        client.get(path)  # warm caches once
        for _ in range(repeats):
            start = time.perf_counter()
            response = client.get(path)
            times.append(1e3 * (time.perf_counter() - start))
            response.raise_for_status()
            size = len(response.content)
    return statistics.median(times), size


def browser_ms(base: str, pages: list[tuple[str, str, bool]], repeats: int = 3) -> dict:
    """Median time from navigation to the load event (and the plots drawn), per page."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return {}
    from playwright.sync_api import sync_playwright

    found = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        for label, path, plots in pages:
            times = []
            for _ in range(repeats + 1):
                start = time.perf_counter()
                page.goto(base + path, wait_until="load")
                if plots:
                    page.wait_for_function(BOKEH_READY, timeout=60_000)
                    page.wait_for_selector(
                        ".bk-Figure, .bk-Canvas, div.bk-Canvas", state="attached", timeout=60_000
                    )
                times.append(1e3 * (time.perf_counter() - start))
            found[label] = statistics.median(times[1:])
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=1000)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'contimg.sqlite3'}"
        start = time.perf_counter()
        source_id = fill(url, workdir, args.products, args.epochs)
        console.print(
            f"filled {args.products:,} products and a {args.epochs}-epoch light "
            f"curve in {time.perf_counter() - start:.0f} s",
            highlight=False,
        )
        pages = [
            ("overview", "/", True),
            ("product list, first page (50 rows)", "/products", False),
            ("product list, last page", f"/products?offset={args.products - 50}", False),
            ("product list, failed only", "/products?photometry=failed", False),
            ("product list, 200 rows", "/products?limit=200", False),
            (f"source page, {args.epochs}-epoch light curve", f"/sources/{source_id}", True),
            (
                "light curve JSON (API, 1000 points)",
                f"/api/sources/{source_id}/lightcurve?limit=1000",
                False,
            ),
        ]
        process, base = serve(workdir, url)
        try:
            server = {label: server_ms(base, path) for label, path, _ in pages}
            browser = browser_ms(base, [p for p in pages if not p[1].startswith("/api")])
        finally:
            process.terminate()
            process.wait(timeout=30)
    table = RichTable(
        title=f"web pages: {args.products:,} products, {args.epochs}-epoch "
        "light curve (SQLite, 2 cores)"
    )
    table.add_column("page")
    table.add_column("server (ms)", justify="right")
    table.add_column("size (kB)", justify="right")
    table.add_column("browser load (ms)", justify="right")
    for label, _, _ in pages:
        ms, size = server[label]
        loaded = browser.get(label)
        table.add_row(
            label, f"{ms:.0f}", f"{size / 1e3:.0f}", "-" if loaded is None else f"{loaded:.0f}"
        )
    console.print(table)
    if not browser:
        console.print("browser column empty: install the Debian package 'chromium'")


if __name__ == "__main__":
    main()
