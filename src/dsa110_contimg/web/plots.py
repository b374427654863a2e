"""The pages' interactive plots (Bokeh), embedded as a ``<div>`` and its ``<script>``.

Each glyph renderer that a test or a reader may look for has a ``name`` (``lc-raw``,
``lc-normalized``, ``lc-flagged``, ``markers-ok``, ``markers-flagged``, ``spectrum-bins``,
``spectrum-limits``), so the number of points drawn can be read back from the page's Bokeh
document.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from astropy.time import Time
from bokeh.embed import components
from bokeh.models import ColumnDataSource, HoverTool, LinearColorMapper
from bokeh.plotting import figure

from dsa110_contimg.photometry.flags import decode_flags
from dsa110_contimg.web.preview import Preview

__all__ = ["Embedded", "light_curve_plot", "preview_plot", "spectrum_plot", "status_plot"]

_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
#: Colours of the photometry statuses (colour-blind safe; failed stands out).
STATUS_COLOURS = {
    "completed": "#1b9e77",
    "running": "#7570b3",
    "pending": "#e6ab02",
    "failed": "#d95f02",
    "none": "#999999",
}


@dataclass(frozen=True)
class Embedded:
    """A plot ready for a template: its ``<script>`` and ``<div>`` (Bokeh's own HTML)."""

    script: str
    div: str


def _embed(plot) -> Embedded:
    script, div = components(plot)
    return Embedded(script, div)


def _column(table: Table, name: str) -> np.ndarray:
    values = table[name]
    filled = values.filled(np.nan) if hasattr(values, "filled") else values
    return np.asarray(filled, dtype=float)


def light_curve_plot(curve: Table, title: str) -> Embedded:
    """Raw and normalized peak flux against MJD with 1σ error bars; flagged points ringed in
    red; hovering shows the product, MJD, date, fluxes and flags. Legend entries hide their
    series when clicked."""
    mjd = _column(curve, "mjd_mid")
    raw, raw_err = _column(curve, "peak_jyb"), _column(curve, "peak_err_jyb")
    norm, norm_err = (
        _column(curve, "peak_norm_jyb"),
        _column(curve, "peak_norm_err_jyb"),
    )
    flags = np.asarray(curve["flags"], dtype=np.int64) if len(curve) else np.zeros(0, int)
    finite_mjd = np.where(np.isfinite(mjd), mjd, 0.0)
    dates = Time(finite_mjd, format="mjd").strftime("%Y-%m-%d %H:%M:%S") if len(mjd) else []
    data = {
        "mjd": mjd,
        "date": list(dates),
        "data_id": [str(v) for v in curve["data_id"]],
        "raw": raw,
        "raw_lo": raw - raw_err,
        "raw_hi": raw + raw_err,
        "norm": norm,
        "norm_lo": norm - norm_err,
        "norm_hi": norm + norm_err,
        "flag_names": [", ".join(decode_flags(int(f))) or "none" for f in flags],
    }
    source = ColumnDataSource(data)
    flagged = ColumnDataSource(
        {
            k: (
                np.asarray(v)[flags != 0]
                if isinstance(v, np.ndarray)
                else [x for x, f in zip(v, flags) if f]
            )
            for k, v in data.items()
        }
    )
    plot = figure(
        title=title,
        height=380,
        sizing_mode="stretch_width",
        tools=_TOOLS,
        x_axis_label="MJD",
        y_axis_label="peak flux density (Jy/beam)",
    )
    plot.segment(
        "mjd", "raw_lo", "mjd", "raw_hi", source=source, color="#9a9a9a", legend_label="raw"
    )
    raw_r = plot.scatter(
        "mjd", "raw", source=source, size=6, color="#9a9a9a", legend_label="raw", name="lc-raw"
    )
    renderers = [raw_r]
    if np.isfinite(norm).any():
        plot.segment(
            "mjd",
            "norm_lo",
            "mjd",
            "norm_hi",
            source=source,
            color="#222222",
            legend_label="normalized",
        )
        renderers.append(
            plot.scatter(
                "mjd",
                "norm",
                source=source,
                size=6,
                color="#222222",
                legend_label="normalized",
                name="lc-normalized",
            )
        )
    plot.scatter(
        "mjd",
        "raw",
        source=flagged,
        size=12,
        fill_color=None,
        line_color="#d62728",
        line_width=2,
        legend_label="flagged",
        name="lc-flagged",
    )
    plot.add_tools(
        HoverTool(
            renderers=renderers,
            tooltips=[
                ("product", "@data_id"),
                ("MJD", "@mjd{0.00000}"),
                ("date", "@date"),
                ("raw", "@raw{0.00000}"),
                ("normalized", "@norm{0.00000}"),
                ("flags", "@flag_names"),
            ],
        )
    )
    plot.legend.click_policy = "hide"
    plot.legend.location = "bottom_left"
    return _embed(plot)


def preview_plot(preview: Preview) -> Embedded:
    """The downsampled image (grey, 1–99.5 % scaled) with every measured position: green
    circles, red crosses where the measurement is flagged; hover shows name, S/N and flags."""
    ny, nx = preview.pixels.shape
    plot = figure(
        height=min(640, max(240, int(640 * ny / max(nx, 1)) + 60)),
        sizing_mode="stretch_width",
        match_aspect=True,
        tools=_TOOLS,
        x_range=(0, nx),
        y_range=(0, ny),
        title=preview.title,
    )
    mapper = LinearColorMapper(
        palette="Greys256", low=preview.low, high=preview.high, nan_color="#ffffff"
    )
    plot.image(
        image=[preview.pixels],
        x=0,
        y=0,
        dw=nx,
        dh=ny,
        color_mapper=mapper,
        level="image",
        name="preview-image",
    )
    hover = []
    for label, mask, style in (
        (
            "measured",
            ~preview.flagged,
            {"marker": "circle", "fill_color": None, "line_color": "#2ca02c", "size": 10},
        ),
        ("flagged", preview.flagged, {"marker": "x", "line_color": "#d62728", "size": 10}),
    ):
        source = ColumnDataSource(
            {
                "x": preview.x[mask],
                "y": preview.y[mask],
                "name": [n for n, m in zip(preview.names, mask) if m],
                "snr": preview.snr[mask],
                "flag_names": [f for f, m in zip(preview.flag_names, mask) if m],
            }
        )
        name = "markers-ok" if label == "measured" else "markers-flagged"
        hover.append(
            plot.scatter(
                "x", "y", source=source, line_width=2, legend_label=label, name=name, **style
            )
        )
    plot.add_tools(
        HoverTool(
            renderers=hover,
            tooltips=[("source", "@name"), ("S/N", "@snr{0.0}"), ("flags", "@flag_names")],
        )
    )
    plot.legend.click_policy = "hide"
    plot.grid.visible = False
    return _embed(plot)


def spectrum_plot(spectrum: Table, title: str) -> Embedded:
    """Adaptive sub-band bins (flux against frequency, 1σ bars) and upper limits (down
    triangles)."""
    freq = _column(spectrum, "freq_hz") / 1e6
    flux, err = _column(spectrum, "flux_jy"), _column(spectrum, "flux_err_jy")
    limit = np.asarray(spectrum["upper_limit"], dtype=bool) if len(spectrum) else np.zeros(0, bool)
    limit_jy = _column(spectrum, "limit_jy")
    plot = figure(
        title=title,
        height=320,
        sizing_mode="stretch_width",
        tools=_TOOLS,
        x_axis_label="frequency (MHz)",
        y_axis_label="flux density (Jy)",
    )
    bins = ColumnDataSource(
        {
            "freq": freq[~limit],
            "flux": flux[~limit],
            "lo": (flux - err)[~limit],
            "hi": (flux + err)[~limit],
        }
    )
    plot.segment("freq", "lo", "freq", "hi", source=bins, color="#222222")
    points = plot.scatter(
        "freq",
        "flux",
        source=bins,
        size=7,
        color="#222222",
        legend_label="bins",
        name="spectrum-bins",
    )
    plot.scatter(
        freq[limit],
        limit_jy[limit],
        marker="inverted_triangle",
        size=10,
        color="#d62728",
        legend_label="upper limits",
        name="spectrum-limits",
    )
    plot.add_tools(
        HoverTool(renderers=[points], tooltips=[("MHz", "@freq{0.0}"), ("Jy", "@flux{0.00000}")])
    )
    return _embed(plot)


def status_plot(by_day: dict[int, Counter]) -> Embedded:
    """Products per observation day, stacked by photometry status."""
    statuses = [s for s in STATUS_COLOURS if any(c[s] for c in by_day.values())] or ["none"]
    days = [str(d) for d in by_day]
    data = {"day": days, **{s: [by_day[d][s] for d in by_day] for s in statuses}}
    plot = figure(
        x_range=days or ["–"],
        height=260,
        sizing_mode="stretch_width",
        tools="save",
        title="products per observation day (MJD) by photometry status",
        toolbar_location=None,
    )
    plot.vbar_stack(
        statuses,
        x="day",
        width=0.8,
        source=ColumnDataSource(data),
        color=[STATUS_COLOURS[s] for s in statuses],
        legend_label=statuses,
        name="status-bars",
    )
    plot.xaxis.major_label_orientation = 0.8
    plot.legend.location = "top_left"
    plot.add_tools(HoverTool(tooltips=[("day", "@day")] + [(s, f"@{s}") for s in statuses]))
    return _embed(plot)
