"""How failures become HTTP responses, and their documentation in the OpenAPI document.

Every error body is `ErrorResponse` (``{"detail": ..., "errors": [...]}``):

====  ==========================================================================
400   request body that is not JSON
401   write endpoint without the configured token, or a wrong token
403   path outside the data roots (after resolving ``..`` and symlinks)
404   unknown data_id, job, source, catalogue, or missing file
409   the request conflicts with the product's state (not ready to publish,
      no stored correction factor, invalid status transition)
413   request body larger than ``api.max_body_bytes``
422   invalid request (each problem listed), unreadable or corrupt FITS file,
      not an image (pixels all blank, zero or constant), a beam that makes no
      sense for the image, too many positions for a synchronous request
500   a bug: any exception that is not a `dsa110_contimg.errors.ContimgError`
502   an external program failed
503   database unreachable (health check), a resource busy or unreachable
====  ==========================================================================

The project's errors are mapped here by their kind (`STATUS_BY_KIND`), once: a service raises
the kind of error it means (`dsa110_contimg.errors`) and every route answers it alike.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dsa110_contimg.api.schemas import ErrorResponse
from dsa110_contimg.errors import (
    ConflictError,
    ContimgError,
    ExternalToolError,
    ForbiddenError,
    InputError,
    NotFoundError,
    UnavailableError,
)

__all__ = ["STATUS_BY_KIND", "install_handlers", "responses", "status_for"]

log = logging.getLogger(__name__)

_DESCRIPTIONS = {
    400: "Malformed request body (not JSON).",
    401: "Missing or invalid API token.",
    403: "Path outside the configured data roots.",
    404: "Unknown id or missing file.",
    409: "Conflicts with the current state.",
    413: "Request body larger than api.max_body_bytes (1 MiB by default).",
    422: "Invalid request, an unreadable image or not an image, or a beam that makes no sense "
    "for the image (minor axis under 0.5 pixel, major axis over a quarter of the image).",
    502: "An external program failed.",
    503: "Database unreachable, or a resource busy for now.",
}

#: The HTTP status of each kind of `ContimgError` (the first matching class in order).
STATUS_BY_KIND: dict[type[ContimgError], int] = {
    InputError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NotFoundError: status.HTTP_404_NOT_FOUND,
    ForbiddenError: status.HTTP_403_FORBIDDEN,
    ConflictError: status.HTTP_409_CONFLICT,
    ExternalToolError: status.HTTP_502_BAD_GATEWAY,
    UnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def status_for(exc: ContimgError) -> int:
    """The HTTP status of ``exc``'s kind (500 for a `ContimgError` of no known kind)."""
    return next(
        (code for kind, code in STATUS_BY_KIND.items() if isinstance(exc, kind)),
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` entries for the given error status codes.

    An operation that takes a body (it documents 400) also documents 413.
    """
    if 400 in codes:
        codes = (*codes, 413)
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}


def _error(code: int, detail: str, errors: list[dict] | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(detail=detail, errors=errors).model_dump(), status_code=code)


def _relative(request: Request, message: str) -> str:
    """``message`` with every data root prefix removed: error responses name files relative
    to the data root that holds them, never the server's directory layout."""
    roots = sorted(
        (str(root) for root in request.app.state.settings.data_roots), key=len, reverse=True
    )
    for root in roots:
        message = message.replace(root.rstrip(os.sep) + os.sep, "")
    return message


def install_handlers(app: FastAPI) -> None:
    """Map request validation and the project's errors (by kind) to status codes with their
    messages; any other exception is a bug and answers 500."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg")),
                "type": str(e.get("type")),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(p['loc'])}: {p['msg']}" for p in problems)
        if any(p["type"] == "json_invalid" for p in problems):
            return _error(
                status.HTTP_400_BAD_REQUEST, f"request body is not JSON: {detail}", errors=problems
            )
        return _error(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid request: {detail}", errors=problems
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            ErrorResponse(detail=_relative(request, str(exc.detail))).model_dump(),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(ContimgError)
    async def _project(request: Request, exc: ContimgError) -> JSONResponse:
        code = status_for(exc)
        if code >= 500 or code == status.HTTP_422_UNPROCESSABLE_CONTENT:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return _error(code, _relative(request, str(exc)))
