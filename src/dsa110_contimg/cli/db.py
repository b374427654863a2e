"""``contimg db``: create or upgrade the database schema."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.migrate import current_revision, upgrade

__all__ = ["app"]

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
console = Console(stderr=True)
_URL_OPTION = typer.Option(None, "--database-url",
                           help="Database to act on (default: the configured database_url).")


@app.command("upgrade")
def upgrade_command(revision: str = typer.Argument("head", help="Target revision."),
                    database_url: str | None = _URL_OPTION) -> None:
    """Create the schema in an empty database or upgrade an existing one in place.

    A registry database made by the original DSA-110 code is adopted: the missing columns and
    tables are added and every row is kept.
    """
    url = database_url or get_settings().database_url
    upgrade(url, revision)
    shown = make_url(url).render_as_string(hide_password=True)
    console.print(f"database {shown} at revision {current_revision(url)}", markup=False)


@app.command("current")
def current_command(database_url: str | None = _URL_OPTION) -> None:
    """Print the database's schema revision ("none" before the first upgrade)."""
    typer.echo(current_revision(database_url or get_settings().database_url) or "none")
