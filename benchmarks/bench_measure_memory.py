"""Memory of ``contimg photometry measure --positions`` against the number of positions.

Run with ``.venv/bin/python benchmarks/bench_measure_memory.py [--sizes 1000 10000 100000]
[--npix 2048]``. Simulates one image (2″ pixels, 10″ × 8″ beam), writes position lists
spread uniformly over it, and runs the real command in a fresh process for each size, once in
bands of 5000 positions (the default ``--chunk-size``) and once all at once (``--chunk-size``
larger than the list). Prints wall time and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from astropy.table import Table
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.api.local_server import command_peak_memory
from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 150.0, 37.2


def _measure(image: Path, positions: Path, output: Path, chunk_size: int) -> tuple[float, float]:
    """Wall seconds and peak RSS in MiB of one ``contimg photometry measure`` process."""
    run = command_peak_memory(
        [
            "photometry",
            "measure",
            str(image),
            "--positions",
            str(positions),
            "-o",
            str(output),
            "--chunk-size",
            str(chunk_size),
        ]
    )
    return run.seconds, run.peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--npix", type=int, default=2048)
    args = parser.parse_args()
    table = RichTable(title=f"contimg photometry measure on a {args.npix}² image")
    for column in (
        "positions",
        "chunks of 5000: time",
        "peak RSS",
        "all at once: time",
        "peak RSS",
    ):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sky = make_sky(RA0, DEC0, 0.4, seed=1, n_sources=300)
        image = simulate_image(
            work / "field-image-pb.fits",
            sky,
            center_ra_deg=RA0,
            center_dec_deg=DEC0,
            npix=args.npix,
            pb=None,
            seed=1,
            beam_major_arcsec=10.0,
            beam_minor_arcsec=8.0,
            date_obs="2026-05-01T00:00:00",
        ).path
        loaded = load_image(image)
        rng = np.random.default_rng(7)
        for n in args.sizes:
            x = rng.uniform(0, args.npix - 1, n)
            y = rng.uniform(0, args.npix - 1, n)
            ra, dec = loaded.pixel_to_sky(x, y)
            positions = work / f"positions-{n}.csv"
            Table({"ra_deg": ra, "dec_deg": dec}).write(
                positions, format="ascii.csv", overwrite=True
            )
            chunked = _measure(image, positions, work / "out.csv", 5000)
            whole = _measure(image, positions, work / "out.csv", n)
            table.add_row(
                f"{n:,}",
                f"{chunked[0]:.1f} s",
                f"{chunked[1]:.0f} MiB",
                f"{whole[0]:.1f} s",
                f"{whole[1]:.0f} MiB",
            )
    Console().print(table)


if __name__ == "__main__":
    main()
