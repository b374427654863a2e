"""Budgets of the synchronous measurements: slots, time and memory.

A synchronous photometry request (``POST /api/photometry/…``) does its work while the client
waits, so each one is bounded before and while it runs:

1. **Slots.** At most ``api.max_concurrent_measurements`` run at once; a request waits at most
   ``api.queue_timeout_s`` for a slot, then gets 503 with ``Retry-After``.
2. **Memory.** A request is admitted only while the server's resident memory is below
   ``api.memory_budget_bytes``, and a ``MemoryError`` while it runs becomes 503. The work of one
   request is itself bounded by the body limit (`dsa110_contimg.api.limits`), the number of
   positions (``api.max_sync_positions``), the beam checked against the image and the image's
   size (``api.max_sync_image_pixels``, `refuse_large_image`: 422 before anything is read), so
   the slots bound the server's memory.
3. **Time.** A request not answered within ``api.request_timeout_s`` gets 503 naming the
   budget, and its measurement is cancelled: each request carries a ``threading.Event``
   (`cancel_event`) that the routes pass to the engine, which stops at the end of its current
   stage once the event is set (`dsa110_contimg.photometry.forced.MeasurementCancelled`). The
   request holds its slot until its work has stopped, so the server never runs more
   measurements than it has slots.

Every refusal is a JSON `ErrorResponse` with the reason; never a 500 or a reset connection.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import weakref
from pathlib import Path

import psutil
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dsa110_contimg.api.schemas import ErrorResponse
from dsa110_contimg.config import ApiSettings
from dsa110_contimg.errors import InputError
from dsa110_contimg.imaging.fits_io import image_pixels
from dsa110_contimg.photometry.forced import MeasurementCancelled

__all__ = [
    "BUDGET_RESPONSES",
    "MEASURE_PREFIX",
    "MeasurementBudget",
    "cancel_event",
    "refuse_large_image",
]

log = logging.getLogger(__name__)

#: Requests under this path prefix (POST) are synchronous measurements.
MEASURE_PREFIX = "/api/photometry/"
#: Key of a measurement's cancel event in the request state (``scope["state"]``).
_CANCEL_KEY = "measurement_cancel"
#: The 503 of the budgets in the OpenAPI document of those operations.
BUDGET_RESPONSES: dict[int | str, dict] = {
    503: {
        "model": ErrorResponse,
        "description": (
            "Over a budget of synchronous measurements: no slot free within api.queue_timeout_s, "
            "server memory over api.memory_budget_bytes, not enough memory, or not answered within "
            "api.request_timeout_s (the reason in detail; Retry-After when retrying may help)."
        ),
    }
}


class MeasurementBudget:
    """ASGI middleware enforcing the slots, time and memory budgets of synchronous
    measurements (see the module docstring).

    Parameters
    ----------
    app : ASGI application
    settings : ApiSettings
        ``max_concurrent_measurements``, ``queue_timeout_s``, ``request_timeout_s`` and
        ``memory_budget_bytes``.
    """

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings
        self._process = psutil.Process()
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(MEASURE_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        settings = self.settings
        slots = self._semaphore()
        try:
            await asyncio.wait_for(slots.acquire(), settings.queue_timeout_s)
        except TimeoutError:
            await _refuse(
                scope,
                receive,
                send,
                (
                    f"server busy: {settings.max_concurrent_measurements} synchronous "
                    f"measurements running and none ended within {settings.queue_timeout_s:g} s "
                    "(api.max_concurrent_measurements, api.queue_timeout_s); retry later or "
                    "submit a batch job"
                ),
                retry_after=settings.queue_timeout_s,
            )
            return
        rss = self._process.memory_info().rss
        if rss >= settings.memory_budget_bytes:
            slots.release()
            await _refuse(
                scope,
                receive,
                send,
                (
                    f"server memory {rss / 2**20:.0f} MiB is over the budget of "
                    f"{settings.memory_budget_bytes / 2**20:.0f} MiB (api.memory_budget_bytes); "
                    "retry later or submit a batch job"
                ),
                retry_after=settings.queue_timeout_s,
            )
            return
        await self._run(scope, receive, send, slots)

    def _semaphore(self) -> asyncio.Semaphore:
        """The slots of the running event loop (a test client runs one loop per client)."""
        loop = asyncio.get_running_loop()
        if loop not in self._slots:
            self._slots[loop] = asyncio.Semaphore(self.settings.max_concurrent_measurements)
        return self._slots[loop]

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, slots: asyncio.Semaphore
    ) -> None:
        """Run the request holding a slot until its work ends; at the deadline answer 503 and
        cancel the work (its slot is given back once it has stopped)."""
        started = abandoned = False
        cancel = threading.Event()
        scope = {**scope, "state": {**scope.get("state", {}), _CANCEL_KEY: cancel}}

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if abandoned:  # the client already has its 503
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def work() -> None:
            try:
                await self.app(scope, receive, guarded_send)
            except MemoryError as exc:
                if started or abandoned:
                    raise
                await _refuse(
                    scope,
                    receive,
                    send,
                    (
                        f"not enough memory for this measurement ({exc or 'MemoryError'}); ask "
                        "for fewer positions or a smaller beam, or submit a batch job"
                    ),
                    retry_after=None,
                )

        def finished(task: asyncio.Future) -> None:
            """Give the slot back once the work has ended; report work that failed after its
            client was answered (before, the exception reaches the client's handlers)."""
            slots.release()
            if not abandoned or task.cancelled():
                return
            error = task.exception()
            if error is None or isinstance(error, MeasurementCancelled):
                log.info("%s %s: ended after its deadline", scope["method"], scope["path"])
            else:
                log.warning(
                    "%s %s: failed after its deadline: %r", scope["method"], scope["path"], error
                )

        task = asyncio.ensure_future(work())
        task.add_done_callback(finished)
        timeout = self.settings.request_timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            if started:  # the answer is already on its way: let it finish
                await task
                return
            abandoned = True
            cancel.set()
            await _refuse(
                scope,
                receive,
                send,
                (
                    f"the measurement took longer than its budget of {timeout:g} s "
                    "(api.request_timeout_s); ask for fewer positions or submit a batch job"
                ),
                retry_after=timeout,
            )


def cancel_event(request: Request) -> threading.Event:
    """The cancel event of a synchronous measurement, set by `MeasurementBudget` when the
    request passed ``api.request_timeout_s``; pass it to the engine (``cancel=``).

    Raises
    ------
    RuntimeError
        The request did not pass through `MeasurementBudget` (a route outside
        `MEASURE_PREFIX`, or an application built without the middleware).
    """
    try:
        return getattr(request.state, _CANCEL_KEY)
    except AttributeError:
        raise RuntimeError(
            f"{request.url.path} is not a synchronous measurement under MeasurementBudget"
        ) from None


async def _refuse(
    scope: Scope, receive: Receive, send: Send, detail: str, retry_after: float | None
) -> None:
    log.warning("%s %s: 503: %s", scope["method"], scope["path"], detail)
    headers = {"Retry-After": str(math.ceil(retry_after))} if retry_after else None
    response = JSONResponse(
        ErrorResponse(detail=detail).model_dump(), status_code=503, headers=headers
    )
    await response(scope, receive, send)


def refuse_large_image(path: Path, max_pixels: int) -> None:
    """Refuse an image too large for a synchronous measurement, from its header alone.

    Raises
    ------
    InputError
        The image plane has more than ``max_pixels`` pixels (``api.max_sync_image_pixels``).
    dsa110_contimg.imaging.fits_io.ImageReadError
        The file is not a readable FITS image.
    """
    pixels = image_pixels(path)
    if pixels > max_pixels:
        raise InputError(
            f"{path.name}: {pixels} pixels, more than the {max_pixels} a "
            "synchronous measurement reads (api.max_sync_image_pixels); submit a "
            "batch job (POST /api/batch/photometry)"
        )
