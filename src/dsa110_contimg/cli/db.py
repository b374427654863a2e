"""``contimg db``: create or upgrade the database schema."""

from __future__ import annotations

import typer
from rich.console import Console

from dsa110_contimg.config import get_settings
from dsa110_contimg.database.migrate import current_revision, upgrade

__all__ = ["app"]

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
console = Console(stderr=True)


@app.command("upgrade")
def upgrade_command(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create the schema in an empty database or upgrade an existing one in place."""
    url = get_settings().database_url
    upgrade(url, revision)
    console.print(f"database {url} at revision {current_revision(url)}")


@app.command("current")
def current_command() -> None:
    """Print the database's schema revision."""
    typer.echo(current_revision(get_settings().database_url) or "none")
