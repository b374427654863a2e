"""``/products``: the registry, paged and filtered, and one product's page."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from dsa110_contimg.api.deps import SettingsDep
from dsa110_contimg.database.products import photometry_count, photometry_for_product
from dsa110_contimg.database.registry import (
    UnknownDataError,
    get_data,
    get_data_lineage,
    list_data,
)
from dsa110_contimg.photometry.flags import decode_flags
from dsa110_contimg.variability.corrections import get_image_correction
from dsa110_contimg.web import queries
from dsa110_contimg.web.pages.common import PAGE_SIZES, PagerDep, not_found
from dsa110_contimg.web.plots import preview_plot
from dsa110_contimg.web.preview import make_preview
from dsa110_contimg.web.templating import render

__all__ = ["PHOTOMETRY_ROWS", "router"]

router = APIRouter(include_in_schema=False)

#: Photometry rows shown per page on a product's page (the CSV has them all).
PHOTOMETRY_ROWS = 500
_CSV_COLUMNS = (
    "source_id",
    "name",
    "ra_deg",
    "dec_deg",
    "mjd_mid",
    "peak_jyb",
    "peak_err_jyb",
    "local_rms_jyb",
    "snr",
    "chisq",
    "flags",
    "pb_response",
    "peak_norm_jyb",
    "peak_norm_err_jyb",
    "params_hash",
)


@router.get("/products", response_class=HTMLResponse)
def products(
    request: Request,
    settings: SettingsDep,
    page: PagerDep,
    data_type: Annotated[Literal["", "image", "mosaic"], Query(alias="type")] = "",
    photometry: Annotated[
        Literal["", "pending", "running", "completed", "failed", "none"], Query()
    ] = "",
    where: Annotated[Literal["", "staging", "published"], Query(alias="status")] = "",
) -> HTMLResponse:
    """Registered products, newest first, filtered by type, photometry status and place."""
    rows, total = list_data(
        data_type=data_type or None,
        photometry_status=photometry or None,
        status=where or None,
        limit=page.limit,
        offset=page.offset,
        url=settings.database_url,
    )
    return render(
        request,
        "products.html",
        {
            "title": "Products",
            "nav": "products",
            "rows": rows,
            "pages": page.links(request, total),
            "sizes": PAGE_SIZES,
            "limit": page.limit,
            "filters": {"type": data_type, "photometry": photometry, "status": where},
            "statuses": queries.STATUSES,
        },
    )


@router.get("/products/{data_id}", response_class=HTMLResponse)
def product(
    request: Request,
    data_id: str,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> HTMLResponse:
    """One product: record, preview with measured positions, photometry (a page of it),
    correction factor and references, lineage and job history."""
    url = settings.database_url
    try:
        record = get_data(data_id, url=url)
    except UnknownDataError as exc:
        return not_found(request, str(exc))
    n_rows = photometry_count(data_id, url=url) if record["photometry_status"] else 0
    table = (
        photometry_for_product(data_id, limit=PHOTOMETRY_ROWS, offset=offset, url=url)
        if n_rows
        else None
    )
    rows = []
    if table is not None:
        for row in table:
            rows.append(
                {c: row[c] for c in table.colnames}
                | {"flag_names": ", ".join(decode_flags(int(row["flags"])))}
            )
    correction = get_image_correction(data_id, url=url)
    file_exists = Path(record["path"]).exists()
    everything = table
    if n_rows > PHOTOMETRY_ROWS and (file_exists or correction is not None):
        everything = photometry_for_product(data_id, url=url)
    preview = None
    if everything is not None and file_exists:
        preview = make_preview(
            record["path"], everything, title=f"{data_id}: {n_rows} measured positions"
        )
    references = []
    if correction is not None:
        names = (
            {}
            if everything is None
            else dict(zip(everything["source_id"].tolist(), everything["name"].tolist()))
        )
        references = [(int(i), names.get(int(i), str(i))) for i in correction.reference_source_ids]
    return render(
        request,
        "product.html",
        {
            "title": data_id,
            "nav": "products",
            "record": record,
            "rows": rows,
            "n_rows": n_rows,
            "offset": offset,
            "page_rows": PHOTOMETRY_ROWS,
            "plot": preview_plot(preview) if preview is not None else None,
            "file_exists": file_exists,
            "correction": correction,
            "references": references,
            "lineage": get_data_lineage(data_id, url=url),
            "jobs": queries.product_jobs(data_id, url=url),
        },
    )


@router.get("/products/{data_id}/photometry.csv")
def product_csv(request: Request, data_id: str, settings: SettingsDep) -> Response:
    """Every stored measurement of the product, as CSV."""
    url = settings.database_url
    try:
        get_data(data_id, url=url)
    except UnknownDataError as exc:
        return not_found(request, str(exc))
    table = photometry_for_product(data_id, url=url)
    buffer = io.StringIO()
    table[[c for c in _CSV_COLUMNS if c in table.colnames]].write(buffer, format="ascii.csv")
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="photometry-{_safe(data_id)}.csv"'},
    )


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
