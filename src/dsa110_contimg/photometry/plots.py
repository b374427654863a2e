"""Plots: light curves (raw and normalized flux, flagged points marked) and sub-band spectra
(adaptive bins, upper limits and the fitted power law)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy.table import Table  # noqa: E402
from astropy.time import Time  # noqa: E402

__all__ = ["plot_light_curve", "plot_spectrum"]


def plot_light_curve(curve: Table, path: str | Path, *, title: str = "") -> Path:
    """Write a PNG of a light curve (`dsa110_contimg.database.products.light_curve` columns).

    Raw peaks are grey, normalized fluxes black; measurements with quality flags are drawn as
    open red markers. The bottom axis is MJD, the top axis the calendar date.
    """
    mjd = np.asarray(curve["mjd_mid"], dtype=float)
    flagged = np.asarray(curve["flags"]) != 0
    figure, axis = plt.subplots(figsize=(8, 4), constrained_layout=True)
    series = (
        ("peak_jyb", "peak_err_jyb", "raw peak", "0.6"),
        ("peak_norm_jyb", "peak_norm_err_jyb", "normalized", "black"),
    )
    for flux_col, err_col, label, colour in series:
        flux = 1e3 * np.asarray(curve[flux_col], dtype=float)
        error = 1e3 * np.asarray(curve[err_col], dtype=float)
        if not np.isfinite(flux).any():
            continue
        good = ~flagged
        axis.errorbar(
            mjd[good], flux[good], error[good], fmt="o", ms=4, color=colour, label=label, capsize=2
        )
        if flagged.any():
            axis.errorbar(
                mjd[flagged],
                flux[flagged],
                error[flagged],
                fmt="o",
                ms=5,
                mfc="none",
                color="tab:red",
                capsize=2,
                label=f"{label} (flagged)",
            )
    axis.set_xlabel("MJD")
    axis.set_ylabel("flux density (mJy/beam)")
    axis.set_title(title)
    axis.legend(loc="best", fontsize="small")
    if mjd.size:
        top = axis.secondary_xaxis("top")
        ticks = axis.get_xticks()
        top.set_xticks(ticks)
        top.set_xticklabels(
            [Time(t, format="mjd").strftime("%Y-%m-%d") for t in ticks], fontsize="x-small"
        )
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_spectrum(spectrum: Table, path: str | Path, *, title: str = "") -> Path:
    """Write a PNG of a source's sub-band spectrum
    (`dsa110_contimg.database.spectra.source_spectrum` columns and ``meta``).

    Detected bins are drawn at their weighted mean frequency with their flux error and the
    frequency range they merge as a horizontal bar; upper limits as downward arrows; the fitted
    power law, when there is one, as a line labelled with α and its error.
    """
    figure, axis = plt.subplots(figsize=(6, 4), constrained_layout=True)
    freq = np.asarray(spectrum["freq_hz"], dtype=float) / 1e9
    flux = 1e3 * np.asarray(spectrum["flux_jy"], dtype=float)
    error = 1e3 * np.asarray(spectrum["flux_err_jy"], dtype=float)
    limit = np.asarray(spectrum["upper_limit"], dtype=bool)
    if (~limit).any():
        axis.errorbar(
            freq[~limit],
            flux[~limit],
            error[~limit],
            fmt="o",
            ms=4,
            color="black",
            capsize=2,
            label="adaptive bins",
        )
    if limit.any():
        limits = 1e3 * np.asarray(spectrum["limit_jy"], dtype=float)[limit]
        axis.errorbar(
            freq[limit],
            limits,
            0.2 * limits,
            uplims=True,
            fmt="v",
            ms=5,
            color="tab:red",
            label="upper limit (3σ)",
        )
    alpha, alpha_err = spectrum.meta.get("alpha", np.nan), spectrum.meta.get("alpha_err", np.nan)
    ref_freq, ref_flux = (
        spectrum.meta.get("ref_freq_hz", np.nan),
        spectrum.meta.get("ref_flux_jy", np.nan),
    )
    if np.isfinite(alpha) and np.isfinite(ref_flux) and freq.size:
        grid = np.linspace(freq.min(), freq.max(), 50)
        beta, beta_err = (
            spectrum.meta.get("curvature", np.nan),
            spectrum.meta.get("curvature_err", np.nan),
        )
        x = np.log(grid * 1e9 / ref_freq)
        label = f"α = {alpha:.2f} ± {alpha_err:.2f}"
        if np.isfinite(beta):
            label += f", β = {beta:.2f} ± {beta_err:.2f}"
        axis.plot(
            grid,
            1e3 * ref_flux * np.exp((alpha + np.nan_to_num(beta) * x) * x),
            color="tab:blue",
            label=label,
        )
    axis.set_xlabel("frequency (GHz)")
    axis.set_ylabel("flux density (mJy)")
    axis.set_title(title)
    if freq.size:
        axis.legend(loc="best", fontsize="small")
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
