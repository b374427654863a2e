"""Cost of the adaptive sub-band stage against the MFS photometry of the same observation.

Simulates one observation's MFS image and its 16 sub-band images (restoring beam ∝ 1/ν,
beam-correlated noise, an NVSS-like sky with spectral indices), then times forced photometry of
every source on the MFS image and the sub-band stage (each sub-band image read and measured
once, then binning and spectral fits of every source), and prints the ratio (the target is at
most ~16×: one MFS measurement per sub-band, nothing per source).

    .venv/bin/python benchmarks/bench_adaptive.py [--npix 2048] [--sources 600]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npix", type=int, default=2048)
    parser.add_argument("--sources", type=int, default=600)
    args = parser.parse_args()
    from astropy.table import Table

    from dsa110_contimg.imaging.simulate import make_sky, simulate_image
    from dsa110_contimg.photometry.adaptive import measure_subbands, spectra
    from dsa110_contimg.photometry.forced import measure_many

    directory = Path(tempfile.mkdtemp(prefix="contimg-adaptive-"))
    freqs = np.linspace(1.3115e9, 1.4990e9, 16)
    radius = args.npix * 2.0 / 3600 / 2
    sky = make_sky(150.0, 45.0, radius, seed=1, n_sources=args.sources, extended_fraction=0.0)
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
                npix=args.npix,
                noise_jy=noise,
                beam_major_arcsec=58.0 * scale,
                beam_minor_arcsec=18.0 * scale,
                freq_hz=freq,
                pb=None,
                seed=k,
            ).path
        )
    ra, dec = np.asarray(sky["ra_deg"]), np.asarray(sky["dec_deg"])
    mfs = min(_timed(lambda: measure_many(paths[0], ra, dec)) for _ in range(2))
    stage = {"measure": float("inf"), "bins and fits": float("inf")}

    def subbands():
        start = time.perf_counter()
        measured = measure_subbands(paths[1:], ra, dec)
        stage["measure"] = min(stage["measure"], time.perf_counter() - start)
        start = time.perf_counter()
        spectra(measured)
        stage["bins and fits"] = min(stage["bins and fits"], time.perf_counter() - start)

    for _ in range(2):  # the best of two runs, as for the MFS photometry
        subbands()
    total = stage["measure"] + stage["bins and fits"]
    print(
        "| image | sources | MFS photometry | sub-band measurement (16 images) | "
        "bins + spectral fits | sub-band stage / MFS |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.npix}² | {len(sky)} | {mfs:.2f} s | {stage['measure']:.2f} s | "
        f"{stage['bins and fits']:.2f} s | {total / mfs:.1f}× |"
    )


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
