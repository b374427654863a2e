"""``contimg demo``: simulate a DSA-110-like image, measure it and print what came out."""

from __future__ import annotations

import numpy as np
import typer
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.config import get_settings
from dsa110_contimg.demo import run_demo
from dsa110_contimg.photometry.flags import decode_flags

__all__ = ["demo"]


def demo(npix: int = typer.Option(2048, help="Image size in pixels (2″ pixels)."),
         rows: int = typer.Option(15, help="Brightest sources to list.")) -> None:
    """Simulate an NVSS-like sky image, run forced photometry on it, print a summary table."""
    console = Console()
    settings = get_settings()
    with console.status("simulating, ingesting the catalogue and measuring…"):
        result = run_demo(settings, npix=npix)
    table = result.table
    order = np.argsort(-np.nan_to_num(np.asarray(table["peak_jyb"]), nan=-np.inf))[:rows]
    view = RichTable(title=f"forced photometry of {result.image.name}: brightest {rows} of "
                           f"{len(table)} catalogue sources in the footprint")
    view.add_column("name", no_wrap=True)
    for col in ("peak (mJy/beam)", "error", "injected", "S/N", "group", "flags"):
        view.add_column(col, justify="right")
    for i in order:
        row = table[i]
        view.add_row(str(row["name"]), f"{1e3 * row['peak_jyb']:.2f}",
                     f"{1e3 * row['peak_err_jyb']:.2f}", f"{1e3 * result.truth_peak_jyb[i]:.2f}",
                     f"{row['snr']:.0f}", str(row["group_size"]),
                     ",".join(decode_flags(row["flags"])) or "-")
    console.print(view)
    measured = int(np.isfinite(np.asarray(table["peak_jyb"])).sum())
    console.print(
        f"measured {measured}/{len(table)} sources; median measured/injected (S/N>20) "
        f"{result.median_ratio():.4f}; pull width {result.pull_width():.2f} "
        f"({int(result.good.sum())} unflagged sources); "
        f"error scale κ={table.meta['error_scale']:.2f} ({table.meta['error_calibration']})")
    console.print("timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings_s.items())
                  + f"; measurements in {result.measurements}")
