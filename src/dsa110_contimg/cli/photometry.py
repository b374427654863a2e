"""``contimg photometry``: forced photometry on one image, sub-band spectra, reprocessing."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table as RichTable

from dsa110_contimg.choices import OUTPUT_FORMATS

if TYPE_CHECKING:
    from dsa110_contimg.imaging.fits_io import Beam

__all__ = ["app"]

app = typer.Typer(help="Forced photometry.", no_args_is_help=True)
log = logging.getLogger(__name__)
console = Console(stderr=True)


def _check_targets_and_format(catalog: str | None, positions: Path | None, fmt: str) -> None:
    if (catalog is None) == (positions is None):
        raise typer.BadParameter("give exactly one of --catalog or --positions")
    if fmt not in OUTPUT_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(OUTPUT_FORMATS)}")


def _parse_beam(text: str | None) -> Beam | None:
    from dsa110_contimg.imaging.fits_io import Beam

    if text is None:
        return None
    try:
        major, minor, pa = (float(v) for v in text.split(","))
        return Beam(max(major, minor), min(major, minor), pa)
    except ValueError as exc:
        raise typer.BadParameter(
            f"--beam must be 'major_arcsec,minor_arcsec,pa_deg', got {text!r} ({exc})"
        ) from exc


@app.command("measure")
def measure(
    image: Path = typer.Argument(..., help="FITS image (2-, 3- or 4-axis)."),
    catalog: str | None = typer.Option(
        None, help="Measure this ingested catalogue's sources over the image footprint."
    ),
    positions: Path | None = typer.Option(None, help="CSV with ra_deg,dec_deg[,name]."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output file."),
    fmt: str = typer.Option("csv", "--format", help=f"One of {', '.join(OUTPUT_FORMATS)}."),
    rms_map: Path | None = typer.Option(None, help="rms map on the image grid."),
    background_map: Path | None = typer.Option(None, help="Background map on the image grid."),
    beam: str | None = typer.Option(
        None, help="Beam 'major,minor,pa' (arcsec, arcsec, deg) when the header has none."
    ),
    radius_deg: float | None = typer.Option(
        None, help="Cone radius for --catalog (default: the image footprint)."
    ),
    chunk_size: int = typer.Option(
        5000,
        "--chunk-size",
        min=1,
        help="Most --positions measured at once (bands of the image; bounds the memory).",
    ),
) -> None:
    """Forced photometry of catalogue sources or listed positions on IMAGE.

    One row per position, in input order; unmeasurable positions have NaN and a flag. Listed
    positions are measured in bands of at most --chunk-size, each with its neighbours across
    the band edges, so memory does not grow with their number.
    """
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.imaging.fits_io import load_image
    from dsa110_contimg.imaging.primary_beam import PrimaryBeam
    from dsa110_contimg.photometry.sources import measure_targets, select_targets
    from dsa110_contimg.photometry.table_io import read_positions, write_measurements

    _check_targets_and_format(catalog, positions, fmt)
    options = get_settings().photometry.fitting
    img = load_image(image, beam=_parse_beam(beam))
    if positions is None:  # listed positions need no database: they import only the engine
        from dsa110_contimg.database.migrate import upgrade

        upgrade()
    targets = select_targets(
        img,
        positions=read_positions(positions) if positions else None,
        catalog=catalog if positions is None else None,
        radius_deg=radius_deg,
        options=options,
    )
    table = measure_targets(
        img,
        targets,
        chunk_size=chunk_size,
        rms_map=rms_map,
        background_map=background_map,
        options=options,
        primary_beam=PrimaryBeam.from_settings(get_settings().primary_beam),
    )
    if output is not None:
        write_measurements(table, output, fmt)
        console.print(f"wrote {len(table)} measurements to {output}")
    else:
        _print_table(table)


def _print_table(table) -> None:
    view = RichTable(title=f"{len(table)} forced measurements")
    for col in ("name", "ra_deg", "dec_deg", "peak_jyb", "peak_err_jyb", "snr", "flags"):
        view.add_column(col, justify="right")
    for row in table:
        view.add_row(
            str(row["name"]),
            f"{row['ra_deg']:.5f}",
            f"{row['dec_deg']:.5f}",
            f"{row['peak_jyb']:.5g}",
            f"{row['peak_err_jyb']:.2g}",
            f"{row['snr']:.1f}",
            str(row["flags"]),
        )
    Console().print(view)


@app.command("adaptive")
def adaptive(
    images: list[Path] = typer.Argument(
        ..., help="Sub-band images of one observation (e.g. WSClean's <name>-00NN-image.fits)."
    ),
    catalog: str | None = typer.Option(
        None, help="Measure this ingested catalogue's sources in the field of the first image."
    ),
    positions: Path | None = typer.Option(None, help="CSV with ra_deg,dec_deg[,name]."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output file."),
    fmt: str = typer.Option("csv", "--format", help=f"One of {', '.join(OUTPUT_FORMATS)}."),
    target_snr: float = typer.Option(5.0, help="S/N each bin of merged sub-bands reaches."),
    max_width: int | None = typer.Option(None, help="Most sub-bands in one bin."),
    bridge_gaps: bool = typer.Option(False, help="Let bins run across flagged sub-bands."),
    max_curvature_err: float = typer.Option(
        0.5,
        min=0.0,
        help="Fit and report the spectral curvature β where its error is at most "
        "this (bright sources only).",
    ),
) -> None:
    """Spectra of catalogue sources or listed positions from sub-band IMAGES: each image
    measured once, adjacent sub-bands merged until each bin reaches the target S/N (upper limits
    where even the whole band does not), and each source's spectral index with its error."""
    from dsa110_contimg.config import get_settings
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.imaging.primary_beam import PrimaryBeam
    from dsa110_contimg.photometry.adaptive import measure_subbands, spectra
    from dsa110_contimg.photometry.sources import query_sources_for_image
    from dsa110_contimg.photometry.table_io import read_positions

    _check_targets_and_format(catalog, positions, fmt)
    options = get_settings().photometry.fitting
    primary_beam = PrimaryBeam.from_settings(get_settings().primary_beam)
    neighbours = None
    if positions is not None:
        targets = read_positions(positions)
    else:
        assert catalog is not None  # exactly one of the two was given
        upgrade()
        found = query_sources_for_image(images[0], catalog)
        targets = found[found["in_field"]]
        others = found[~found["in_field"]]
        neighbours = (others["ra_deg"], others["dec_deg"]) if len(others) else None
    with Progress(
        TextColumn("sub-band images"), BarColumn(), MofNCompleteColumn(), console=console
    ) as bar:
        task = bar.add_task("", total=len(images))
        measured = measure_subbands(
            images,
            targets["ra_deg"],
            targets["dec_deg"],
            names=list(targets["name"]),
            source_ids=list(targets["source_id"]),
            neighbours=neighbours,
            options=options,
            primary_beam=primary_beam,
            progress=lambda _path: bar.advance(task),
        )
    table = spectra(
        measured,
        target_snr=target_snr,
        max_width=max_width,
        bridge_gaps=bridge_gaps,
        max_curvature_err=max_curvature_err,
    )
    if output is not None:
        table.write(output, format=OUTPUT_FORMATS[fmt], overwrite=True)
        console.print(
            f"wrote {len(table)} bins of {len(set(table['name']))} sources to {output}",
            markup=False,
        )
        return
    view = RichTable(title=f"{len(table)} spectral bins")
    for col in ("name", "freq MHz", "flux mJy", "error mJy", "S/N", "α ± σ", "β ± σ"):
        view.add_column(col, justify="right")
    for row in table:
        flux = (
            f"< {row['limit_jy'] * 1e3:.3g}"
            if row["upper_limit"]
            else f"{row['flux_jy'] * 1e3:.4g}"
        )
        view.add_row(
            str(row["name"]),
            f"{row['freq_hz'] / 1e6:.1f}",
            flux,
            f"{row['flux_err_jy'] * 1e3:.2g}",
            f"{row['snr']:.1f}",
            f"{row['alpha']:+.2f} ± {row['alpha_err']:.2f}",
            ""
            if math.isnan(row["curvature"])
            else f"{row['curvature']:+.2f} ± {row['curvature_err']:.2f}",
        )
    Console().print(view)


@app.command("reprocess")
def reprocess_command(
    since: float = typer.Option(..., help="First observation MJD."),
    until: float = typer.Option(..., help="Last observation MJD."),
    catalog: str | None = typer.Option(None, help="Catalogue (default: configured)."),
    data_type: str | None = typer.Option(None, "--type", help="image or mosaic."),
    params: list[str] = typer.Option(
        [],
        "--params",
        help="Parameter override KEY=VALUE (dotted keys, JSON values), e.g. fitting.box_pix=9.",
    ),
    chunk: int = typer.Option(500, min=1, help="Products queued per job."),
    dask: str | None = typer.Option(None, "--dask", help="Dask scheduler (tcp://host:8786)."),
    queue_only: bool = typer.Option(
        False, "--queue-only", help="Only queue the jobs (workers elsewhere serve them)."
    ),
) -> None:
    """Measure every product observed between SINCE and UNTIL, in chunks, with progress; a
    rerun after Ctrl-C or a crash picks up where the last one stopped."""
    from pydantic import ValidationError

    from dsa110_contimg.config import get_settings
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.jobs.params import PhotometryParams
    from dsa110_contimg.jobs.reprocess import ReprocessProgress, count_products, reprocess_range

    upgrade()
    base = get_settings().photometry.model_dump(exclude={"enabled"})
    if catalog is not None:
        base["catalog"] = catalog
    try:
        chosen = PhotometryParams.model_validate(_overrides(params, base))
    except ValidationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--params") from exc
    if count_products(since, until, data_type) == 0:
        console.print("no products in that time range", markup=False)
        raise typer.Exit(code=1)
    with Progress(
        TextColumn("reprocess"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
    ) as bar:
        task = bar.add_task("", total=None, note="")

        def show(state: ReprocessProgress) -> None:
            bar.update(
                task,
                total=state.total,
                completed=state.done,
                note=f"{state.failed} failed, {state.skipped} already measured",
            )

        summary = reprocess_range(
            since,
            until,
            params=chosen,
            data_type=data_type,
            chunk=chunk,
            executor="dask" if dask else None,
            scheduler=dask,
            queue_only=queue_only,
            progress=show,
        )
    state = summary.progress
    console.print(
        f"{state.total} products: {state.skipped} already measured, "
        f"{state.completed} completed, {state.failed} failed; {summary.rows} rows "
        f"in {summary.elapsed_s:.1f} s ({summary.images_per_s:.2f} images/s); "
        f"jobs {', '.join(map(str, summary.job_ids)) or '-'}",
        markup=False,
    )


def _overrides(pairs: list[str], base: dict) -> dict:
    """``base`` with ``["fitting.box_pix=9"]`` set as ``base["fitting"]["box_pix"] = 9``
    (values parsed as JSON when they are JSON, kept as text otherwise).

    Raises
    ------
    typer.BadParameter
        A pair without ``=``.
    """
    result = base
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--params")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        *parents, leaf = key.split(".")
        node = result
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return result
