"""Products-database speed: bulk photometry upserts and light-curve queries.

Run with ``.venv/bin/python benchmarks/bench_db.py [--sources 10000] [--epochs 100]``.
Fills 10k catalogue sources × 100 products (1M photometry rows) through `photometry_insert`
on SQLite (a WAL file) and on a throwaway PostgreSQL server (pgserver), then times
`light_curve` for random sources. Prints one table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from astropy.table import Table
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.query import cone_search
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.models import DataRegistry, Product
from dsa110_contimg.database.products import light_curve, photometry_insert
from dsa110_contimg.database.session import session_scope


def _setup(url: str, workdir: Path, n_sources: int, n_epochs: int) -> np.ndarray:
    upgrade(url)
    rng = np.random.default_rng(1)
    catalogue = workdir / "bench-sky.csv"
    Table(
        {
            "name": [f"B{i:07d}" for i in range(n_sources)],
            "ra_deg": rng.uniform(150, 152, n_sources),
            "dec_deg": rng.uniform(36, 38, n_sources),
            "flux_mjy": rng.uniform(1, 100, n_sources),
        }
    ).write(catalogue, format="ascii.csv", overwrite=True)
    ingest_catalog(catalogue, "bench", url=url)
    now = datetime.now(UTC)
    with session_scope(url) as session:
        for k in range(n_epochs):
            data_id = f"image-bench-{k:04d}"
            session.add(
                DataRegistry(
                    data_type="image",
                    data_id=data_id,
                    base_path="/stage",
                    status="staging",
                    stage_path=f"/stage/{data_id}.fits",
                    created_at=now,
                    staged_at=now,
                )
            )
            session.flush()
            session.add(
                Product(
                    data_id=data_id,
                    data_type="image",
                    mjd_mid=61000.0 + k / 288,
                    pb_corrected=False,
                    created_at=now,
                )
            )
    return np.asarray(cone_search("bench", 151, 37, 5, url=url)["source_id"])


def _measurements(source_ids: np.ndarray, rng: np.random.Generator) -> Table:
    n = source_ids.size
    table = Table()
    table["source_id"] = source_ids
    for name in (
        "ra_deg",
        "dec_deg",
        "peak_jyb",
        "peak_err_jyb",
        "int_flux_jy",
        "int_flux_err_jy",
        "local_rms_jyb",
        "snr",
        "chisq",
        "dof",
        "pb_response",
    ):
        table[name] = rng.normal(size=n)
    table["flags"] = np.zeros(n, dtype=np.int64)
    table["group_id"] = np.arange(n, dtype=np.int64)
    table["group_size"] = np.ones(n, dtype=np.int64)
    return table


def run(url: str, label: str, workdir: Path, n_sources: int, n_epochs: int) -> list[tuple]:
    source_ids = _setup(url, workdir, n_sources, n_epochs)
    rng = np.random.default_rng(2)
    tables = [_measurements(source_ids, rng) for _ in range(n_epochs)]
    start = time.perf_counter()
    rows = sum(
        photometry_insert(f"image-bench-{k:04d}", t, params_hash="bench", url=url)
        for k, t in enumerate(tables)
    )
    insert_s = time.perf_counter() - start
    start = time.perf_counter()
    photometry_insert("image-bench-0000", tables[0], params_hash="bench", url=url)
    replace_s = time.perf_counter() - start
    picks = rng.choice(source_ids, 200, replace=False)
    light_curve(int(picks[0]), url=url)
    timings = []
    for source in picks:
        start = time.perf_counter()
        curve = light_curve(int(source), url=url)
        timings.append(time.perf_counter() - start)
        assert len(curve) == n_epochs
    return [
        (label, "insert", f"{rows:,} rows", f"{insert_s:.1f} s", f"{rows / insert_s:,.0f} rows/s"),
        (
            label,
            "re-insert one product (replace)",
            f"{len(tables[0]):,} rows",
            f"{replace_s * 1e3:.0f} ms",
            f"{len(tables[0]) / replace_s:,.0f} rows/s",
        ),
        (
            label,
            "light curve of one source",
            f"{n_epochs} points",
            f"median {np.median(timings) * 1e3:.2f} ms",
            f"p95 {np.percentile(timings, 95) * 1e3:.2f} ms",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows += run(
            f"sqlite:///{workdir / 'bench.sqlite3'}",
            "SQLite (WAL)",
            workdir,
            args.sources,
            args.epochs,
        )
        if not args.skip_postgres:
            import pgserver

            server = pgserver.get_server(workdir / "pg", cleanup_mode="stop")
            try:
                server.psql("CREATE DATABASE bench;")
                url = server.get_uri("bench").replace("postgresql://", "postgresql+psycopg://", 1)
                rows += run(url, "PostgreSQL (COPY)", workdir, args.sources, args.epochs)
            finally:
                server.cleanup()
    view = RichTable(title=f"products database: {args.sources:,} sources × {args.epochs} products")
    for col in ("database", "operation", "size", "time", "rate"):
        view.add_column(col)
    for row in rows:
        view.add_row(*row)
    Console(width=120).print(view)


if __name__ == "__main__":
    main()
