"""``contimg data``: the registry of images and mosaics, and their photometry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table as RichTable

from dsa110_contimg.choices import OUTPUT_FORMATS

__all__ = ["app"]

app = typer.Typer(help="Registered images and mosaics.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("list")
def list_command(
    data_type: str | None = typer.Option(None, "--type", help="image or mosaic."),
    photometry_status: str | None = typer.Option(
        None, help="pending, running, completed, failed or none."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List registered products (newest first)."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.registry import DATA_TYPES, PHOTOMETRY_TRANSITIONS, list_data

    if data_type is not None and data_type not in DATA_TYPES:
        raise typer.BadParameter(f"must be one of {', '.join(DATA_TYPES)}", param_hint="--type")
    statuses = sorted(s for s in PHOTOMETRY_TRANSITIONS if s) + ["none"]
    if photometry_status is not None and photometry_status not in statuses:
        raise typer.BadParameter(
            f"must be one of {', '.join(statuses)}", param_hint="--photometry-status"
        )
    upgrade()
    rows, _ = list_data(data_type=data_type, photometry_status=photometry_status)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    view = RichTable(title=f"{len(rows)} products")
    view.add_column("data_id", no_wrap=True)  # ids stay whole, to be copied
    for col in (
        "data_type",
        "status",
        "photometry_status",
        "photometry_n_measured",
        "photometry_error",
    ):
        view.add_column(col)
    for row in rows:
        view.add_row(
            *(
                str(row[c] if row[c] is not None else "-")
                for c in (
                    "data_id",
                    "data_type",
                    "status",
                    "photometry_status",
                    "photometry_n_measured",
                    "photometry_error",
                )
            )
        )
    Console().print(view)


@app.command("show")
def show(data_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """The registry record of DATA_ID: photometry status, flux correction factor, lineage,
    sub-band spectra."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.registry import get_data, get_data_lineage
    from dsa110_contimg.database.spectra import product_spectra_summary
    from dsa110_contimg.variability.corrections import get_image_correction

    upgrade()
    record = get_data(data_id)
    record["lineage"] = get_data_lineage(data_id)
    correction = get_image_correction(data_id)
    record["correction"] = (
        None
        if correction is None
        else {
            "value": correction.value,
            "error": correction.error,
            "n_references": correction.n_references,
        }
    )
    record["spectra"] = product_spectra_summary(data_id)
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    for key, value in record.items():
        Console().print(f"{key:>22}: {value}", markup=False)


@app.command("photometry")
def photometry(
    data_id: str,
    fmt: str = typer.Option("csv", "--format", help=f"One of {', '.join(OUTPUT_FORMATS)}."),
    output: Path | None = typer.Option(None, "--output", "-o"),
) -> None:
    """Export the stored photometry of DATA_ID (CSV on stdout unless --output is given)."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.products import photometry_for_product

    _check_format(fmt, output)
    upgrade()
    table = photometry_for_product(data_id)
    _export(table, fmt, output)


@app.command("spectra")
def spectra(
    data_id: str,
    fmt: str = typer.Option("csv", "--format", help=f"One of {', '.join(OUTPUT_FORMATS)}."),
    output: Path | None = typer.Option(None, "--output", "-o"),
) -> None:
    """Export every source's spectral index on DATA_ID (from its sub-band images; CSV on
    stdout unless --output is given). A source's bins: ``contimg spectrum SOURCE``."""
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.registry import get_data
    from dsa110_contimg.database.spectra import product_spectral_indices

    _check_format(fmt, output)
    upgrade()
    get_data(data_id)
    _export(product_spectral_indices(data_id), fmt, output)


def _check_format(fmt: str, output: Path | None) -> None:
    if fmt not in OUTPUT_FORMATS:
        raise typer.BadParameter(
            f"must be one of {', '.join(OUTPUT_FORMATS)}", param_hint="--format"
        )
    if output is None and fmt != "csv":
        raise typer.BadParameter(f"--format {fmt} needs --output FILE", param_hint="--output")


def _export(table, fmt: str, output: Path | None) -> None:
    """``table`` as CSV on stdout, or written to ``output`` in ``fmt``."""
    from dsa110_contimg.photometry.table_io import write_measurements

    if output is None:
        table.write(sys.stdout, format="ascii.csv")
        return
    write_measurements(table, output, fmt)
    console.print(f"wrote {len(table)} rows to {output}", markup=False)
