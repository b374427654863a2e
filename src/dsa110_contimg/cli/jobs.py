"""``contimg worker`` and ``contimg jobs``: run and monitor batch photometry jobs."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table as RichTable

if TYPE_CHECKING:
    from dsa110_contimg.jobs.service import JobSummary

__all__ = ["app", "worker"]

app = typer.Typer(help="Batch photometry jobs.", no_args_is_help=True)
console = Console(stderr=True)


def worker(
    once: bool = typer.Option(False, "--once", help="Exit when no item is due."),
    dask: str | None = typer.Option(
        None,
        "--dask",
        help="Run items on this Dask scheduler "
        "(tcp://host:8786); default: setting "
        "jobs.dask_scheduler when jobs.executor "
        "is dask.",
    ),
) -> None:
    """Claim and process photometry job items until stopped (SIGTERM finishes the current one).

    Items are held under a lease (``jobs.lease_s``); items of a worker that died are claimed
    again once its lease expires. With a Dask scheduler this process dispatches the queue to
    the cluster's workers; each task claims items one at a time, highest priority first, for up
    to a few seconds.
    """
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.jobs.executor import queue_empty, serve
    from dsa110_contimg.jobs.worker import run_worker

    upgrade()
    settings = get_settings()
    scheduler = dask or (settings.jobs.dask_scheduler if settings.jobs.executor == "dask" else None)
    if scheduler is None:
        processed = run_worker(stop_when_idle=once, settings=settings.jobs)
        console.print(f"worker stopped after {processed} item(s)", markup=False)
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    processed = serve(
        lambda: stop.is_set() or (once and queue_empty()), executor="dask", scheduler=scheduler
    )
    console.print(f"worker stopped after {processed} item(s)", markup=False)


def _row(job: JobSummary) -> dict:
    return {
        "id": job.id,
        "status": job.status,
        "n_items": job.n_items,
        "n_completed": job.n_completed,
        "n_failed": job.n_failed,
        "created_at": str(job.created_at),
        "finished_at": str(job.finished_at),
    }


@app.command("submit")
def submit(
    products: list[str] = typer.Argument(..., help="FITS files or registered data_ids."),
    catalog: str | None = typer.Option(None, help="Catalogue (default: configured)."),
    radius_deg: float | None = typer.Option(None, help="Cone radius (default: footprint)."),
    data_type: str = typer.Option("image", "--type", help="image or mosaic, for new files."),
) -> None:
    """Queue forced photometry of PRODUCTS (registering new files) and print the job id.

    Products that cannot be queued (unreadable or not an image, no observation time, outside
    the data roots, unknown data_id) are each reported with the reason; the others are queued
    all the same, and the exit code is 1 (2 when none could be queued).
    """
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.data_roots import PathOutsideRootsError
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.registry import UnknownDataError, register_data
    from dsa110_contimg.imaging.fits_io import ImageReadError
    from dsa110_contimg.jobs.params import PhotometryParams
    from dsa110_contimg.jobs.service import create_batch_photometry_job

    upgrade()
    params = PhotometryParams.from_settings(get_settings(), catalog=catalog, radius_deg=radius_deg)
    data_ids, refused = [], 0
    for product in products:
        try:
            data_ids.append(
                register_data(product, data_type)
                if Path(product).exists()
                else _registered(product)
            )
        except (ImageReadError, UnknownDataError, PathOutsideRootsError) as exc:
            console.print(f"refused {product}: {exc}", markup=False, soft_wrap=True)
            refused += 1
    if not data_ids:
        console.print("error: nothing to queue", markup=False)
        raise typer.Exit(code=2)
    job_id = create_batch_photometry_job(data_ids, params=params)
    typer.echo(job_id)
    if refused:
        console.print(
            f"{len(data_ids)} product(s) queued in job {job_id}, {refused} refused", markup=False
        )
        raise typer.Exit(code=1)


def _registered(data_id: str) -> str:
    """``data_id`` when it is registered.

    Raises
    ------
    UnknownDataError
        It is neither an existing file nor a registered ``data_id``.
    """
    from dsa110_contimg.database.registry import UnknownDataError, get_data

    try:
        get_data(data_id)
    except UnknownDataError as exc:
        raise UnknownDataError(
            f"{data_id!r} is neither a FITS file nor a registered data_id"
        ) from exc
    return data_id


@app.command("list")
def list_command(
    status: str | None = typer.Option(None), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Recent jobs, newest first."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.jobs.service import list_jobs

    upgrade()
    jobs = list_jobs(status=status)
    if as_json:
        for job in jobs:
            typer.echo(json.dumps(_row(job)))
        return
    view = RichTable(title=f"{len(jobs)} jobs")
    for col in ("id", "status", "n_items", "n_completed", "n_failed", "created_at"):
        view.add_column(col)
    for job in jobs:
        row = _row(job)
        view.add_row(
            *(
                str(row[c])
                for c in ("id", "status", "n_items", "n_completed", "n_failed", "created_at")
            )
        )
    Console().print(view)


@app.command("show")
def show(
    job_id: int,
    as_json: bool = typer.Option(False, "--json"),
    follow: bool = typer.Option(False, "--follow", help="Show progress until the job ends."),
) -> None:
    """One job: status, counters and every item with its error."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.jobs.service import get_job

    upgrade()
    job = get_job(job_id)
    if follow:
        job = _follow(job_id)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    **_row(job),
                    "items": [
                        {k: (str(v) if k.endswith("_at") else v) for k, v in item.items()}
                        for item in job.items
                    ],
                },
                indent=2,
            )
        )
        return
    console.print(
        f"job {job.id}: {job.status}, {job.n_completed} completed, "
        f"{job.n_failed} failed, {job.n_cancelled} cancelled, {job.n_pending} "
        f"pending of {job.n_items}",
        markup=False,
    )
    view = RichTable()
    for col in ("data_id", "status", "attempts", "n_measured", "error"):
        view.add_column(col)
    for item in job.items:
        view.add_row(
            *(str(item[c]) for c in ("data_id", "status", "attempts", "n_measured", "error"))
        )
    Console().print(view)


@app.command("cancel")
def cancel(job_id: int) -> None:
    """Cancel a job's pending items."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.jobs.service import cancel_job

    upgrade()
    job = cancel_job(job_id)
    console.print(f"job {job.id}: {job.status}", markup=False)


def _follow(job_id: int) -> JobSummary:
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.jobs.service import get_job

    poll = get_settings().jobs.poll_s
    with Progress(
        TextColumn("job {task.fields[job]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    ) as progress:
        job = get_job(job_id)
        task = progress.add_task("", total=job.n_items, job=job_id, status=job.status)
        while job.status in ("pending", "running"):
            time.sleep(poll)
            job = get_job(job_id)
            progress.update(task, completed=job.n_completed + job.n_failed, status=job.status)
        progress.update(task, completed=job.n_completed + job.n_failed, status=job.status)
    return job
