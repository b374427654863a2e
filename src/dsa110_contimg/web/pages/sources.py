"""``/sources``: search by name or position, and one source's page (light curve, variability,
spectrum)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from dsa110_contimg.api.deps import SettingsDep
from dsa110_contimg.catalog.query import list_catalogs
from dsa110_contimg.catalog.sources import resolve_source, source_details, sources_in_cone
from dsa110_contimg.database.products import light_curve
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.database.spectra import source_spectrum
from dsa110_contimg.errors import InputError, NotFoundError
from dsa110_contimg.variability.candidates import list_candidates
from dsa110_contimg.variability.metrics import METRICS
from dsa110_contimg.variability.store import read_stats
from dsa110_contimg.web import queries
from dsa110_contimg.web.pages.common import not_found
from dsa110_contimg.web.plots import light_curve_plot, spectrum_plot
from dsa110_contimg.web.templating import render

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
_SEARCH_LIMIT = 100


@router.get("/sources", response_class=HTMLResponse)
def sources(
    request: Request,
    settings: SettingsDep,
    name: Annotated[str, Query(max_length=64)] = "",
    ra: Annotated[float | None, Query(ge=0, le=360, allow_inf_nan=False)] = None,
    dec: Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False)] = None,
    radius: Annotated[float, Query(gt=0, le=5, allow_inf_nan=False)] = 0.1,
    catalog: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """Sources whose name starts with ``name`` (in ``catalog``, default all), or within
    ``radius`` degrees of (``ra``, ``dec``) with their latest flux (in ``catalog``, default
    photometry.catalog)."""
    url = settings.database_url
    catalogs = [str(c) for c in list_catalogs(url=url)["name"]]
    rows, error, mode = [], None, None
    try:
        if ra is not None and dec is not None:
            mode = "cone"
            catalog = catalog or settings.photometry.catalog
            table = sources_in_cone(catalog, ra, dec, radius, url=url)[:_SEARCH_LIMIT]
            rows = [
                {
                    c: table[c][k]
                    for c in (
                        "source_id",
                        "name",
                        "ra_deg",
                        "dec_deg",
                        "flux_mjy",
                        "sep_deg",
                        "latest_mjd",
                        "latest_peak_jyb",
                    )
                }
                for k in range(len(table))
            ]
        elif name.strip():
            mode = "name"
            for each in [catalog] if catalog else catalogs:  # one index range scan each
                rows += queries.search_names(name.strip(), each, limit=_SEARCH_LIMIT, url=url)
            rows = sorted(rows, key=lambda r: r["name"])[:_SEARCH_LIMIT]
    except (InputError, NotFoundError) as exc:  # a cone off the sphere, an unknown catalogue
        error = str(exc)
    return render(
        request,
        "sources.html",
        {
            "title": "Sources",
            "nav": "sources",
            "rows": rows,
            "mode": mode,
            "error": error,
            "query": {"name": name, "ra": ra, "dec": dec, "radius": radius, "catalog": catalog},
            "catalogs": catalogs,
            "limit": _SEARCH_LIMIT,
        },
    )


@router.get("/sources/{source}", response_class=HTMLResponse)
def source(
    request: Request,
    source: str,
    settings: SettingsDep,
    catalog: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The source's record, interactive light curve, variability metrics, candidate status
    and latest sub-band spectrum."""
    url = settings.database_url
    try:
        source_id, name = resolve_source(source, catalog=catalog, url=url)
    except NotFoundError as exc:
        return not_found(request, str(exc))
    details = source_details(source_id, url=url)
    curve = light_curve(source_id, url=url)
    with get_engine(url).connect() as conn:
        stats = read_stats(conn, [source_id]).stats.metrics()
    metrics = {m: float(stats[m][0]) for m in METRICS}
    candidates, _ = list_candidates(source_id=source_id, url=url)
    spectrum = source_spectrum(source_id, url=url)
    return render(
        request,
        "source.html",
        {
            "title": name,
            "nav": "sources",
            "source": details,
            "n_points": len(curve),
            "plot": light_curve_plot(curve, f"{name} (id {source_id})") if len(curve) else None,
            "metrics": metrics,
            "candidate": candidates[0] if candidates else None,
            "spectrum": spectrum_plot(
                spectrum, f"{name}: sub-band spectrum on {spectrum.meta.get('data_id')}"
            )
            if len(spectrum)
            else None,
            "fit": spectrum.meta,
        },
    )
