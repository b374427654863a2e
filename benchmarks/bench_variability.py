"""Cost of adding one epoch to the variability statistics, from 10 to 10,000 epochs.

Run with ``.venv/bin/python benchmarks/bench_variability.py``: 600 sources, one epoch added at a
time; the time per update must not grow with the number of epochs already held.
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.photometry.variability import RunningStats

N_SOURCES = 600


def main() -> None:
    rng = np.random.default_rng(0)
    stats = RunningStats.empty(N_SOURCES)
    index = np.arange(N_SOURCES)
    error = np.full(N_SOURCES, 1e-3)
    view = RichTable(title=f"adding one epoch of {N_SOURCES} sources")
    for col in ("epochs held", "µs per epoch update", "µs per measurement"):
        view.add_column(col)
    held = 0
    for checkpoint in (10, 100, 1000, 10000):
        while held < checkpoint - 10:
            stats.add(index, rng.normal(0.1, 1e-3, N_SOURCES), error)
            held += 1
        start = time.perf_counter()
        for _ in range(10):
            stats.add(index, rng.normal(0.1, 1e-3, N_SOURCES), error)
        per_epoch = (time.perf_counter() - start) / 10
        held += 10
        view.add_row(str(held), f"{per_epoch * 1e6:.0f}", f"{per_epoch / N_SOURCES * 1e6:.3f}")
    Console().print(view)


if __name__ == "__main__":
    main()
