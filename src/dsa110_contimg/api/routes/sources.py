"""``/api/sources``: catalogue sources, cone searches, light curves and sub-band spectra."""

from __future__ import annotations

import io
import tempfile
import threading
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from dsa110_contimg.api.deps import PageDep, SettingsDep
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.schemas import (
    BinnedLightCurve,
    ConeSource,
    LightCurve,
    LightCurveBin,
    LightCurvePoint,
    Page,
    SourceDetail,
    SpectralFitOut,
    SpectralIndexEpoch,
    SpectralIndexHistory,
    Spectrum,
    SpectrumBinOut,
)
from dsa110_contimg.api.tables import records
from dsa110_contimg.catalog.sources import resolve_source, source_details, sources_in_cone
from dsa110_contimg.database.products import light_curve
from dsa110_contimg.database.spectra import source_spectral_indices, source_spectrum
from dsa110_contimg.photometry.adaptive import bin_stored_light_curve, combine_spectral_indices
from dsa110_contimg.photometry.plots import plot_light_curve, plot_spectrum
from dsa110_contimg.photometry.table_io import OUTPUT_FORMATS

__all__ = ["router"]

router = APIRouter(prefix="/api/sources", tags=["sources and light curves"])

SourceRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[^\x00]+$",
        description="Catalogue source id, or its name (e.g. 'NVSS J150955+462930').",
    ),
]
CatalogQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00]+$",
        description="Catalogue of a source name (when a name is in several catalogues).",
    ),
]
DataIdQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]+$",
        description="Registered product (default: the latest observation with a spectrum).",
    ),
]
_MEDIA = {"csv": "text/csv", "votable": "application/x-votable+xml"}
#: pyplot keeps global state: one plot at a time across the request threads.
_PLOT_LOCK = threading.Lock()
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {"schema": {"type": "string"}} for media in _MEDIA.values()},
        "description": "JSON, or the whole light curve as CSV or VOTable.",
    }
}


def _resolve(source: str, catalog: str | None, url: str) -> tuple[int, str]:
    return resolve_source(source, catalog=catalog, url=url)  # unknown: NotFoundError, 404


@router.get(
    "",
    response_model=Page[ConeSource],
    summary="Cone search with latest fluxes",
    responses=responses(404, 422),
)
def cone(
    settings: SettingsDep,
    page: PageDep,
    ra: Annotated[
        float, Query(ge=0, le=360, allow_inf_nan=False, description="Centre RA, degrees.")
    ],
    dec: Annotated[
        float, Query(ge=-90, le=90, allow_inf_nan=False, description="Centre Dec, degrees.")
    ],
    radius: Annotated[
        float, Query(gt=0, le=10, allow_inf_nan=False, description="Radius, degrees.")
    ],
    catalog: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[^\x00]+$",
            description="Catalogue (default: photometry.catalog).",
        ),
    ] = None,
) -> Page[ConeSource]:
    """Catalogue sources within ``radius`` of (``ra``, ``dec``), nearest first, each with its
    latest measured peak (null when never measured)."""
    table = sources_in_cone(
        catalog or settings.photometry.catalog, ra, dec, radius, url=settings.database_url
    )
    rows = records(table[page.offset : page.offset + page.limit], ConeSource.model_fields.keys())
    return Page[ConeSource](
        data=[ConeSource(**r) for r in rows], count=len(table), limit=page.limit, offset=page.offset
    )


@router.get(
    "/{source}",
    response_model=SourceDetail,
    summary="One catalogue source",
    responses=responses(404, 422),
)
def source(source: SourceRef, settings: SettingsDep, catalog: CatalogQuery = None) -> SourceDetail:
    """The source's catalogue record and how often and when it was measured."""
    source_id, _ = _resolve(source, catalog, settings.database_url)
    return SourceDetail(**source_details(source_id, url=settings.database_url))


@router.get(
    "/{source}/lightcurve",
    response_model=LightCurve | BinnedLightCurve,
    summary="A source's light curve",
    responses={**responses(404, 422), **_FILE_RESPONSES},
)
def lightcurve(
    source: SourceRef,
    settings: SettingsDep,
    page: PageDep,
    catalog: CatalogQuery = None,
    fmt: Annotated[
        Literal["json", "csv", "votable"],
        Query(alias="format", description="json (paged), or the whole curve as csv or votable."),
    ] = "json",
    bin_snr: Annotated[
        float | None,
        Query(
            gt=0,
            le=1000,
            allow_inf_nan=False,
            description="Merge consecutive epochs until each point reaches this S/N "
            "(a faint source's light curve); each point gives its MJD "
            "range. Default: one point per product.",
        ),
    ] = None,
):
    """Raw and normalized peak fluxes with errors, flags and observation MJD, one point per
    product, ordered by MJD — or, with ``bin_snr``, epochs merged to that S/N."""
    source_id, name = _resolve(source, catalog, settings.database_url)
    curve = light_curve(source_id, url=settings.database_url)
    table = curve if bin_snr is None else bin_stored_light_curve(curve, bin_snr)
    if fmt != "json":
        return _file(table, fmt, f"lightcurve-{source_id}", source_id, name)
    rows = records(table[page.offset : page.offset + page.limit])
    if bin_snr is None:
        return LightCurve(
            source_id=source_id,
            name=name,
            data=[LightCurvePoint(**r) for r in rows],
            count=len(table),
            limit=page.limit,
            offset=page.offset,
        )
    return BinnedLightCurve(
        source_id=source_id,
        name=name,
        target_snr=bin_snr,
        flux=table.meta["flux"],
        data=[LightCurveBin(**r) for r in rows],
        count=len(table),
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/{source}/spectrum",
    response_model=Spectrum,
    summary="A source's sub-band spectrum",
    responses={**responses(404, 422), **_FILE_RESPONSES},
)
def spectrum(
    source: SourceRef,
    settings: SettingsDep,
    catalog: CatalogQuery = None,
    data_id: DataIdQuery = None,
    fmt: Annotated[
        Literal["json", "csv", "votable"],
        Query(alias="format", description="json, or the bins as csv or votable."),
    ] = "json",
):
    """The source's adaptive sub-band spectrum on one product: adjacent sub-bands merged to
    the target S/N (weighted mean flux density at the weighted mean frequency, or an upper
    limit) and the power-law fit with its error. 404 when the source has no spectrum there."""
    source_id, name = _resolve(source, catalog, settings.database_url)
    table = _spectrum(source_id, name, data_id, settings.database_url)
    if fmt != "json":
        return _file(table, fmt, f"spectrum-{source_id}-{table.meta['data_id']}", source_id, name)
    return Spectrum(
        source_id=source_id,
        name=name,
        data_id=table.meta["data_id"],
        mjd_mid=table.meta["mjd_mid"],
        fit=SpectralFitOut(**{k: table.meta[k] for k in SpectralFitOut.model_fields}),
        bins=[SpectrumBinOut(**r) for r in records(table)],
    )


@router.get(
    "/{source}/spectrum.png",
    response_class=Response,
    summary="Spectrum plot",
    responses={
        **responses(404, 422),
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "PNG: bins with errors, upper limits as arrows, "
            "the fitted power law with α ± σ_α.",
        },
    },
)
def spectrum_png(
    source: SourceRef,
    settings: SettingsDep,
    catalog: CatalogQuery = None,
    data_id: DataIdQuery = None,
) -> Response:
    """The source's sub-band spectrum on one product, drawn against frequency."""
    source_id, name = _resolve(source, catalog, settings.database_url)
    table = _spectrum(source_id, name, data_id, settings.database_url)
    with tempfile.TemporaryDirectory() as tmp, _PLOT_LOCK:
        path = plot_spectrum(
            table, FilePath(tmp) / "spectrum.png", title=f"{name} on {table.meta['data_id']}"
        )
        return Response(path.read_bytes(), media_type="image/png")


@router.get(
    "/{source}/spectral-index",
    response_model=SpectralIndexHistory,
    summary="A source's spectral index over time",
    responses=responses(404, 422),
)
def spectral_index(
    source: SourceRef, settings: SettingsDep, page: PageDep, catalog: CatalogQuery = None
) -> SpectralIndexHistory:
    """α and its error on every product with a spectrum, in time order, and all epochs
    combined (α is usually steady: the combined error shrinks as 1/√epochs, and χ²_ν of the
    epochs about it tests that)."""
    source_id, name = _resolve(source, catalog, settings.database_url)
    table = source_spectral_indices(source_id, url=settings.database_url)
    alpha, alpha_err, chi2_nu = combine_spectral_indices(table["alpha"], table["alpha_err"])
    rows = records(table[page.offset : page.offset + page.limit])
    return SpectralIndexHistory(
        source_id=source_id,
        name=name,
        alpha=alpha,
        alpha_err=alpha_err,
        chi2_nu=chi2_nu,
        n_epochs=int(np.isfinite(np.asarray(table["alpha"], dtype=float)).sum()),
        data=[SpectralIndexEpoch(**r) for r in rows],
        count=len(table),
        limit=page.limit,
        offset=page.offset,
    )


def _spectrum(source_id: int, name: str, data_id: str | None, url: str):
    """The stored spectrum, or 404 saying what has none."""
    table = source_spectrum(source_id, data_id=data_id, url=url)
    if "data_id" not in table.meta:
        where = f" on {data_id}" if data_id else ""
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no sub-band spectrum of {name}{where}: spectra are measured "
            "when a product has sub-band images",
        )
    return table


def _file(table, fmt: str, stem: str, source_id: int, name: str) -> Response:
    """The whole table as a CSV or VOTable download."""
    # Not "name": a VOTable would turn it into a table ID (with a W03 warning).
    table.meta.update(source_id=source_id, source_name=name)
    buffer = io.StringIO() if fmt == "csv" else io.BytesIO()  # text or XML bytes
    table.write(buffer, format=OUTPUT_FORMATS[fmt])
    filename = f"{stem}.{'csv' if fmt == 'csv' else 'xml'}"
    return Response(
        buffer.getvalue(),
        media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{source}/lightcurve.png",
    response_class=Response,
    summary="Light-curve plot",
    responses={
        **responses(404, 422),
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "PNG: raw (grey) and normalized (black) flux; flagged points open red.",
        },
    },
)
def lightcurve_png(
    source: SourceRef, settings: SettingsDep, catalog: CatalogQuery = None
) -> Response:
    """The light curve drawn against MJD (calendar dates on the top axis)."""
    source_id, name = _resolve(source, catalog, settings.database_url)
    curve = light_curve(source_id, url=settings.database_url)
    with tempfile.TemporaryDirectory() as tmp, _PLOT_LOCK:
        path = plot_light_curve(
            curve, FilePath(tmp) / "lightcurve.png", title=f"{name} (id {source_id})"
        )
        return Response(path.read_bytes(), media_type="image/png")
