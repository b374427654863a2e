"""Cost of the adaptive sub-band stage against the MFS photometry of the same observation.

Simulates one observation's MFS image and its 16 sub-band images (restoring beam ∝ 1/ν,
beam-correlated noise, an NVSS-like sky with spectral indices), then times forced photometry of
every source on the MFS image and the sub-band stage (each sub-band image read and measured
once, then binning and spectral fits of every source), and prints the ratio (the target is at
most ~16×: one MFS measurement per sub-band, nothing per source). Each run takes the best of
two timings of each part; the table has one row per run, with the machine's load average
over the last minute when the run ended (other work on the machine slows the parts unevenly,
so the ratio is only meaningful on a quiet machine), then the median ratio.

    .venv/bin/python benchmarks/bench_adaptive.py [--npix 2048] [--sources 600] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npix", type=int, default=2048)
    parser.add_argument("--sources", type=int, default=600)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contimg-adaptive-") as directory:
        paths, ra, dec = _simulate(Path(directory), args.npix, args.sources)
        print(
            "| run | image | sources | MFS photometry | sub-band measurement (16 images) | "
            "bins + spectral fits | sub-band stage / MFS | load (1 min) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        ratios = []
        for run in range(1, args.runs + 1):
            mfs, measure, fits = _run(paths, ra, dec)
            ratios.append((measure + fits) / mfs)
            print(
                f"| {run} | {args.npix}² | {ra.size} | {mfs:.3f} s | {measure:.3f} s | "
                f"{fits:.3f} s | {ratios[-1]:.1f}× | {os.getloadavg()[0]:.2f} |"
            )
    if args.runs > 1:
        print(f"\nmedian sub-band stage / MFS over {args.runs} runs: {np.median(ratios):.1f}×")


def _simulate(
    directory: Path, npix: int, n_sources: int
) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """The MFS image and the 16 sub-band images of one observation, and the sky positions."""
    from astropy.table import Table

    from dsa110_contimg.imaging.simulate import make_sky, simulate_image

    freqs = np.linspace(1.3115e9, 1.4990e9, 16)
    radius = npix * 2.0 / 3600 / 2
    sky = make_sky(150.0, 45.0, radius, seed=1, n_sources=n_sources, extended_fraction=0.0)
    alpha = np.random.default_rng(1).normal(-0.7, 0.3, len(sky))
    paths = []
    for k, freq in enumerate([1.405e9, *freqs]):
        scaled = Table(sky, copy=True)
        scaled["flux_jy"] = sky["flux_jy"] * (freq / 1.4e9) ** alpha
        scale = 1.405e9 / freq
        noise = 0.5e-3 if k == 0 else 2e-3
        name = "mfs-image.fits" if k == 0 else f"obs-{k - 1:04d}-image.fits"
        paths.append(
            simulate_image(
                directory / name,
                scaled,
                center_ra_deg=150.0,
                center_dec_deg=45.0,
                npix=npix,
                noise_jy=noise,
                beam_major_arcsec=58.0 * scale,
                beam_minor_arcsec=18.0 * scale,
                freq_hz=freq,
                pb=None,
                seed=k,
            ).path
        )
    return paths, np.asarray(sky["ra_deg"]), np.asarray(sky["dec_deg"])


def _run(paths: list[Path], ra: np.ndarray, dec: np.ndarray) -> tuple[float, float, float]:
    """Seconds of the MFS photometry, the sub-band measurement and the bins and fits (each
    the best of two)."""
    from dsa110_contimg.photometry.adaptive import measure_subbands, spectra
    from dsa110_contimg.photometry.forced import measure_many

    mfs = min(_timed(lambda: measure_many(paths[0], ra, dec)) for _ in range(2))
    measure, fits = float("inf"), float("inf")
    for _ in range(2):
        start = time.perf_counter()
        measured = measure_subbands(paths[1:], ra, dec)
        measure = min(measure, time.perf_counter() - start)
        start = time.perf_counter()
        spectra(measured)
        fits = min(fits, time.perf_counter() - start)
    return mfs, measure, fits


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
