"""Light-curve plots: raw and normalized flux with errors, flagged points marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy.table import Table  # noqa: E402
from astropy.time import Time  # noqa: E402

__all__ = ["plot_light_curve"]


def plot_light_curve(curve: Table, path: str | Path, *, title: str = "") -> Path:
    """Write a PNG of a light curve (`dsa110_contimg.database.products.light_curve` columns).

    Raw peaks are grey, normalized fluxes black; measurements with quality flags are drawn as
    open red markers. The bottom axis is MJD, the top axis the calendar date.
    """
    mjd = np.asarray(curve["mjd"], dtype=float)
    flagged = np.asarray(curve["flags"]) != 0
    figure, axis = plt.subplots(figsize=(8, 4), constrained_layout=True)
    series = (("peak_jyb", "peak_err_jyb", "raw peak", "0.6"),
              ("normalized_flux_jy", "normalized_flux_err_jy", "normalized", "black"))
    for flux_col, err_col, label, colour in series:
        flux = 1e3 * np.asarray(curve[flux_col], dtype=float)
        error = 1e3 * np.asarray(curve[err_col], dtype=float)
        if not np.isfinite(flux).any():
            continue
        good = ~flagged
        axis.errorbar(mjd[good], flux[good], error[good], fmt="o", ms=4, color=colour,
                      label=label, capsize=2)
        if flagged.any():
            axis.errorbar(mjd[flagged], flux[flagged], error[flagged], fmt="o", ms=5,
                          mfc="none", color="tab:red", capsize=2,
                          label=f"{label} (flagged)")
    axis.set_xlabel("MJD")
    axis.set_ylabel("flux density (mJy/beam)")
    axis.set_title(title)
    axis.legend(loc="best", fontsize="small")
    if mjd.size:
        top = axis.secondary_xaxis("top")
        ticks = axis.get_xticks()
        top.set_xticks(ticks)
        top.set_xticklabels([Time(t, format="mjd").strftime("%Y-%m-%d") for t in ticks],
                            fontsize="x-small")
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
