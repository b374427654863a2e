"""``contimg stream``: the streaming converter (watch, image, register, queue photometry)."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

if TYPE_CHECKING:
    from dsa110_contimg.config import Settings
    from dsa110_contimg.conversion.streaming.ledger import ObservationRecord

__all__ = ["observations", "stream", "stream_settings"]

console = Console(stderr=True)


def stream_settings(
    settings: Settings,
    *,
    input_dir: Path | None = None,
    output_dir: Path | None = None,
    imager: str | None = None,
    settle_s: float | None = None,
) -> Settings:
    """``settings`` with the ``stream`` section overridden by command-line values."""
    overrides = {
        k: v
        for k, v in {
            "input_dir": input_dir and input_dir.resolve(),
            "output_dir": output_dir and output_dir.resolve(),
            "imager": imager,
            "settle_s": settle_s,
        }.items()
        if v is not None
    }
    return settings.model_copy(update={"stream": settings.stream.model_copy(update=overrides)})


def stream(
    input_dir: Path | None = typer.Option(
        None, "--input-dir", help="Watched directory (default: setting stream.input_dir)."
    ),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", help="Where images are written (default: setting stream.output_dir)."
    ),
    imager: str | None = typer.Option(
        None, "--imager", help="external | command | wsclean | simulated (setting stream.imager)."
    ),
    enable_photometry: bool | None = typer.Option(
        None,
        "--enable-photometry/--disable-photometry",
        help="Queue forced photometry of each new image (default: setting photometry.enabled).",
    ),
    photometry_catalog: str | None = typer.Option(
        None, "--photometry-catalog", help="Catalogue to measure (e.g. nvss)."
    ),
    photometry_radius: float | None = typer.Option(
        None, "--photometry-radius", help="Cone radius in degrees (default: the image footprint)."
    ),
    photometry_normalize: bool | None = typer.Option(
        None,
        "--photometry-normalize/--no-photometry-normalize",
        help="Normalize fluxes against reference sources.",
    ),
    settle: float | None = typer.Option(
        None, "--settle", help="Seconds a file must be unchanged to count as complete."
    ),
    once: bool = typer.Option(
        False,
        "--once",
        help="Process what is there now — image, register and measure (the "
        "queued photometry is run by workers in this process) — then exit.",
    ),
    queue_only: bool = typer.Option(
        False,
        "--queue-only",
        help="With --once: only queue the photometry and say how many "
        "items wait for `contimg worker` or `contimg run`.",
    ),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Try observations that failed before again."
    ),
) -> None:
    """Watch a directory for new observations; image, register and measure each exactly once.

    Outcomes are kept in ``<state_dir>/stream/ledger``: an observation is never processed twice,
    also across restarts; a failed one keeps its reason there (and in the log) until
    ``--retry-failed``. While watching, photometry is queued for workers (``contimg worker``, or
    ``contimg run`` which runs both) and a reconciliation sweep runs every
    ``stream.reconcile_interval_s`` (see ``contimg reconcile``). With ``--once`` the queued
    photometry is measured in this process before it exits, unless ``--queue-only``.
    """
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.conversion.streaming.streaming_converter import StreamingConverter
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.registry import get_photometry_status
    from dsa110_contimg.jobs.reconcile import PeriodicSweep
    from dsa110_contimg.jobs.worker import run_worker

    settings = stream_settings(
        get_settings(), input_dir=input_dir, output_dir=output_dir, imager=imager, settle_s=settle
    )
    upgrade(settings.database_url)
    enabled = settings.photometry.enabled if enable_photometry is None else enable_photometry
    converter = StreamingConverter.from_settings(
        settings,
        enable_photometry=enabled,
        catalog=photometry_catalog,
        radius_deg=photometry_radius,
        normalize=photometry_normalize,
    )
    if retry_failed:
        retried = converter.ledger.forget_failed()
        console.print(f"retrying {len(retried)} failed observation(s)", markup=False)
    if once:
        # SIGTERM stops like Ctrl-C: an observation being processed is recorded as stopped,
        # which does not count as an attempt.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        converter.ledger.lock()
        try:
            records = converter.drain(_show)
        finally:
            converter.ledger.unlock()
        failed = sum(r.status == "failed" for r in records)
        console.print(f"{len(records)} observation(s) processed, {failed} failed", markup=False)
        queued = [r.data_id for r in records if r.job_id is not None and r.data_id]
        if queued and not queue_only:
            run_worker(stop_when_idle=True, settings=settings.jobs, url=settings.database_url)
        statuses = [get_photometry_status(d, url=settings.database_url).status for d in queued]
        waiting = sum(status in ("pending", "running") for status in statuses)
        phot_failed = statuses.count("failed")
        if queued:
            console.print(
                f"photometry: {len(queued) - waiting - phot_failed} completed, "
                f"{phot_failed} failed, {waiting} waiting for a worker "
                "(`contimg worker`)",
                markup=False,
            )
        raise typer.Exit(1 if failed or phot_failed else 0)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    converter.run(
        stop,
        poll_s=settings.stream.poll_s,
        use_polling=settings.stream.use_polling,
        every_pass=PeriodicSweep(settings.stream.reconcile_interval_s, url=settings.database_url),
    )


def _show(record: ObservationRecord) -> None:
    if record.status == "failed":
        console.print(
            f"[red]failed[/red] {escape(record.key)}: {escape(record.error or '')}", highlight=False
        )
    else:
        job = f"job {record.job_id}" if record.job_id else "no photometry"
        console.print(
            f"[green]done[/green] {escape(record.key)} → {record.data_id} ({job})", highlight=False
        )


def observations(
    failed: bool = typer.Option(False, "--failed", help="Only failed observations."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """What the streaming converter did with each observation (from its ledger): status,
    product, photometry job, failure reason or note, stage timings."""
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.conversion.streaming.ledger import Ledger

    settings = get_settings()
    records = Ledger(settings.state_dir / "stream" / "ledger").records()
    if failed:
        records = [r for r in records if r.status == "failed"]
    if as_json:
        for record in records:
            print(json.dumps(asdict(record)))
        return
    table = RichTable(title=f"observations ({len(records)})")
    for column in ("observation", "status", "data_id", "job", "reason / note", "seconds"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(
            record.key,
            record.status,
            record.data_id or "-",
            str(record.job_id or "-"),
            record.error or record.note or "",
            f"{sum(record.timings_s.values()):.2f}",
        )
    Console().print(table)
