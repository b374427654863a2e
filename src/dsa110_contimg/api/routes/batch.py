"""``/api/batch``: batch photometry jobs (created here, run by workers)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status

from dsa110_contimg.api.deps import PageDep, Paging, SettingsDep, confined_file
from dsa110_contimg.api.errors import responses
from dsa110_contimg.api.legacy import match_coordinates
from dsa110_contimg.api.schemas import (
    MAX_JOB_ID,
    BatchPhotometryRequest,
    JobDetail,
    JobItem,
    JobSummaryOut,
    Page,
)
from dsa110_contimg.api.security import TokenDep
from dsa110_contimg.catalog.ingest import catalog_key
from dsa110_contimg.catalog.query import UnknownCatalogError, list_catalogs
from dsa110_contimg.database.registry import get_data
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import (
    JobSummary,
    cancel_job,
    create_batch_photometry_job,
    get_job,
    job_counts,
    list_jobs,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/batch", tags=["batch jobs"])

JobId = Annotated[int, Path(ge=1, le=MAX_JOB_ID, description="Batch job id.")]
JobStatus = Literal[
    "pending", "running", "completed", "completed_with_errors", "failed", "cancelled"
]


def _summary(job: JobSummary) -> dict:
    finished = job.n_completed + job.n_failed
    return {
        "id": job.id,
        "status": job.status,
        "n_items": job.n_items,
        "n_completed": job.n_completed,
        "n_failed": job.n_failed,
        "n_pending": job.n_pending,
        "progress": finished / job.n_items if job.n_items else 1.0,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "params": job.params,
    }


def _detail(job: JobSummary, page: Paging) -> JobDetail:
    items = [JobItem(**item) for item in job.items[page.offset : page.offset + page.limit]]
    return JobDetail(
        **_summary(job),
        items=Page[JobItem](data=items, count=len(job.items), limit=page.limit, offset=page.offset),
    )


def _job(job_id: int, url: str) -> JobSummary:
    return get_job(job_id, url=url)  # an unknown job is a NotFoundError: 404


@router.post(
    "/photometry",
    response_model=JobDetail,
    status_code=status.HTTP_201_CREATED,
    summary="Create a batch photometry job",
    dependencies=[TokenDep],
    responses=responses(400, 401, 403, 404, 422),
)
def create_photometry_job(
    request: BatchPhotometryRequest, settings: SettingsDep, page: PageDep, response: Response
) -> JobDetail:
    """Queue forced photometry of images (paths inside the data roots, registered when new)
    and/or registered products; workers (``contimg worker``) run it.

    Asking again for products and parameters already queued returns the existing job.

    Deprecated original DSA-110 shape, still accepted: ``{fits_paths, coordinates,
    normalize}`` (``fits_paths`` = ``images``; each of the ``coordinates`` is measured as the
    nearest catalogue source within 15″, and refused with 422 when there is none).
    """
    url = settings.database_url
    params = PhotometryParams.from_settings(
        settings,
        catalog=request.catalog,
        radius_deg=request.radius_deg,
        normalize=request.normalize,
        fitting=request.fitting.model_dump() if request.fitting else None,
    )
    source_ids = request.source_ids
    if source_ids is None:
        known = [str(name) for name in list_catalogs(url=url)["name"]]
        if catalog_key(params.catalog) not in known:
            raise UnknownCatalogError(
                f"unknown catalogue {params.catalog!r}; ingested: {', '.join(known) or 'none'}"
            )
        if request.coordinates is not None:
            source_ids = match_coordinates(params.catalog, request.coordinates, url=url)
    products: list[str] = []
    products.extend(str(confined_file(settings, image)) for image in request.images)
    for data_id in request.data_ids:
        get_data(data_id, url=url)  # only registered ids (never a path in disguise): else 404
        products.append(data_id)
    job_id = create_batch_photometry_job(products, params=params, source_ids=source_ids, url=url)
    response.headers["Location"] = f"/api/batch/{job_id}"
    return _detail(_job(job_id, url), page)


@router.get(
    "", response_model=Page[JobSummaryOut], summary="List batch jobs", responses=responses(422)
)
def jobs(
    settings: SettingsDep,
    page: PageDep,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
) -> Page[JobSummaryOut]:
    """Batch jobs, newest first (optionally of one status)."""
    url = settings.database_url
    counts = job_counts(url=url)
    total = counts.get(job_status, 0) if job_status else sum(counts.values())
    found = list_jobs(status=job_status, limit=page.limit, offset=page.offset, url=url)
    return Page[JobSummaryOut](
        data=[JobSummaryOut(**_summary(j)) for j in found],
        count=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/{job_id}",
    response_model=JobDetail,
    summary="One batch job with its items",
    responses=responses(404, 422),
)
def job(job_id: JobId, settings: SettingsDep, page: PageDep) -> JobDetail:
    """Status, counters, progress and a page of items (each with status, attempts, error)."""
    return _detail(_job(job_id, settings.database_url), page)


@router.post(
    "/{job_id}/cancel",
    response_model=JobDetail,
    summary="Cancel a batch job",
    dependencies=[TokenDep],
    responses=responses(401, 404, 422),
)
def cancel(job_id: JobId, settings: SettingsDep, page: PageDep) -> JobDetail:
    """Cancel the job's pending items (running items finish first); their products'
    photometry becomes ``failed`` with the reason."""
    url = settings.database_url
    _job(job_id, url)
    return _detail(cancel_job(job_id, url=url), page)
