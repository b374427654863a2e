"""Forced-photometry speed: per-source cost, whole images, and photutils for comparison.

Run with ``make bench`` or ``.venv/bin/python benchmarks/bench_forced.py [--quick]``.
Prints one table; every figure is the best of ``--repeat`` runs after one warm-up (numba
compilation and page cache excluded).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.photometry.forced import measure_many

RA0, DEC0 = 150.0, 37.2
PIXEL_ARCSEC = 2.0
BEAM = (58.0, 18.0, 110.0)


def _best(fn, repeat: int):
    fn()  # warm-up
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _simulate(
    workdir: Path, npix: int, n_positions: int, seed: int
) -> tuple[Path, np.ndarray, np.ndarray]:
    """An image with up to 2000 injected sources; positions = those plus random ones."""
    radius = npix * PIXEL_ARCSEC / 3600.0 / 2.0
    n_inject = min(n_positions, 2000)
    sky = make_sky(
        RA0, DEC0, radius, seed=seed, n_sources=n_inject, min_flux_jy=2e-3, max_flux_jy=0.5
    )
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    sim = simulate_image(
        workdir / f"bench_{npix}_{n_positions}.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=npix,
        pixel_arcsec=PIXEL_ARCSEC,
        noise_jy=1e-3,
        pb=None,
        seed=seed,
    )
    extra = make_sky(RA0, DEC0, radius, seed=seed + 1, n_sources=n_positions - n_inject)
    ra = np.concatenate([np.asarray(sky["ra_deg"]), np.asarray(extra["ra_deg"])])
    dec = np.concatenate([np.asarray(sky["dec_deg"]), np.asarray(extra["dec_deg"])])
    return sim.path, ra, dec


def _lattice(image, pair_offset_pix: float | None):
    """Positions on a lattice spaced 2.6 beams along x (≈ major axis) and y (≈ minor axis), so
    that none is grouped; optionally each with a companion one FWHM along the major axis."""
    ny, nx = image.shape
    sx, sy = 2.6 * BEAM[0] / PIXEL_ARCSEC, 2.6 * 1.5 * BEAM[1] / PIXEL_ARCSEC
    if pair_offset_pix is not None:
        sx *= 2
    x, y = (v.ravel() for v in np.meshgrid(np.arange(sx, nx - sx, sx), np.arange(sy, ny - sy, sy)))
    if pair_offset_pix is not None:
        theta = math.radians(BEAM[2])
        dx, dy = -math.sin(theta) * pair_offset_pix, math.cos(theta) * pair_offset_pix
        x, y = np.concatenate([x, x + dx]), np.concatenate([y, y + dy])
    ra, dec = image.pixel_to_sky(x, y)
    return np.asarray(ra), np.asarray(dec)


def per_source_rows(workdir: Path, repeat: int) -> list[tuple]:
    path, _, _ = _simulate(workdir, 4096, 2000, seed=1)
    image = load_image(path)
    rows = []
    for label, offset in (("isolated", None), ("blended pair (1 FWHM)", BEAM[0] / PIXEL_ARCSEC)):
        ra, dec = _lattice(image, offset)
        _, table = _best(partial(measure_many, image, ra, dec), repeat)
        t = table.meta["timing_s"]
        per = {k: v / len(ra) * 1e6 for k, v in t.items()}
        rows.append(
            (
                f"per source: {label}",
                "4096²",
                len(ra),
                f"{per['geometry'] + per['fit'] + per['quality']:.2f} µs",
                f"geometry {per['geometry']:.2f} / fit {per['fit']:.2f} / quality "
                f"{per['quality']:.2f} µs; image-level noise+calibration "
                f"{t['noise'] + t['residual'] + t['calibration']:.3f} s",
                "",
                "",
            )
        )
    return rows


def whole_image_rows(
    workdir: Path, sizes: list[int], counts: list[int], repeat: int
) -> list[tuple]:
    from photutils.aperture import CircularAperture, aperture_photometry

    rows = []
    for npix in sizes:
        for count in counts:
            path, ra, dec = _simulate(workdir, npix, count, seed=2)
            read_s, image = _best(partial(load_image, path), repeat)
            total_s, table = _best(partial(measure_many, image, ra, dec), repeat)
            t = table.meta["timing_s"]
            x, y = (np.asarray(v) for v in image.sky_to_pixel(ra, dec))
            apertures = CircularAperture(np.column_stack([x, y]), r=BEAM[0] / PIXEL_ARCSEC / 2)
            phot_s, _ = _best(partial(aperture_photometry, image.data, apertures), repeat)
            rows.append(
                (
                    f"whole image {npix}²",
                    f"{npix}²",
                    count,
                    f"{read_s + total_s:.3f} s",
                    f"read {read_s:.3f} / geometry {t['geometry']:.3f} / "
                    f"fit {t['fit']:.3f} / "
                    f"noise {t['noise'] + t['residual'] + t['calibration']:.3f} / "
                    f"quality {t['quality']:.3f}",
                    f"{phot_s:.3f} s",
                    f"{(read_s + total_s) / phot_s:.1f}×",
                )
            )
    return rows


def crowded_rows(workdir: Path, repeat: int) -> list[tuple]:
    """~8k positions on 1024², ~1 source per 4 beams: one blend group solved sparsely."""
    from dsa110_contimg.photometry.options import FittingOptions

    sky = make_sky(RA0, DEC0, 0.4, seed=11, n_sources=8000, min_flux_jy=1e-3, max_flux_jy=0.02)
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    sim = simulate_image(
        workdir / "crowd.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=1024,
        pb=None,
        seed=11,
    )
    image = load_image(sim.path)
    ra, dec = np.asarray(sky["ra_deg"]), np.asarray(sky["dec_deg"])
    total_s, table = _best(
        lambda: measure_many(image, ra, dec, options=FittingOptions(max_dense_group=32)), repeat
    )
    t = table.meta["timing_s"]
    return [
        (
            "crowded field (sparse blend)",
            "1024²",
            len(sky),
            f"{total_s:.3f} s",
            f"geometry {t['geometry']:.3f} / fit {t['fit']:.3f}",
            "-",
            "-",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2048² only, 1k positions")
    parser.add_argument("--sizes", type=int, nargs="+", help="image sizes (default 2048 4096 8192)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [2048] if args.quick else (args.sizes or [2048, 4096, 8192])
    counts = [1000] if args.quick else [1000, 10000, 20000]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows = (
            per_source_rows(workdir, args.repeat)
            + whole_image_rows(workdir, sizes, counts, args.repeat)
            + crowded_rows(workdir, args.repeat)
        )
    view = RichTable(
        title="forced photometry benchmark (best of "
        f"{args.repeat}; 2 cores; beam 58″×18″ PA 110° on 2″ pixels)"
    )
    for col in ("case", "image", "positions", "time", "split (s)", "photutils aperture", "ratio"):
        view.add_column(col)
    for row in rows:
        view.add_row(*(str(v) for v in row))
    Console().print(view)


if __name__ == "__main__":
    main()
