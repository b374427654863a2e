"""``/api/data``: the registry of images and mosaics, and their photometry."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from dsa110_contimg.api.deps import DataIdPath, PageDep, SettingsDep
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.schemas import DataRecord, Lineage, Page, StoredMeasurement
from dsa110_contimg.api.security import TokenDep
from dsa110_contimg.api.tables import records
from dsa110_contimg.database.data_registry import (
    finalize_data,
    get_data,
    get_data_lineage,
    list_data,
    not_ready_reason,
    trigger_auto_publish,
)
from dsa110_contimg.database.products import photometry_count, photometry_for_product

__all__ = ["router"]

router = APIRouter(prefix="/api/data", tags=["data registry"])

PhotometryStatusFilter = Literal["pending", "running", "completed", "failed", "none"]


@router.get("", response_model=Page[DataRecord], summary="List registered products",
            responses=responses(422))
def data_list(settings: SettingsDep, page: PageDep,
              data_type: Annotated[Literal["image", "mosaic"] | None,
                                   Query(alias="type")] = None,
              photometry_status: Annotated[PhotometryStatusFilter | None, Query(
                  description="'none': photometry never requested.")] = None,
              ) -> Page[DataRecord]:
    """Registered products, newest first, optionally by type and photometry status."""
    rows, total = list_data(data_type=data_type, photometry_status=photometry_status,
                            limit=page.limit, offset=page.offset, url=settings.database_url)
    return Page[DataRecord](data=[DataRecord(**r) for r in rows], count=total,
                            limit=page.limit, offset=page.offset)


@router.get("/{data_id}", response_model=DataRecord, summary="One registered product",
            responses=responses(404, 422))
def data_record(data_id: DataIdPath, settings: SettingsDep) -> DataRecord:
    """The registry record: location, QA/finalization, photometry status, job id and error,
    and the product's observation times and field."""
    return DataRecord(**get_data(data_id, url=settings.database_url))


@router.post("/{data_id}/finalize", response_model=DataRecord, summary="Finalize a product",
             dependencies=[TokenDep], responses=responses(401, 403, 404, 409, 422))
def finalize(data_id: DataIdPath, settings: SettingsDep) -> DataRecord:
    """Mark the product finalized; 409 with the reason when QA or validation failed, or its
    requested photometry has not yet ended (``publish.wait_for_photometry``); 403 when its file
    now resolves outside the data roots."""
    url, wait = settings.database_url, settings.publish.wait_for_photometry
    if not finalize_data(data_id, wait_for_photometry=wait, url=url, roots=settings.data_roots):
        reason = not_ready_reason(data_id, wait_for_photometry=wait, url=url)
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"{data_id} not finalized: {reason or 'state changed; retry'}")
    return DataRecord(**get_data(data_id, url=url))


@router.post("/{data_id}/publish", response_model=DataRecord, summary="Publish a product",
             dependencies=[TokenDep], responses=responses(401, 403, 404, 409, 422))
def publish(data_id: DataIdPath, settings: SettingsDep) -> DataRecord:
    """Move the staged file to ``publish.published_dir`` and record it (the data_id stays).

    409 with the reason when the product may not be published yet, auto-publishing is
    disabled for it, its staged file is missing, or the published name is taken; 403 when the
    staged file or the published name resolves outside the data roots (nothing is moved).
    """
    url, wait = settings.database_url, settings.publish.wait_for_photometry
    try:
        published = trigger_auto_publish(data_id, settings.publish.published_dir,
                                         wait_for_photometry=wait, url=url,
                                         roots=settings.data_roots)
    except (FileNotFoundError, FileExistsError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if published is None:
        reason = not_ready_reason(data_id, wait_for_photometry=wait, url=url) or \
            "auto-publishing is disabled for this product"
        raise HTTPException(status.HTTP_409_CONFLICT, f"{data_id} not published: {reason}")
    return DataRecord(**get_data(data_id, url=url))


@router.get("/{data_id}/lineage", response_model=Lineage, summary="Parents and children",
            responses=responses(404, 422))
def lineage(data_id: DataIdPath, settings: SettingsDep) -> Lineage:
    """Products this one was made from (parents) and made into (children)."""
    return Lineage(data_id=data_id, **get_data_lineage(data_id, url=settings.database_url))


@router.get("/{data_id}/photometry", response_model=Page[StoredMeasurement],
            summary="A product's stored photometry", responses=responses(404, 422))
def photometry(data_id: DataIdPath, settings: SettingsDep, page: PageDep,
               params_hash: Annotated[str | None, Query(
                   min_length=1, max_length=16, pattern=r"^[0-9a-f]+$",
                   description="One parameter set (default: each source's current "
                               "measurement).")] = None,
               ) -> Page[StoredMeasurement]:
    """The product's measurements by catalogue source id, a page at a time."""
    url = settings.database_url
    table = photometry_for_product(data_id, params_hash=params_hash, limit=page.limit,
                                   offset=page.offset, url=url)
    total = photometry_count(data_id, params_hash=params_hash, url=url)
    return Page[StoredMeasurement](data=[StoredMeasurement(**r) for r in records(table)],
                                   count=total, limit=page.limit, offset=page.offset)
