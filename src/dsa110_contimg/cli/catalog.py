"""``contimg catalog``: ingest, list and cone-search source catalogues."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from dsa110_contimg.choices import CATALOG_FORMATS

__all__ = ["app"]

app = typer.Typer(
    help="Source catalogues (NVSS, FIRST, VLASS, your own lists).", no_args_is_help=True
)
console = Console(stderr=True)
_QUERY_COLUMNS = (
    "source_id",
    "name",
    "ra_deg",
    "dec_deg",
    "flux_mjy",
    "flux_err_mjy",
    "peak_flux_mjy",
    "sep_deg",
)


def _column_map(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        target, sep, source = pair.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise typer.BadParameter(f"--map expects target=column, got {pair!r}")
        mapping[target.strip()] = source.strip()
    return mapping


@app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="Catalogue file.")],
    catalog: Annotated[str, typer.Option("--catalog", help="Catalogue name, e.g. nvss.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help=f"One of {', '.join(CATALOG_FORMATS)}; detected when omitted."
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Generic tables: target=column, e.g. --map flux_mjy=S_int."),
    ] = None,
    header: Annotated[
        Path | None,
        typer.Option("--header", help="Header file of VizieR TSV rows stored apart from it."),
    ] = None,
    description: Annotated[
        str | None, typer.Option(help="Description stored with the catalogue.")
    ] = None,
    frequency_hz: Annotated[float | None, typer.Option(help="Catalogue frequency (Hz).")] = None,
) -> None:
    """Ingest FILE as catalogue NAME (idempotent; source ids stay stable on updates)."""
    from dsa110_contimg.catalog import ingest_catalog
    from dsa110_contimg.database.migrate import upgrade

    column_map = _column_map(mapping or [])
    upgrade()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"reading {file.name}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, description=f"writing {file.name}", completed=done, total=total)

        report = ingest_catalog(
            file,
            catalog,
            fmt=fmt,
            column_map=column_map,
            header=header,
            description=description,
            frequency_hz=frequency_hz,
            progress=advance,
        )
    what = (
        "unchanged (this file is already ingested)"
        if report.unchanged
        else f"{report.rows_written} rows written"
    )
    console.print(
        f"catalogue {report.catalog}: {what} from {file} (format {report.fmt}); "
        f"{report.n_sources} sources stored",
        markup=False,
    )


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """List the ingested catalogues."""
    from dsa110_contimg.catalog import list_catalogs
    from dsa110_contimg.database.migrate import upgrade

    upgrade()
    table = list_catalogs()
    columns = ("name", "n_sources", "source_file", "ingested_at")
    if as_json:
        for row in table:
            typer.echo(json.dumps({c: _plain(row[c]) for c in columns}, default=str))
        return
    view = RichTable(title=f"{len(table)} catalogue(s)")
    for column in columns:
        view.add_column(column)
    for row in table:
        view.add_row(*(str(row[c]) for c in columns))
    Console().print(view)


@app.command("query")
def query(
    catalog: Annotated[str, typer.Option("--catalog", help="Catalogue name.")],
    ra: Annotated[float, typer.Option("--ra", help="Cone centre RA (deg).")],
    dec: Annotated[float, typer.Option("--dec", help="Cone centre Dec (deg).")],
    radius: Annotated[float, typer.Option("--radius", help="Cone radius (deg).")],
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many, nearest first.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """Cone search: sources within RADIUS of (RA, DEC), nearest first (fluxes in mJy)."""
    from dsa110_contimg.catalog import cone_search
    from dsa110_contimg.database.migrate import upgrade

    upgrade()
    table = cone_search(catalog, ra, dec, radius, limit=limit)
    if as_json:
        for row in table:
            typer.echo(json.dumps({c: _plain(row[c]) for c in table.colnames}))
        return
    view = RichTable(title=f"{len(table)} {catalog} source(s) within {radius}° of ({ra}, {dec})")
    for column in _QUERY_COLUMNS:
        view.add_column(column, justify="left" if column == "name" else "right")
    for row in table:
        view.add_row(*(_cell(row[c]) for c in _QUERY_COLUMNS))
    Console().print(view)


@app.command("build-master")
def build_master_command(
    catalog: Annotated[str, typer.Option("--catalog", help="Primary catalogue.")] = "nvss",
    match: Annotated[
        list[str] | None,
        typer.Option(
            "--match",
            help="Catalogue to cross-match (repeatable); default: first and vlass when ingested.",
        ),
    ] = None,
    confusion_radius: Annotated[
        float | None, typer.Option(help="Confusion radius (arcsec); default from settings.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Build the master catalogue (S/N, compactness, confusion, spectral index, references)."""
    from dsa110_contimg.catalog.master import build_master
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.database.migrate import upgrade

    settings = get_settings().variability
    if confusion_radius is not None:
        if confusion_radius <= 0:
            raise typer.BadParameter("must be > 0", param_hint="--confusion-radius")
        settings = settings.model_copy(update={"confusion_radius_arcsec": confusion_radius})
    upgrade()
    report = build_master(catalog, matches=match, settings=settings)
    if as_json:
        typer.echo(json.dumps(report.__dict__))
        return
    console.print(
        f"master catalogue {report.catalog}: {report.n_sources} sources, "
        f"{report.n_eligible} reference-eligible, {report.n_resolved} resolved, "
        f"{report.n_confused} confused, {report.n_spectral_index} with a spectral "
        f"index (matched: {', '.join(report.matched) or 'none'})",
        markup=False,
    )


def _plain(value: object) -> object:
    """A JSON-ready value: numpy scalars to Python, NaN to null."""
    item = value.item() if hasattr(value, "item") else value
    return None if isinstance(item, float) and not math.isfinite(item) else item


def _cell(value: object) -> str:
    item = _plain(value)
    if isinstance(item, float):
        return f"{item:.6g}"
    return "" if item is None else str(item)
