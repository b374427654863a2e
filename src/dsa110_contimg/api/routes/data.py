"""``/api/data``: the registry of images and mosaics, and their photometry."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from dsa110_contimg.api.deps import DataIdPath, PageDep, SettingsDep
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.schemas import DataRecord, Lineage, Page, StoredMeasurement
from dsa110_contimg.api.security import TokenDep
from dsa110_contimg.api.tables import records
from dsa110_contimg.config import Settings
from dsa110_contimg.data_roots import display_path
from dsa110_contimg.database.products import photometry_count, photometry_for_product
from dsa110_contimg.database.registry import (
    finalize_data,
    get_data,
    get_data_lineage,
    list_data,
    not_ready_reason,
    trigger_auto_publish,
)
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.triggers import request_missing_photometry

__all__ = ["router"]

router = APIRouter(prefix="/api/data", tags=["data registry"])

PhotometryStatusFilter = Literal["pending", "running", "completed", "failed", "none"]
#: The registry's file locations, answered relative to the data root that holds them.
_PATH_FIELDS = ("path", "stage_path", "published_path")


def _answer(record: dict, settings: Settings) -> DataRecord:
    """A registry record as the API answers it: its file locations relative to the data root
    that holds them (`display_path`), so the server's directory layout is not exposed."""
    shown = {
        field: display_path(record[field], settings.data_roots)
        for field in _PATH_FIELDS
        if record.get(field) is not None
    }
    return DataRecord(**{**record, **shown})


@router.get(
    "",
    response_model=Page[DataRecord],
    summary="List registered products",
    responses=responses(422),
)
def data_list(
    settings: SettingsDep,
    page: PageDep,
    data_type: Annotated[Literal["image", "mosaic"] | None, Query(alias="type")] = None,
    photometry_status: Annotated[
        PhotometryStatusFilter | None, Query(description="'none': photometry never requested.")
    ] = None,
) -> Page[DataRecord]:
    """Registered products, newest first, optionally by type and photometry status."""
    rows, total = list_data(
        data_type=data_type,
        photometry_status=photometry_status,
        limit=page.limit,
        offset=page.offset,
        url=settings.database_url,
    )
    return Page[DataRecord](
        data=[_answer(r, settings) for r in rows], count=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{data_id}",
    response_model=DataRecord,
    summary="One registered product",
    responses=responses(404, 422),
)
def data_record(data_id: DataIdPath, settings: SettingsDep) -> DataRecord:
    """The registry record: location, QA/finalization, photometry status, job id and error,
    and the product's observation times and field."""
    return _answer(get_data(data_id, url=settings.database_url), settings)


def _not_ready(
    data_id: str, action: str, settings: Settings, otherwise: str = "state changed; retry"
) -> HTTPException:
    """409 with the reason ``data_id`` was not finalized or published (``action``); a product
    whose photometry was never requested has it queued now (photometry enabled), so that it
    leaves with its photometry once that has ended."""
    url, wait = settings.database_url, settings.publish.wait_for_photometry
    enabled = settings.photometry.enabled
    queued = (
        request_missing_photometry(
            data_id, params=PhotometryParams.from_settings(settings), url=url
        )
        if wait and enabled
        else None
    )
    reason = (
        not_ready_reason(data_id, wait_for_photometry=wait, photometry_enabled=enabled, url=url)
        or otherwise
    )
    if queued is not None:
        reason += f" (never requested before: queued now in job {queued}; retry once it ended)"
    return HTTPException(status.HTTP_409_CONFLICT, f"{data_id} not {action}: {reason}")


@router.post(
    "/{data_id}/finalize",
    response_model=DataRecord,
    summary="Finalize a product",
    dependencies=[TokenDep],
    responses=responses(401, 403, 404, 409, 422),
)
def finalize(data_id: DataIdPath, settings: SettingsDep) -> DataRecord:
    """Mark the product finalized; 409 with the reason when QA or validation failed, or its
    photometry has not yet ended (``publish.wait_for_photometry``) — a product whose photometry
    was never requested (photometry enabled) has it queued by this request, and is finalized by
    a later one once it has ended; 403 when its file now resolves outside the data roots."""
    url = settings.database_url
    if not finalize_data(
        data_id,
        wait_for_photometry=settings.publish.wait_for_photometry,
        photometry_enabled=settings.photometry.enabled,
        url=url,
        roots=settings.data_roots,
    ):
        raise _not_ready(data_id, "finalized", settings)
    return _answer(get_data(data_id, url=url), settings)


@router.post(
    "/{data_id}/publish",
    response_model=DataRecord,
    summary="Publish a product",
    dependencies=[TokenDep],
    responses=responses(401, 403, 404, 409, 422),
)
def publish(data_id: DataIdPath, settings: SettingsDep) -> DataRecord:
    """Move the staged file to ``publish.published_dir`` and record it (the data_id stays).

    409 with the reason when the product may not be published yet (as for finalize: a product
    whose photometry was never requested has it queued), auto-publishing is disabled for it,
    its staged file is missing, or the published name is taken; 403 when the staged file or
    the published name resolves outside the data roots (nothing is moved).
    """
    try:
        published = trigger_auto_publish(
            data_id,
            settings.publish.published_dir,
            wait_for_photometry=settings.publish.wait_for_photometry,
            photometry_enabled=settings.photometry.enabled,
            url=settings.database_url,
            roots=settings.data_roots,
        )
    except (FileNotFoundError, FileExistsError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if published is None:
        raise _not_ready(
            data_id, "published", settings, otherwise="auto-publishing is disabled for this product"
        )
    return _answer(get_data(data_id, url=settings.database_url), settings)


@router.get(
    "/{data_id}/lineage",
    response_model=Lineage,
    summary="Parents and children",
    responses=responses(404, 422),
)
def lineage(data_id: DataIdPath, settings: SettingsDep) -> Lineage:
    """Products this one was made from (parents) and made into (children)."""
    return Lineage(data_id=data_id, **get_data_lineage(data_id, url=settings.database_url))


@router.get(
    "/{data_id}/photometry",
    response_model=Page[StoredMeasurement],
    summary="A product's stored photometry",
    responses=responses(404, 422),
)
def photometry(
    data_id: DataIdPath,
    settings: SettingsDep,
    page: PageDep,
    params_hash: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=16,
            pattern=r"^[0-9a-f]+$",
            description="One parameter set (default: each source's current measurement).",
        ),
    ] = None,
) -> Page[StoredMeasurement]:
    """The product's measurements by catalogue source id, a page at a time."""
    url = settings.database_url
    table = photometry_for_product(
        data_id, params_hash=params_hash, limit=page.limit, offset=page.offset, url=url
    )
    total = photometry_count(data_id, params_hash=params_hash, url=url)
    return Page[StoredMeasurement](
        data=[StoredMeasurement(**r) for r in records(table)],
        count=total,
        limit=page.limit,
        offset=page.offset,
    )
