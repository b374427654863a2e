"""Cost of adding one epoch to the variability statistics, from 10 to 10,000 epochs.

Run with ``.venv/bin/python benchmarks/bench_variability.py``. Two tables: the in-memory
sufficient statistics (600 sources, one epoch added at a time) and the database statistics
(``variability_stats`` on SQLite: 100 sources, one transaction per epoch, as the worker does
after each product). The time per update must not grow with the number of epochs already held.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.query import cone_search
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.variability.metrics import RunningStats
from dsa110_contimg.variability.store import add_measurements

N_SOURCES = 600
N_DB_SOURCES = 100
CHECKPOINTS = (10, 100, 1000, 10000)


def _table(title: str) -> RichTable:
    view = RichTable(title=title)
    for col in ("epochs held", "µs per epoch update", "µs per measurement"):
        view.add_column(col)
    return view


def _run(view: RichTable, n_sources: int, add_epoch) -> None:
    held = 0
    for checkpoint in CHECKPOINTS:
        while held < checkpoint - 10:
            add_epoch(held)
            held += 1
        start = time.perf_counter()
        for _ in range(10):
            add_epoch(held)
            held += 1
        per_epoch = (time.perf_counter() - start) / 10
        view.add_row(str(held), f"{per_epoch * 1e6:.0f}", f"{per_epoch / n_sources * 1e6:.3f}")


def in_memory() -> RichTable:
    rng = np.random.default_rng(0)
    stats = RunningStats.empty(N_SOURCES)
    index = np.arange(N_SOURCES)
    error = np.full(N_SOURCES, 1e-3)
    view = _table(f"in memory: adding one epoch of {N_SOURCES} sources")
    _run(view, N_SOURCES, lambda _k: stats.add(index, rng.normal(0.1, 1e-3, N_SOURCES), error))
    return view


def in_database(workdir: Path) -> RichTable:
    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    rng = np.random.default_rng(1)
    ra = 150 + rng.uniform(-0.5, 0.5, N_DB_SOURCES)
    Table(
        {
            "name": [f"S{k}" for k in range(N_DB_SOURCES)],
            "ra_deg": ra,
            "dec_deg": 30 + rng.uniform(-0.5, 0.5, N_DB_SOURCES),
            "flux_mjy": np.full(N_DB_SOURCES, 100.0),
        }
    ).write(workdir / "sky.csv", format="ascii.csv")
    ingest_catalog(workdir / "sky.csv", "bench", url=url)
    ids = np.asarray(cone_search("bench", 150, 30, 2, url=url)["source_id"])
    flags = np.zeros(N_DB_SOURCES, dtype=np.int64)
    error = np.full(N_DB_SOURCES, 1e-3)
    engine = get_engine(url)

    def add_epoch(k: int) -> None:
        with engine.begin() as conn:
            add_measurements(
                conn, ids, rng.normal(0.1, 1e-3, N_DB_SOURCES), error, flags, 60000.0 + k
            )

    view = _table(f"database (SQLite): adding one epoch of {N_DB_SOURCES} sources")
    _run(view, N_DB_SOURCES, add_epoch)
    return view


def main() -> None:
    console = Console()
    console.print(in_memory())
    with tempfile.TemporaryDirectory() as tmp:
        console.print(in_database(Path(tmp)))


if __name__ == "__main__":
    main()
