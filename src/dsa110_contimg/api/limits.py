"""Bounded requests: a request body larger than ``api.max_body_bytes`` is refused with 413.

The limit is checked against ``Content-Length`` before anything is read, and against the bytes
actually received for a chunked body (which is read, up to the limit, before the application
sees it), so one request can never make the server hold more than the limit. The largest
legitimate body — `api.max_sync_positions` positions of a synchronous measurement — is well
below the default of 1 MiB.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dsa110_contimg.api.schemas import ErrorResponse

__all__ = ["BodySizeLimit"]

log = logging.getLogger(__name__)


class BodySizeLimit:
    """ASGI middleware answering 413 to an HTTP request whose body exceeds ``max_bytes``.

    Parameters
    ----------
    app : ASGI application
    max_bytes : int
        Largest accepted body in bytes.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, f"{int(declared)} bytes")
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, f"more than {self.max_bytes} bytes")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: str) -> None:
        detail = (
            f"request body too large: {size}; at most {self.max_bytes} bytes "
            "(api.max_body_bytes) — submit larger work as a batch job"
        )
        log.warning("%s %s: %s", scope["method"], scope["path"], detail)
        response = JSONResponse(
            ErrorResponse(detail=detail).model_dump(),
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
