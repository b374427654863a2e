"""``contimg spectrum``: one source's stored sub-band spectrum, or its spectral index over time."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import typer
from rich.console import Console

from dsa110_contimg.choices import OUTPUT_FORMATS

__all__ = ["spectrum"]

console = Console(stderr=True)


def spectrum(
    source: str = typer.Argument(..., help="Catalogue source id or name."),
    catalog: str | None = typer.Option(None, help="Catalogue of the name."),
    data_id: str | None = typer.Option(
        None, "--data-id", help="Product (default: the latest observation with a spectrum)."
    ),
    over_time: bool = typer.Option(
        False, "--over-time", help="The spectral index on every product instead, and combined."
    ),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG of the spectrum here."),
    fmt: str = typer.Option("csv", "--format", help=f"One of {', '.join(OUTPUT_FORMATS)}."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Table file (default: CSV on stdout)."
    ),
) -> None:
    """SOURCE's sub-band spectrum (adaptive bins and α ± σ_α) on one product, or with
    --over-time its spectral index on every product and all epochs combined."""
    from dsa110_contimg.catalog.sources import resolve_source
    from dsa110_contimg.database.migrate import upgrade
    from dsa110_contimg.database.spectra import source_spectral_indices, source_spectrum
    from dsa110_contimg.photometry.adaptive import combine_spectral_indices
    from dsa110_contimg.photometry.plots import plot_spectrum

    if fmt not in OUTPUT_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(OUTPUT_FORMATS)}")
    upgrade()
    source_id, name = resolve_source(source, catalog=catalog)
    if over_time:
        table = source_spectral_indices(source_id)
        alpha, alpha_err, chi2_nu = combine_spectral_indices(table["alpha"], table["alpha_err"])
        console.print(
            f"{name}: {len(table)} epochs with a spectrum; combined "
            f"{_alpha(alpha, alpha_err)} (χ²_ν of the epochs {chi2_nu:.2f})",
            markup=False,
        )
    else:
        table = source_spectrum(source_id, data_id=data_id)
        if "data_id" not in table.meta:
            where = f" on {data_id}" if data_id else ""
            console.print(
                f"error: no sub-band spectrum of {name}{where} (spectra are measured "
                "when a product has sub-band images)",
                markup=False,
            )
            raise typer.Exit(code=2)
        meta = table.meta
        console.print(
            f"{name} on {meta['data_id']} (MJD {meta['mjd_mid']:.5f}): {len(table)} bins "
            f"at S/N ≥ {meta['target_snr']:g}; "
            + (
                "upper limit only"
                if meta["upper_limit"]
                else f"{_alpha(meta['alpha'], meta['alpha_err'])}"
                f"{_curvature(meta['curvature'], meta['curvature_err'])}, "
                f"S = {1e3 * meta['ref_flux_jy']:.2f} ± "
                f"{1e3 * meta['ref_flux_err_jy']:.2f} mJy at "
                f"{meta['ref_freq_hz'] / 1e9:.4f} GHz"
            ),
            markup=False,
        )
        if plot is not None:
            plot_spectrum(table, plot, title=f"{name} on {meta['data_id']}")
            console.print(f"plot written to {plot}", markup=False)
    table.meta.update(source_id=source_id, source_name=name)
    if output is not None:
        table.write(output, format=OUTPUT_FORMATS[fmt], overwrite=True)
        console.print(f"{len(table)} rows written to {output}", markup=False)
    elif plot is None:
        table.write(sys.stdout, format="ascii.csv")


def _alpha(alpha: float, alpha_err: float) -> str:
    """``α = -0.71 ± 0.05``, or why there is none (never α without its error)."""
    if not math.isfinite(alpha) or not math.isfinite(alpha_err):
        return "no spectral index (fewer than two detected bins)"
    return f"α = {alpha:.2f} ± {alpha_err:.2f}"


def _curvature(beta: float, beta_err: float) -> str:
    """``, β = -1.20 ± 0.30`` where the curvature was measured, else nothing."""
    return f", β = {beta:.2f} ± {beta_err:.2f}" if math.isfinite(beta) else ""
