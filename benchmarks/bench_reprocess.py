"""Reprocessing throughput on PostgreSQL with 1 and 2 Dask workers, the database ingest ceiling
under 1/2/4/8 concurrent writers (with and without the photometry table's secondary indexes),
and a projection to one DSA-110 year on 32 workers.

Run with ``.venv/bin/python benchmarks/bench_reprocess.py [--images 200] [--npix 2048]
[--sources 600]``. Starts a throwaway PostgreSQL server (pgserver), simulates a few distinct
images copied under new names and times, registers them, then:

1. times the stages of one item in this process on one thread, as a worker runs them (read,
   measure, database), on a sample;
2. reprocesses every image (`dsa110_contimg.jobs.reprocess.reprocess_range`) on a Dask
   cluster of 1 and then 2 single-threaded worker processes (new parameters each time, so
   nothing is skipped);
3. inserts synthetic products' rows from 1, 2, 4 and 8 writer processes at once;
4. projects the year (105,000 images, 6×10⁷ rows) on 32 workers from these figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from astropy.table import Table
from bench_jobs import simulated_images
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import text

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.config import FittingOptions, get_settings
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.products import photometry_insert
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.reprocess import reprocess_range
from dsa110_contimg.photometry.sources import measure_catalog_sources

YEAR_IMAGES, YEAR_ROWS, CLUSTER = 105_000, 6e7, 32
WRITERS = (1, 2, 4, 8)


def _stages(paths: list[Path], url: str) -> tuple[dict[str, float], int]:
    """Mean seconds per image of reading, measuring and storing on one thread, as a pool's
    worker measures (`dsa110_contimg.jobs.executor`); rows per image."""
    numba.set_num_threads(1)
    measure_catalog_sources(load_image(paths[0]), "bench", url=url)  # compile, warm caches
    totals = {"read": 0.0, "measure": 0.0, "database": 0.0}
    sample = paths[: min(8, len(paths))]
    rows = 0
    for k, path in enumerate(sample):
        t0 = time.perf_counter()
        image = load_image(path)
        t1 = time.perf_counter()
        table = measure_catalog_sources(image, "bench", url=url)
        t2 = time.perf_counter()
        rows += photometry_insert(
            register_data(path, url=url), table, params_hash=f"stage{k}", url=url
        )
        totals["read"] += t1 - t0
        totals["measure"] += t2 - t1
        totals["database"] += time.perf_counter() - t2
    return {k: v / len(sample) for k, v in totals.items()}, rows // len(sample)


def _writer(
    url: str, data_ids: list[str], source_ids: list[int], tag: str, start_queue, done_queue
) -> None:
    """One ingest writer process: rows of ``source_ids`` for every product, one transaction
    each (writers get disjoint sources, as products of different fields do)."""
    n_rows = len(source_ids)
    rng = np.random.default_rng(len(tag))
    table = Table(
        {
            "source_id": source_ids,
            "ra_deg": rng.uniform(0, 1, n_rows),
            "dec_deg": rng.uniform(0, 1, n_rows),
        }
    )
    for name in ("peak_jyb", "peak_err_jyb", "local_rms_jyb", "snr", "chisq", "pb_response"):
        table[name] = rng.normal(size=n_rows)
    for name in ("dof", "flags", "group_id", "group_size"):
        table[name] = np.ones(n_rows, dtype=int)
    get_engine(url).connect().close()
    done_queue.put("ready")  # imported and connected: the clock starts when all are
    start_queue.get()
    for data_id in data_ids:
        photometry_insert(data_id, table, params_hash=tag, url=url)
    done_queue.put(None)


def _ingest(
    url: str, data_ids: list[str], source_ids: list[list[int]], writers: int, tag: str
) -> float:
    """Rows per second committed by ``writers`` processes sharing ``data_ids``, writer ``k``
    storing rows of ``source_ids[k]``."""
    context = multiprocessing.get_context("spawn")
    start_queue, done_queue = context.Queue(), context.Queue()
    share = [data_ids[k::writers] for k in range(writers)]
    processes = [
        context.Process(
            target=_writer, args=(url, ids, source_ids[k], f"{tag}-{k}", start_queue, done_queue)
        )
        for k, ids in enumerate(share)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        done_queue.get()  # ready
    start = time.perf_counter()
    for _ in processes:
        start_queue.put(None)
    for _ in processes:
        done_queue.get()
    wall = time.perf_counter() - start
    for process in processes:
        process.join()
    return sum(len(ids) * len(source_ids[k]) for k, ids in enumerate(share)) / wall


def _ingest_sources(workdir: Path, url: str, n_rows: int, writers: int) -> list[list[int]]:
    """A catalogue of ``writers`` × ``n_rows`` sources; the ids of each writer's share."""
    n = n_rows * writers
    Table(
        {
            "name": [f"ING{k:06d}" for k in range(n)],
            "ra_deg": np.linspace(10.0, 60.0, n),
            "dec_deg": np.full(n, 20.0),
            "flux_mjy": np.ones(n),
        }
    ).write(workdir / "ingest.csv", format="ascii.csv")
    ingest_catalog(workdir / "ingest.csv", "ingest", url=url)
    with get_engine(url).connect() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT s.id FROM catalog_source s JOIN catalog c ON c.id = s.catalog_id "
                    "WHERE c.name = 'ingest' ORDER BY s.id"
                )
            )
        ]
    return [ids[k * n_rows : (k + 1) * n_rows] for k in range(writers)]


def _secondary_indexes(url: str) -> list[tuple[str, str]]:
    with get_engine(url).connect() as conn:
        return [
            (r.indexname, r.indexdef)
            for r in conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'photometry' AND "
                    "indexname NOT IN (SELECT conname FROM pg_constraint)"
                )
            )
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--npix", type=int, default=2048)
    parser.add_argument("--sources", type=int, default=600)
    parser.add_argument(
        "--ingest-products",
        type=int,
        default=80,
        help="Products per ingest run (at most --images).",
    )
    args = parser.parse_args()
    import pgserver

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.environ["CONTIMG_DATA_ROOTS"] = str(workdir)  # inherited by every worker
        os.environ["CONTIMG_STATE_DIR"] = str(workdir / "state")
        get_settings.cache_clear()
        server = pgserver.get_server(workdir / "pgdata", cleanup_mode="stop")
        server.psql("CREATE DATABASE bench;")
        url = server.get_uri("bench").replace("postgresql://", "postgresql+psycopg://", 1)
        upgrade(url)
        paths = simulated_images(
            workdir, url, args.images, npix=args.npix, n_sources=args.sources, n_distinct=4
        )
        stages, rows_per_image = _stages(paths, url)
        per_image = sum(stages.values())

        runs, loads = {}, {}
        for k, workers in enumerate((1, 2)):
            params = PhotometryParams(
                catalog="bench",
                normalize=False,
                fitting=FittingOptions(low_snr=3.0 + 1e-6 * (k + 1)),
            )
            load_before = os.getloadavg()[0]
            summary = reprocess_range(
                0.0, 1e6, params=params, executor="dask", workers=workers, chunk=100, url=url
            )
            runs[workers], loads[workers] = summary, (load_before, os.getloadavg()[0])
        table = RichTable(
            title=f"reprocess of {args.images} images of {args.npix}² with "
            f"~{rows_per_image} catalogue sources each (PostgreSQL)"
        )
        for col in (
            "Dask workers",
            "wall s",
            "images/s",
            "rows/s committed",
            "speed-up",
            "load before → after*",
        ):
            table.add_column(col, justify="right")
        for workers, summary in runs.items():
            table.add_row(
                str(workers),
                f"{summary.elapsed_s:.1f}",
                f"{summary.images_per_s:.2f}",
                f"{summary.rows / summary.elapsed_s:.0f}",
                f"{runs[1].elapsed_s / summary.elapsed_s:.2f}×",
                f"{loads[workers][0]:.1f} → {loads[workers][1]:.1f}",
            )
        console.print(table)
        console.print(
            f"* 1-minute load average on {os.cpu_count()} cores, this run's own processes "
            "included: other work on the machine shows as load above the run's workers"
        )
        split = RichTable(title="time per image in one process, one thread (mean of 8)")
        for col in ("read", "measure", "database", "total"):
            split.add_column(col, justify="right")
        split.add_row(
            *(
                f"{stages[s] * 1e3:.0f} ms ({stages[s] / per_image:.0%})"
                for s in ("read", "measure", "database")
            ),
            f"{per_image * 1e3:.0f} ms",
        )
        console.print(split)

        ids = [register_data(p, url=url) for p in paths][: args.ingest_products]
        n_rows = rows_per_image
        source_ids = _ingest_sources(workdir, url, n_rows, max(WRITERS))
        indexes = _secondary_indexes(url)
        ceiling = {}
        for label in ("with indexes", "without secondary indexes"):
            if label.startswith("without"):
                with get_engine(url).begin() as conn:
                    for name, _definition in indexes:
                        conn.execute(text(f"DROP INDEX {name}"))
            for writers in WRITERS:
                ceiling[(label, writers)] = _ingest(
                    url, ids, source_ids, writers, f"{label[:4]}{writers}"
                )
        with get_engine(url).begin() as conn:
            for _name, definition in indexes:
                conn.execute(text(definition))
        ingest = RichTable(
            title=f"ingest ceiling: {len(ids)} products × {n_rows} rows, one "
            "COPY transaction per product"
        )
        ingest.add_column("writers", justify="right")
        for label in ("with indexes", "without secondary indexes"):
            ingest.add_column(f"rows/s {label}", justify="right")
        for writers in WRITERS:
            ingest.add_row(
                str(writers),
                *(
                    f"{ceiling[(label, writers)]:.0f}"
                    for label in ("with indexes", "without secondary indexes")
                ),
            )
        console.print(ingest)
        console.print(f"secondary indexes: {', '.join(n for n, _ in indexes) or 'none'}")

        per_worker = runs[1].images_per_s  # one worker's rate, scaled linearly
        compute_h = YEAR_IMAGES / (per_worker * CLUSTER) / 3600
        best_ingest = max(v for (label, _w), v in ceiling.items() if label == "with indexes")
        database_h = YEAR_ROWS / best_ingest / 3600
        projection = RichTable(
            title=f"projection: one DSA-110 year ({YEAR_IMAGES} images, "
            f"{YEAR_ROWS:.0e} rows) on {CLUSTER} workers"
        )
        for col in ("quantity", "arithmetic", "hours"):
            projection.add_column(col)
        projection.add_row(
            "measuring",
            f"{YEAR_IMAGES} / ({per_worker:.2f} images/s/worker × {CLUSTER})",
            f"{compute_h:.2f}",
        )
        projection.add_row(
            "database ingest",
            f"{YEAR_ROWS:.0e} / {best_ingest:.0f} rows/s (best measured ceiling)",
            f"{database_h:.2f}",
        )
        bottleneck = "database ingest" if database_h > compute_h else "measuring (CPU)"
        projection.add_row(
            "expected",
            f"max of the two; first bottleneck: {bottleneck}",
            f"{max(compute_h, database_h):.2f}",
        )
        console.print(projection)
        get_engine(url).dispose()
        server.cleanup()


if __name__ == "__main__":
    main()
