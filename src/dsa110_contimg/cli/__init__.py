"""The ``contimg`` command line: parse, call a service, show progress. No logic of its own.

Each command imports the services it calls when it runs, never at start-up: ``contimg --help``
and every command pay only for what they use. The project's errors end a command with their
kind's exit code (`dsa110_contimg.cli.errors`).
"""

from __future__ import annotations

import typer

from dsa110_contimg.cli import catalog as catalog_cli
from dsa110_contimg.cli import data as data_cli
from dsa110_contimg.cli import db as db_cli
from dsa110_contimg.cli import jobs as jobs_cli
from dsa110_contimg.cli import photometry as photometry_cli
from dsa110_contimg.cli import simulate as simulate_cli
from dsa110_contimg.cli import variability as variability_cli
from dsa110_contimg.cli.demo import demo
from dsa110_contimg.cli.errors import ReportingGroup
from dsa110_contimg.cli.lightcurve import lightcurve
from dsa110_contimg.cli.mosaic import mosaic
from dsa110_contimg.cli.reconcile import reconcile
from dsa110_contimg.cli.run import run
from dsa110_contimg.cli.serve import serve
from dsa110_contimg.cli.spectrum import spectrum
from dsa110_contimg.cli.stream import observations, stream

__all__ = ["app", "main"]

app = typer.Typer(
    name="contimg",
    help="Automatic forced photometry for the DSA-110 continuum imaging pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=ReportingGroup,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
) -> None:
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.logging_setup import configure_logging

    configure_logging("DEBUG" if verbose else get_settings().log_level)


app.add_typer(catalog_cli.app, name="catalog")
app.add_typer(data_cli.app, name="data")
app.add_typer(db_cli.app, name="db")
app.add_typer(jobs_cli.app, name="jobs")
app.add_typer(photometry_cli.app, name="photometry")
app.add_typer(simulate_cli.app, name="simulate")
app.add_typer(variability_cli.app, name="variability")
app.command("worker")(jobs_cli.worker)
app.command("demo")(demo)
app.command("lightcurve")(lightcurve)
app.command("spectrum")(spectrum)
app.command("mosaic")(mosaic)
app.command("serve")(serve)
app.command("stream")(stream)
app.command("observations")(observations)
app.command("reconcile")(reconcile)
app.command("run")(run)


def main() -> None:
    """Entry point of the ``contimg`` console script."""
    app()
