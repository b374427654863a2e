"""``contimg run``: the pipeline service an operator runs."""

from __future__ import annotations

import signal
import statistics
import threading
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from dsa110_contimg.cli.stream import stream_settings

if TYPE_CHECKING:
    from dsa110_contimg.runner import RunSummary

__all__ = ["print_summary", "run"]


def run(
    until_idle: bool = typer.Option(
        False,
        "--until-idle",
        help="Process what is there (images, photometry, mosaics), print a summary and exit.",
    ),
    api: bool = typer.Option(True, "--api/--no-api", help="Also serve the HTTP API."),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (default: setting jobs.workers)."
    ),
    imager: str | None = typer.Option(None, "--imager", help="external | command | simulated."),
) -> None:
    """Start the streaming converter, the mosaic orchestrator, a worker pool, the periodic
    reconciliation sweep and (by default) the HTTP API; stop with Ctrl-C or SIGTERM (each
    worker finishes its current item first)."""
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.runner import run_pipeline

    console = Console(stderr=True)
    settings = stream_settings(get_settings(), imager=imager)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    summary = run_pipeline(
        settings,
        until_idle=until_idle,
        serve_api=api and not until_idle,
        workers=workers,
        stop=stop,
        progress=lambda line: console.print(escape(line), highlight=False),
    )
    print_summary(summary, Console())


def print_summary(summary: RunSummary, console: Console) -> None:
    """Products by type and photometry status, rows, stage timings and latency."""
    table = RichTable(title="products")
    for column in ("type", "photometry", "count"):
        table.add_column(column)
    for (data_type, status), count in sorted(
        summary.products.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))
    ):
        table.add_row(data_type, status or "not requested", str(count))
    console.print(table)
    failed = [r for r in summary.observations if r.status == "failed"]
    for record in failed:
        console.print(f"observation {escape(record.key)} failed: {escape(record.error or '')}")
    mosaics = [o for p in summary.mosaic_passes for o in p.published]
    for outcome in mosaics:
        snr = f", median S/N {outcome.median_snr:.0f}" if outcome.median_snr else ""
        console.print(
            f"mosaic {outcome.data_id}: {outcome.n_measured} sources measured{snr}", highlight=False
        )
    n = len(summary.observations)
    stages = ", ".join(f"{k} {v / max(n, 1):.2f} s" for k, v in summary.stage_s.items())
    console.print(
        f"{n} observation(s), {len(failed)} failed; {summary.photometry_rows} "
        f"photometry rows; per observation: {stages or '-'}",
        highlight=False,
    )
    if summary.latency_s:
        console.print(
            f"latency image written → photometry committed: median "
            f"{summary.median_latency_s:.2f} s, max {max(summary.latency_s):.2f} s "
            f"over {len(summary.latency_s)} images "
            f"(spread {statistics.pstdev(summary.latency_s):.2f} s)",
            highlight=False,
        )
    console.print(f"wall time {summary.wall_s:.1f} s", highlight=False)
