"""Batch-job throughput: images per second through the job system vs measuring directly.

Run with ``.venv/bin/python benchmarks/bench_jobs.py [--images 200]``. Simulates 1024² images
(a few distinct skies copied under new names and times), registers them in a SQLite database,
then measures them (1) directly in a loop, (2) as a job on the local process pool with 1 and 2
workers, and (3) on a 2-worker Dask LocalCluster. Prints one table.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.config import FittingOptions
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.executor import run_job
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job
from dsa110_contimg.photometry.sources import measure_catalog_sources

RA0, DEC0 = 150.0, 37.2


def simulated_images(
    workdir: Path,
    url: str,
    n_images: int,
    *,
    npix: int = 1024,
    n_sources: int | None = None,
    n_distinct: int = 8,
) -> list[Path]:
    """Ingest a simulated sky as the catalogue ``bench`` and register ``n_images`` images of it.

    Parameters
    ----------
    workdir : Path
        Where the catalogue and the images are written.
    url : str
        Database URL.
    n_images : int
        Images registered: copies of ``n_distinct`` simulated ones under new names, observed
        5 minutes apart.
    npix : int
        Image side; the sky's radius grows with it (0.45° at 1024²).
    n_sources : int, optional
        Sources of the sky (default: `make_sky`'s density).
    n_distinct : int
        Distinct simulated images (noise seeds).

    Returns
    -------
    list of Path
        The registered images, in observation order.
    """
    sky = make_sky(RA0, DEC0, 0.45 * npix / 1024, seed=3, n_sources=n_sources)
    catalogue = workdir / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(catalogue, format="ascii.csv")
    ingest_catalog(catalogue, "bench", url=url)
    masters = [
        simulate_image(
            workdir / f"master{k}.fits",
            sky,
            center_ra_deg=RA0,
            center_dec_deg=DEC0,
            npix=npix,
            pb="gaussian",
            seed=k,
        ).path
        for k in range(min(n_distinct, n_images))
    ]
    start = Time("2026-06-01T00:00:00")
    paths = []
    for k in range(n_images):
        path = workdir / f"obs{k:05d}-image-pb.fits"
        shutil.copy(masters[k % len(masters)], path)
        with fits.open(path, mode="update") as hdul:
            hdul[0].header["DATE-OBS"] = (start + k * 300.0 * u.s).isot
        register_data(path, url=url)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'jobs.sqlite3'}"
        upgrade(url)
        paths = simulated_images(workdir, url, args.images)
        measure_catalog_sources(paths[0], "bench", url=url)  # compile and warm caches
        start = time.perf_counter()
        n_sources = sum(len(measure_catalog_sources(p, "bench", url=url)) for p in paths)
        direct = time.perf_counter() - start
        rows.append(
            (
                "direct measure loop (1 process)",
                f"{direct:.1f} s",
                f"{len(paths) / direct:.1f}",
                f"{direct / len(paths) * 1e3:.0f} ms",
                "-",
            )
        )
        for k, (label, executor, workers) in enumerate(
            (
                ("job, local pool, 1 worker", "local", 1),
                ("job, local pool, 2 workers", "local", 2),
                ("job, Dask LocalCluster, 2 workers", "dask", 2),
            )
        ):
            params = PhotometryParams(
                catalog="bench", fitting=FittingOptions(low_snr=3.0 + 1e-6 * (k + 1))
            )
            job_id = create_batch_photometry_job(paths, params=params, url=url)
            start = time.perf_counter()
            run_job(job_id, executor=executor, workers=workers, url=url)
            elapsed = time.perf_counter() - start
            job = get_job(job_id, url=url)
            assert job.status == "completed", job.status
            rows.append(
                (
                    label,
                    f"{elapsed:.1f} s",
                    f"{len(paths) / elapsed:.1f}",
                    f"{elapsed / len(paths) * 1e3:.0f} ms",
                    f"{(elapsed * workers - direct) / len(paths) * 1e3:+.0f} ms",
                )
            )
    view = RichTable(
        title=f"batch photometry of {args.images} images of 1024² "
        f"(~{n_sources // len(paths)} sources each) on 2 cores"
    )
    for col in ("run", "wall time", "images/s", "per image", "overhead per item*"):
        view.add_column(col)
    for row in rows:
        view.add_row(*row)
    Console().print(view)
    Console().print(
        "* (wall time × workers − direct loop) / images: job bookkeeping, "
        "process start-up and database writes per item"
    )


if __name__ == "__main__":
    main()
