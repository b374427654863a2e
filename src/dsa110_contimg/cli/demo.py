"""``contimg demo``: the whole pipeline on a simulated drift scan, then a summary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from dsa110_contimg.cli.run import print_summary

if TYPE_CHECKING:
    from dsa110_contimg.demo_visibilities import VisibilityDemoReport

__all__ = ["demo"]


def demo(
    days: int = typer.Option(6, help="Days on which the same strip transits."),
    images: int = typer.Option(3, help="5-minute images per day."),
    width: int = typer.Option(2560, help="Image width in 2″ pixels (east-west)."),
    height: int = typer.Option(1024, help="Image height in 2″ pixels."),
    seed: int = typer.Option(2026, help="Seed of the simulated sky, gains and noise."),
    visibilities: bool = typer.Option(
        True,
        "--visibilities/--no-visibilities",
        help="First take two observations from raw visibilities through WSClean (needs "
        "the wsclean program).",
    ),
) -> None:
    """Simulate drift-scan observations of an NVSS-like sky with a few dipping sources, run the
    pipeline on them (image, register, measure, mosaic, publish) and print a summary.

    When WSClean is installed, two DSA-110 observations are first simulated as raw UVH5
    sub-band files and taken through the whole chain (Measurement Set, WSClean, registry,
    photometry), and their fluxes compared with the injected ones."""
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.demo import DEMO_PRESET, run_demo
    from dsa110_contimg.demo_visibilities import run_visibility_demo

    console = Console()
    settings = get_settings()
    if visibilities:
        with console.status(
            "from visibilities: simulating, converting, imaging with WSClean…"
        ) as status:
            chain = run_visibility_demo(settings, progress=lambda line: status.update(escape(line)))
        _print_visibility_chain(chain, console)
    with console.status("running the pipeline on simulated observations…") as status:
        report = run_demo(
            settings,
            days=days,
            images_per_day=images,
            npix=(height, width),
            seed=seed,
            progress=lambda line: status.update(escape(line)),
        )
    print_summary(report.summary, console)
    plots = RichTable(title="light curves")
    plots.add_column("source")
    plots.add_column("kind")
    plots.add_column("plot")
    for path in report.plots:
        name = path.stem.removeprefix("lightcurve-")
        kind = "dipping" if any(name == v.replace(" ", "_") for v in report.variables) else "steady"
        plots.add_row(name, kind, str(path))
    console.print(plots)
    found = RichTable(title=f"variability candidates ({DEMO_PRESET} preset)")
    found.add_column("source", no_wrap=True)
    for column in (
        "kind",
        "false alarm",
        "by",
        "epochs",
        "η",
        "dip (MJD)",
        "depth",
        "injected dip",
    ):
        found.add_column(column, justify="right")
    for row in report.candidates:
        dip = (
            f"{row['dip_start_mjd']:.2f}–{row['dip_end_mjd']:.2f}"
            if row["dip_start_mjd"] is not None
            else ""
        )
        depth = f"{row['dip_depth']:.0%}" if row["dip_depth"] is not None else ""
        found.add_row(
            row["name"],
            row["kind"],
            f"{row['false_alarm']:.1e}",
            row["driver"],
            str(row["n_epochs"]),
            f"{row['eta']:.1f}",
            dip,
            depth,
            "yes" if row["name"] in report.variables else "no",
        )
    console.print(found)
    recovered = sum(
        row["name"] in report.variables and row["kind"] == "ese" for row in report.candidates
    )
    false = sum(row["name"] not in report.variables for row in report.candidates)
    console.print(
        f"{recovered} of {len(report.variables)} injected dips found as ESE; "
        f"{false} false candidates among {report.tested} sources tested "
        f"({report.expected_false:.2f} expected)",
        highlight=False,
    )
    console.print(f"state of the demo (database, images, mosaics): {report.state_dir}")
    console.print(
        "to look at it in a browser, run "
        f"CONTIMG_STATE_DIR={report.state_dir} {sys.argv[0]} serve\n"
        f"and open http://{settings.api.host}:{settings.api.port}/",
        highlight=False,
        soft_wrap=True,
    )


def _print_visibility_chain(report: VisibilityDemoReport, console: Console) -> None:
    if report.skipped:
        console.print(f"[yellow]from visibilities: skipped[/yellow] — {escape(report.skipped)}")
        return
    table = RichTable(title="from visibilities: UVH5 → MS → WSClean → photometry")
    table.add_column("observation", no_wrap=True)
    for column in ("conv s", "clean s", "ΔMJD s", "n", "median", "worst", "dip"):
        table.add_column(column, justify="right")
    for epoch in report.epochs:
        if epoch.error:
            table.add_row(epoch.key, f"failed: {escape(epoch.error)}")
            continue
        t = epoch.timings_s
        table.add_row(
            epoch.key,
            f"{t.get('convert', float('nan')):.1f}",
            f"{t.get('wsclean', float('nan')):.1f}",
            "-" if epoch.mjd_offset_s is None else f"{epoch.mjd_offset_s:+.2f}",
            str(epoch.n_bright),
            _ratio(epoch.median_ratio),
            _ratio(epoch.worst_ratio),
            _ratio(epoch.dipper_ratio),
        )
    console.print(table)
    console.print(
        "conv / clean: seconds to convert to a Measurement Set / in WSClean; ΔMJD: "
        "product time − simulated mid-time; n: S/N > 100 sources inside the "
        "half-power circle; median / worst: their measured (primary-beam corrected) "
        "/ injected flux; dip: the dipping source's flux / its undipped flux",
        highlight=False,
    )
    console.print(f"state of the visibility chain: {report.state_dir}")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
