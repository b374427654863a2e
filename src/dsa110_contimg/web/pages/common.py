"""What every page router shares: paging of lists and the not-found page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse

from dsa110_contimg.web.templating import render

__all__ = ["PAGE_SIZES", "Pager", "PagerDep", "not_found"]

#: Page sizes offered by the lists.
PAGE_SIZES = (25, 50, 100, 200)


@dataclass(frozen=True)
class Pager:
    """A page of a list: ``limit`` rows from ``offset``, and links to the neighbours."""

    limit: int
    offset: int

    def links(self, request: Request, total: int) -> dict[str, str | int | None]:
        """``prev``/``next`` URLs (None at the ends), the first row shown and the total,
        keeping the request's other query parameters (filters)."""
        params = dict(request.query_params)

        def at(offset: int) -> str:
            return f"{request.url.path}?{urlencode({**params, 'offset': offset})}"

        return {
            "prev": at(max(0, self.offset - self.limit)) if self.offset > 0 else None,
            "next": at(self.offset + self.limit) if self.offset + self.limit < total else None,
            "first": self.offset + 1 if total else 0,
            "last": min(total, self.offset + self.limit),
            "total": total,
        }


def pager(
    limit: Annotated[int, Query(ge=1, le=max(PAGE_SIZES))] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Pager:
    """``limit`` and ``offset`` of a list page."""
    return Pager(limit, offset)


PagerDep = Annotated[Pager, Depends(pager)]


def not_found(request: Request, what: str) -> HTMLResponse:
    """The 404 page, saying what was not found."""
    return render(request, "error.html", {"title": "Not found", "message": what}, status_code=404)
