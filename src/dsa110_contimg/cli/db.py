"""``contimg db``: create or upgrade the database schema."""

from __future__ import annotations

import typer
from rich.console import Console

__all__ = ["app"]

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
console = Console(stderr=True)
_URL_OPTION = typer.Option(
    None, "--database-url", help="Database to act on (default: the configured database_url)."
)


@app.command("upgrade")
def upgrade_command(
    revision: str = typer.Argument("head", help="Target revision."),
    database_url: str | None = _URL_OPTION,
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Report what would happen; change "
        "nothing (an SQLite file's copy is "
        "upgraded, a PostgreSQL transaction "
        "rolled back).",
    ),
) -> None:
    """Create the schema in an empty database or upgrade an existing one in place.

    A registry database made by the original DSA-110 code is adopted: the missing columns and
    tables are added and every row is kept. A products database of the original code keeps
    every row too: its photometry table is kept as legacy_photometry and each measurement that
    can be mapped (image → registered product, position → catalogue source within 5″) becomes
    a row of the new schema; the others are reported, and tried again by a later upgrade (e.g.
    once the catalogue is ingested). An SQLite file is copied first and restored if anything
    fails; on PostgreSQL the schema and the mapping change in one transaction, rolled back on
    failure. --dry-run reports the mapping's counts too.
    """
    from sqlalchemy.engine import make_url

    from dsa110_contimg.config import get_settings
    from dsa110_contimg.database.migrate import upgrade

    url = database_url or get_settings().database_url
    report = upgrade(url, revision, dry_run=dry_run, map_legacy=True)
    shown = make_url(url).render_as_string(hide_password=True)
    prefix = "dry run: " if report.dry_run else ""
    for table, rows in report.legacy_tables.items():
        console.print(f"{prefix}original table {table}: {rows} rows kept", markup=False)
    for old, new in report.renamed.items():
        console.print(f"{prefix}renamed {old} → {new}", markup=False)
    for note, rows in report.legacy_photometry.items():
        console.print(
            f"{prefix}legacy photometry {note}: {rows} rows", markup=False, soft_wrap=True
        )
    if report.backup is not None:
        console.print(f"copy of the database before the upgrade: {report.backup}", markup=False)
    state = "would be" if report.dry_run else "is"
    console.print(
        f"{prefix}database {shown} {state} at revision {report.revision_after} "
        f"(was {report.revision_before or 'none'})",
        markup=False,
    )


@app.command("current")
def current_command(database_url: str | None = _URL_OPTION) -> None:
    """Print the database's schema revision ("none" before the first upgrade)."""
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.database.migrate import current_revision

    typer.echo(current_revision(database_url or get_settings().database_url) or "none")
