"""``contimg demo``: the whole pipeline on a simulated drift scan, then a summary."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from dsa110_contimg.cli.run import print_summary
from dsa110_contimg.config import get_settings
from dsa110_contimg.demo import run_demo

__all__ = ["demo"]


def demo(days: int = typer.Option(6, help="Days on which the same strip transits."),
         images: int = typer.Option(3, help="5-minute images per day."),
         width: int = typer.Option(2560, help="Image width in 2″ pixels (east-west)."),
         height: int = typer.Option(1024, help="Image height in 2″ pixels.")) -> None:
    """Simulate drift-scan observations of an NVSS-like sky with a few dipping sources, run the
    pipeline on them (image, register, measure, mosaic, publish) and print a summary."""
    console = Console()
    settings = get_settings()
    with console.status("running the pipeline on simulated observations…") as status:
        report = run_demo(settings, days=days, images_per_day=images, npix=(height, width),
                          progress=lambda line: status.update(escape(line)))
    print_summary(report.summary, console)
    plots = RichTable(title="light curves")
    plots.add_column("source")
    plots.add_column("kind")
    plots.add_column("plot")
    for path in report.plots:
        name = path.stem.removeprefix("lightcurve-")
        kind = ("dipping" if any(name == v.replace(" ", "_") for v in report.variables)
                else "steady")
        plots.add_row(name, kind, str(path))
    console.print(plots)
    found = RichTable(title="variability candidates (moderate preset)")
    found.add_column("source", no_wrap=True)
    for column in ("kind", "score", "epochs", "V", "η", "deviation σ", "injected dip"):
        found.add_column(column, justify="right")
    for row in report.candidates:
        found.add_row(row["name"], row["kind"], f"{row['score']:.1f}", str(row["n_epochs"]),
                      f"{row['v']:.3f}", f"{row['eta']:.1f}", f"{row['deviation_sigma']:+.1f}",
                      "yes" if row["name"] in report.variables else "no")
    console.print(found)
    recovered = sum(row["name"] in report.variables for row in report.candidates)
    console.print(f"{recovered} of {len(report.variables)} injected dipping sources flagged",
                  highlight=False)
    console.print(f"state of the demo (database, images, mosaics): {report.state_dir}")
