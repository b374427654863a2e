"""``/api/sources``: catalogue sources, cone searches and light curves."""

from __future__ import annotations

import io
import tempfile
import threading
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from dsa110_contimg.api.deps import PageDep, SettingsDep
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.schemas import (
    ConeSource,
    LightCurve,
    LightCurvePoint,
    Page,
    SourceDetail,
)
from dsa110_contimg.api.tables import records
from dsa110_contimg.database.products import (
    light_curve,
    resolve_source,
    source_details,
    sources_in_cone,
)
from dsa110_contimg.photometry.plots import plot_light_curve
from dsa110_contimg.photometry.table_io import OUTPUT_FORMATS

__all__ = ["router"]

router = APIRouter(prefix="/api/sources", tags=["sources and light curves"])

SourceRef = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[^\x00]+$",
                                description="Catalogue source id, or its name (e.g. "
                                            "'NVSS J150955+462930').")]
CatalogQuery = Annotated[str | None, Query(
    min_length=1, max_length=64, pattern=r"^[^\x00]+$",
    description="Catalogue of a source name (when a name is in several catalogues).")]
_MEDIA = {"csv": "text/csv", "votable": "application/x-votable+xml"}
#: pyplot keeps global state: one plot at a time across the request threads.
_PLOT_LOCK = threading.Lock()
_FILE_RESPONSES = {200: {"content": {media: {"schema": {"type": "string"}}
                                     for media in _MEDIA.values()},
                         "description": "JSON, or the whole light curve as CSV or VOTable."}}


def _resolve(source: str, catalog: str | None, url: str) -> tuple[int, str]:
    try:
        return resolve_source(source, catalog=catalog, url=url)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.get("", response_model=Page[ConeSource], summary="Cone search with latest fluxes",
            responses=responses(404, 422))
def cone(settings: SettingsDep, page: PageDep,
         ra: Annotated[float, Query(ge=0, le=360, allow_inf_nan=False,
                                    description="Centre RA, degrees.")],
         dec: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False,
                                     description="Centre Dec, degrees.")],
         radius: Annotated[float, Query(gt=0, le=10, allow_inf_nan=False,
                                        description="Radius, degrees.")],
         catalog: Annotated[str | None, Query(
             min_length=1, max_length=64, pattern=r"^[^\x00]+$",
             description="Catalogue (default: photometry.catalog).")] = None,
         ) -> Page[ConeSource]:
    """Catalogue sources within ``radius`` of (``ra``, ``dec``), nearest first, each with its
    latest measured peak (null when never measured)."""
    table = sources_in_cone(catalog or settings.photometry.catalog, ra, dec, radius,
                            url=settings.database_url)
    rows = records(table[page.offset:page.offset + page.limit],
                   ConeSource.model_fields.keys())
    return Page[ConeSource](data=[ConeSource(**r) for r in rows], count=len(table),
                            limit=page.limit, offset=page.offset)


@router.get("/{source}", response_model=SourceDetail, summary="One catalogue source",
            responses=responses(404, 422))
def source(source: SourceRef, settings: SettingsDep,
           catalog: CatalogQuery = None) -> SourceDetail:
    """The source's catalogue record and how often and when it was measured."""
    source_id, _ = _resolve(source, catalog, settings.database_url)
    return SourceDetail(**source_details(source_id, url=settings.database_url))


@router.get("/{source}/lightcurve", response_model=LightCurve, summary="A source's light curve",
            responses={**responses(404, 422), **_FILE_RESPONSES})
def lightcurve(source: SourceRef, settings: SettingsDep, page: PageDep,
               catalog: CatalogQuery = None,
               fmt: Annotated[Literal["json", "csv", "votable"], Query(
                   alias="format", description="json (paged), or the whole curve as csv or "
                                               "votable.")] = "json",
               ):
    """Raw and normalized peak fluxes with errors, flags and observation MJD, one point per
    product, ordered by MJD."""
    source_id, name = _resolve(source, catalog, settings.database_url)
    curve = light_curve(source_id, url=settings.database_url)
    if fmt != "json":
        # Not "name": a VOTable would turn it into a table ID (with a W03 warning).
        curve.meta.update(source_id=source_id, source_name=name)
        buffer = io.StringIO() if fmt == "csv" else io.BytesIO()  # text or XML bytes
        curve.write(buffer, format=OUTPUT_FORMATS[fmt])
        filename = f"lightcurve-{source_id}.{'csv' if fmt == 'csv' else 'xml'}"
        return Response(buffer.getvalue(), media_type=_MEDIA[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    points = [LightCurvePoint(**r) for r in records(curve[page.offset:page.offset + page.limit])]
    return LightCurve(source_id=source_id, name=name, data=points, count=len(curve),
                      limit=page.limit, offset=page.offset)


@router.get("/{source}/lightcurve.png", response_class=Response, summary="Light-curve plot",
            responses={**responses(404, 422),
                       200: {"content": {"image/png": {"schema": {"type": "string",
                                                                  "format": "binary"}}},
                             "description": "PNG: raw (grey) and normalized (black) flux; "
                                            "flagged points open red."}})
def lightcurve_png(source: SourceRef, settings: SettingsDep,
                   catalog: CatalogQuery = None) -> Response:
    """The light curve drawn against MJD (calendar dates on the top axis)."""
    source_id, name = _resolve(source, catalog, settings.database_url)
    curve = light_curve(source_id, url=settings.database_url)
    with tempfile.TemporaryDirectory() as tmp, _PLOT_LOCK:
        path = plot_light_curve(curve, FilePath(tmp) / "lightcurve.png",
                                title=f"{name} (id {source_id})")
        return Response(path.read_bytes(), media_type="image/png")
