"""``contimg mosaic``: group registered images into mosaics, measure them, publish them."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table as RichTable

if TYPE_CHECKING:
    from dsa110_contimg.mosaic.orchestrator import PassSummary

__all__ = ["mosaic"]

console = Console()


def mosaic(
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
    interval: float | None = typer.Option(
        None, "--interval", min=0.1, help="Seconds between passes (default mosaic.interval_s)."
    ),
    flush: bool = typer.Option(
        False,
        "--flush",
        help="Also build groups whose time window is still open (end of a "
        "run), if they have mosaic.min_images images.",
    ),
    worker: bool = typer.Option(
        False,
        "--worker",
        help="Also measure queued photometry in this process (otherwise "
        "`contimg worker` or `contimg run` does).",
    ),
) -> None:
    """Build mosaics of registered images, measure them, then publish them.

    Images are grouped by time window and declination strip (settings ``mosaic.*``); a
    mosaic is published only after its photometry is completed or failed
    (``publish.wait_for_photometry``).
    """
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.mosaic.orchestrator import run_once

    upgrade()
    settings = get_settings()
    stop = threading.Event()
    if worker:
        threading.Thread(
            target=_work_until, args=(stop,), daemon=True, name="mosaic-photometry-worker"
        ).start()
    try:
        while True:
            _show(run_once(settings=settings, flush=flush))
            if once:
                return
            time.sleep(interval or settings.mosaic.interval_s)
    finally:
        stop.set()


def _work_until(stop: threading.Event) -> None:
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.jobs.worker import run_worker

    settings = get_settings()
    while not stop.is_set():
        run_worker(stop_when_idle=True, settings=settings.jobs)
        stop.wait(settings.jobs.poll_s)


def _show(summary: PassSummary) -> None:
    if not (summary.built or summary.published or summary.waiting or summary.skipped):
        console.print("no mosaic to build or publish", markup=False)
        return
    table = RichTable(title="mosaics")
    for column in (
        "data_id",
        "images",
        "job",
        "photometry",
        "measured",
        "failed",
        "median S/N",
        "timings s",
        "published",
        "note",
    ):
        table.add_column(column)
    built = {o.data_id for o in summary.built}
    for outcome in summary.published + summary.waiting:
        table.add_row(
            outcome.data_id + (" (new)" if outcome.data_id in built else ""),
            _text(outcome.n_images),
            _text(outcome.job_id),
            _text(outcome.photometry_status),
            _text(outcome.n_measured),
            _text(outcome.n_failed),
            "" if outcome.median_snr is None else f"{outcome.median_snr:.1f}",
            ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in outcome.timings_s.items()),
            _text(outcome.published_path),
            outcome.reason or outcome.photometry_error or "",
        )
    console.print(table)
    for name, reason in summary.skipped:
        console.print(f"skipped {name}: {reason}", markup=False)


def _text(value: object) -> str:
    return "" if value is None else str(value)
