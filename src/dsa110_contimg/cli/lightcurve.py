"""``contimg lightcurve``: one source's light curve as a table and a plot."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from dsa110_contimg.choices import OUTPUT_FORMATS

__all__ = ["lightcurve"]

console = Console(stderr=True)


def lightcurve(
    source: str = typer.Argument(..., help="Catalogue source id or name."),
    catalog: str | None = typer.Option(None, help="Catalogue of the name."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG plot here."),
    fmt: str = typer.Option("csv", "--format", help=f"One of {', '.join(OUTPUT_FORMATS)}."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Table file (default: CSV on stdout)."
    ),
    bin_snr: float | None = typer.Option(
        None,
        "--bin-snr",
        help="Merge consecutive epochs until each point reaches this S/N "
        "(normalized flux where every epoch has one, else raw); "
        "each point gives its MJD range.",
    ),
) -> None:
    """Light curve of SOURCE, ordered by observation MJD (raw and normalized fluxes)."""
    from dsa110_contimg.catalog.sources import resolve_source
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.products import light_curve
    from dsa110_contimg.photometry.adaptive import bin_stored_light_curve
    from dsa110_contimg.photometry.plots import plot_light_curve

    if fmt not in OUTPUT_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(OUTPUT_FORMATS)}")
    upgrade()
    source_id, name = resolve_source(source, catalog=catalog)
    curve = light_curve(source_id)
    curve.meta.update(source_id=source_id, name=name)
    table = curve if bin_snr is None else bin_stored_light_curve(curve, bin_snr)
    if plot is not None:
        plot_light_curve(curve, plot, title=f"{name} (id {source_id})")
        console.print(f"plot written to {plot}", markup=False)
    if output is not None:
        table.write(output, format=OUTPUT_FORMATS[fmt], overwrite=True)
        console.print(f"{len(table)} points written to {output}", markup=False)
    elif plot is None:
        table.write(sys.stdout, format="ascii.csv")
