"""Start-up cost of the ``contimg`` command line against bare Python baselines.

Run with ``.venv/bin/python benchmarks/bench_startup.py [--repeat 5] [--npix 4096]
[--positions 5000]``. Each command runs in a fresh process ``--repeat`` times; the table shows
the median wall time of each and the ratio of the two in each pair:

* ``contimg --help`` against ``python -c "import typer.rich_utils"`` (what rendering the help
  needs), target ≤ 2×;
* ``contimg photometry measure IMAGE --positions P.csv -o out.csv`` with 5,000 positions on a
  simulated 4096² image against ``python -c`` that reads the image with ``astropy.io.fits`` and
  takes its numpy median, target ≤ 3×.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 150.0, 37.2

#: Reads a FITS image and takes its median: the bare baseline of ``photometry measure``.
_READ_MEDIAN = (
    "import sys, numpy as np; from astropy.io import fits; "
    "print(np.median(fits.getdata(sys.argv[1])))"
)


def _contimg() -> list[str]:
    """The installed ``contimg`` script next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("contimg")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dsa110_contimg.cli"]


def _median_seconds(command: list[str], repeat: int) -> float:
    """Median wall time of ``repeat`` runs of ``command`` (each must succeed)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _simulate(work: Path, npix: int, n_positions: int) -> tuple[Path, Path]:
    """A simulated ``npix``² image and a CSV of ``n_positions`` positions spread over it."""
    sky = make_sky(RA0, DEC0, 0.4, seed=1, n_sources=300)
    image = simulate_image(
        work / "field-image-pb.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=npix,
        pb=None,
        seed=1,
        beam_major_arcsec=10.0,
        beam_minor_arcsec=8.0,
        date_obs="2026-05-01T00:00:00",
    ).path
    rng = np.random.default_rng(7)
    ra, dec = load_image(image).pixel_to_sky(
        rng.uniform(0, npix - 1, n_positions), rng.uniform(0, npix - 1, n_positions)
    )
    positions = work / "positions.csv"
    Table({"ra_deg": ra, "dec_deg": dec}).write(positions, format="ascii.csv", overwrite=True)
    return image, positions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="Runs of each command.")
    parser.add_argument("--npix", type=int, default=4096, help="Image side (pixels).")
    parser.add_argument("--positions", type=int, default=5000, help="Positions measured.")
    args = parser.parse_args()
    contimg = _contimg()
    table = RichTable(title=f"contimg start-up (median of {args.repeat} runs)")
    for column in ("command", "median", "baseline", "median", "ratio", "target"):
        table.add_column(column, justify="left" if column in ("command", "baseline") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image, positions = _simulate(work, args.npix, args.positions)
        pairs = [
            (
                "contimg --help",
                contimg + ["--help"],
                "import typer.rich_utils",
                [sys.executable, "-c", "import typer.rich_utils"],
                2.0,
            ),
            (
                f"contimg photometry measure ({args.positions:,} positions, {args.npix}²)",
                contimg
                + [
                    "photometry",
                    "measure",
                    str(image),
                    "--positions",
                    str(positions),
                    "-o",
                    str(work / "out.csv"),
                ],
                "astropy.io.fits read + np.median",
                [sys.executable, "-c", _READ_MEDIAN, str(image)],
                3.0,
            ),
        ]
        for name, command, base_name, baseline, target in pairs:
            seconds = _median_seconds(command, args.repeat)
            base_seconds = _median_seconds(baseline, args.repeat)
            ratio = seconds / base_seconds
            table.add_row(
                name,
                f"{seconds:.2f} s",
                base_name,
                f"{base_seconds:.2f} s",
                f"{ratio:.1f}×",
                f"≤ {target:g}×",
                style=None if ratio <= target else "red",
            )
    Console().print(table)


if __name__ == "__main__":
    main()
