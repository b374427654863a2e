"""``contimg catalog``: ingest, list and cone-search source catalogues."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table as RichTable

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.query import UnknownCatalogError, cone_search, list_catalogs
from dsa110_contimg.catalog.readers import FORMATS, CatalogFormatError
from dsa110_contimg.database.migrate import upgrade

__all__ = ["app"]

app = typer.Typer(help="Source catalogues (NVSS, FIRST, VLASS, custom).", no_args_is_help=True)
console = Console(stderr=True)


def _column_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        target, sep, source = pair.partition("=")
        if not sep or not target or not source:
            raise typer.BadParameter(f"--map expects target=source, got {pair!r}")
        mapping[target.strip()] = source.strip()
    return mapping


@app.command("ingest")
def ingest(
    file: Path = typer.Argument(..., help="Catalogue file."),
    catalog: str = typer.Option(..., help="Catalogue name, e.g. nvss."),
    fmt: str | None = typer.Option(None, "--format",
                                   help=f"One of {', '.join(FORMATS)} (detected if omitted)."),
    mapping: list[str] = typer.Option([], "--map", help="Generic tables: target=source column, "
                                                        "e.g. --map flux_mjy=S_int."),
) -> None:
    """Ingest FILE into catalogue NAME (idempotent; source ids stay stable)."""
    upgrade()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(f"ingesting {file.name}", total=None)
        try:
            report = ingest_catalog(
                file, catalog, fmt=fmt, column_map=_column_map(mapping),
                progress=lambda done, total: progress.update(task, completed=done, total=total))
        except (CatalogFormatError, ValueError) as exc:
            console.print(f"error: {exc}", markup=False)
            raise typer.Exit(code=2) from exc
    state = "unchanged (already ingested)" if report.unchanged else f"{report.rows_read} rows"
    console.print(f"catalogue {report.catalog}: {state} from {file} (format {report.fmt}); "
                  f"{report.n_sources} sources", markup=False)


@app.command("list")
def list_command() -> None:
    """List ingested catalogues."""
    upgrade()
    table = list_catalogs()
    view = RichTable(title="catalogues")
    for col in ("name", "n_sources", "source_file", "ingested_at"):
        view.add_column(col)
    for row in table:
        view.add_row(*(str(row[c]) for c in ("name", "n_sources", "source_file", "ingested_at")))
    Console().print(view)


@app.command("query")
def query(
    catalog: str = typer.Option(..., help="Catalogue name."),
    ra: float = typer.Option(..., help="Centre RA (deg)."),
    dec: float = typer.Option(..., help="Centre Dec (deg)."),
    radius: float = typer.Option(..., help="Radius (deg)."),
    limit: int | None = typer.Option(None, help="At most this many (nearest first)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
) -> None:
    """Cone search: sources within RADIUS of (RA, DEC), nearest first."""
    upgrade()
    try:
        table = cone_search(catalog, ra, dec, radius, limit=limit)
    except (UnknownCatalogError, ValueError) as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(code=2) from exc
    columns = ("source_id", "name", "ra_deg", "dec_deg", "flux_mjy", "sep_deg")
    if as_json:
        for row in table:
            typer.echo(json.dumps({c: (row[c].item() if hasattr(row[c], "item") else row[c])
                                   for c in columns}))
        return
    view = RichTable(title=f"{len(table)} {catalog} sources within {radius}° of ({ra}, {dec})")
    for col in columns:
        view.add_column(col, justify="right")
    for row in table:
        view.add_row(str(row["source_id"]), str(row["name"]), f"{row['ra_deg']:.5f}",
                     f"{row['dec_deg']:.5f}", f"{row['flux_mjy']:.2f}", f"{row['sep_deg']:.4f}")
    Console().print(view)
