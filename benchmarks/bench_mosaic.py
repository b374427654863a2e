"""Mosaic building: time and peak memory for 12 drift-scan images, and photometry on the mosaic.

Run with ``.venv/bin/python benchmarks/bench_mosaic.py [--sizes 2048 4096] [--images 12]``.
For each image size, twelve PB-corrected images (2″ pixels, 58″×18″ beam, 1 mJy noise,
Gaussian PB) half an image width apart in RA, five minutes apart, are combined by
`dsa110_contimg.mosaic.builder.build_mosaic` in a fresh process (wall and CPU time; peak
memory allocated during the build and the process's peak resident memory). Then the
catalogue sources on the mosaic are measured with `measure_many`, the noise map as rms map,
and compared with the injected fluxes.

At 2048² every image is simulated from one NVSS-like sky. At 4096² simulating twelve images
would take longer than mosaicking them, so one image is simulated and written twelve times
with shifted coordinates and times: the timing and memory are those of real inputs, the
fluxes are not compared.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.time import Time
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.imaging.fits_io import load_image, load_plane
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.mosaic.builder import build_mosaic
from dsa110_contimg.photometry.forced import measure_many

RA0, DEC0 = 150.0, 37.2
PIXEL_ARCSEC = 2.0


def _images(workdir: Path, npix: int, n_images: int, simulate_all: bool):
    step = npix * PIXEL_ARCSEC / 3600.0 / 2.0 / math.cos(math.radians(DEC0))
    centre = RA0 + step * (n_images - 1) / 2
    half_length = (
        step * (n_images - 1) * math.cos(math.radians(DEC0)) + npix * PIXEL_ARCSEC / 3600.0
    ) / 2
    sky = make_sky(
        centre, DEC0, half_length * 1.05, seed=7, min_flux_jy=2.5e-3, extended_fraction=0.0
    )
    paths = []
    template = None
    for k in range(n_images):
        path = workdir / f"bench{npix}-{k:02d}-image-pb.fits"
        date = Time("2026-03-01T06:00:00") + k * 300.0 * u.s
        if simulate_all or template is None:
            simulate_image(
                path,
                sky,
                center_ra_deg=RA0 + k * step,
                center_dec_deg=DEC0,
                npix=npix,
                pixel_arcsec=PIXEL_ARCSEC,
                noise_jy=1e-3,
                pb="gaussian",
                pb_corrected=True,
                date_obs=date.isot,
                seed=k,
            )
            template = template or path
        else:
            with fits.open(template) as hdul:
                header = hdul[0].header
                header["CRVAL1"] = RA0 + k * step
                header["OBSRA"] = RA0 + k * step
                header["DATE-OBS"] = date.isot
                hdul.writeto(path, overwrite=True)
        paths.append(path)
    return sky, paths


def _build(paths: list[Path], output: Path) -> dict:
    """Runs in a fresh process: build; report wall and CPU time, the peak of the memory
    allocated during the build (tracemalloc, which numpy reports to) and the process's peak
    resident memory (imports included)."""
    tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    result = build_mosaic(paths, output)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    allocated = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "seconds": elapsed,
        "cpu_s": cpu,
        "allocated_mb": allocated / 2**20,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "shape": result.shape,
        "timings": result.timings_s,
        "noise_path": result.noise_path,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--images", type=int, default=12)
    args = parser.parse_args()
    table = RichTable(title=f"mosaic of {args.images} drift-scan images (2 cores)")
    for column in (
        "image",
        "mosaic px",
        "build s (CPU s)",
        "plan / reproject / write s",
        "allocated peak MB",
        "process peak RSS MB",
        "sources",
        "photometry s",
        "median S/N>50 ratio",
        "empirical / noise map",
    ):
        table.add_column(column)
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-mosaic-") as tmp:
        for npix in args.sizes:
            workdir = Path(tmp)
            sky, paths = _images(workdir, npix, args.images, simulate_all=npix <= 2048)
            output = workdir / f"mosaic{npix}-pb.fits"
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                built = pool.submit(_build, paths, output).result()
            mosaic = load_image(output)
            noise = load_plane(built["noise_path"], mosaic)
            start = time.perf_counter()
            measured = measure_many(mosaic, sky["ra_deg"], sky["dec_deg"], rms_map=noise)
            photometry_s = time.perf_counter() - start
            on = np.isfinite(np.asarray(measured["peak_jyb"], dtype=float))
            ratio = "n/a (copies)"
            if npix <= 2048:
                clean = (
                    on
                    & ((np.asarray(measured["flags"]) & ~8) == 0)
                    & (np.asarray(measured["snr"]) > 50)
                )
                peaks = np.asarray(measured["peak_jyb"])[clean]
                median = np.median(peaks / np.asarray(sky["flux_jy"])[clean])
                ratio = f"{median:.4f} (n={clean.sum()})"
            z = (mosaic.data / noise)[np.isfinite(noise)]
            empirical = sigma_clipped_stats(z, sigma=3.0, maxiters=10, stdfunc="mad_std")[2]
            t = built["timings"]
            table.add_row(
                f"{npix}²",
                f"{built['shape'][1]}×{built['shape'][0]}",
                f"{built['seconds']:.1f} ({built['cpu_s']:.1f})",
                f"{t['plan']:.1f} / {t['reproject']:.1f} / {t['write']:.1f}",
                f"{built['allocated_mb']:.0f}",
                f"{built['rss_mb']:.0f}",
                str(int(on.sum())),
                f"{photometry_s:.1f}",
                ratio,
                f"{empirical:.3f}",
            )
            for path in workdir.glob("*.fits"):
                path.unlink()
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
