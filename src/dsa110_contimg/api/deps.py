"""Dependencies shared by the routes: settings, paging, path parameters, confined files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from dsa110_contimg.api.paths import confine_file
from dsa110_contimg.config import Settings

__all__ = ["DataIdPath", "PageDep", "Paging", "SettingsDep", "confined_file", "get_settings_dep"]

#: Upper bound of ``limit`` in the OpenAPI document; the configured ``api.max_page_size``
#: lowers it further (the response says which limit was applied).
_LIMIT_CAP = 100_000
#: Offsets beyond 32 bits are refused (no list is that long).
_OFFSET_CAP = 2**31 - 1


def get_settings_dep(request: Request) -> Settings:
    """The settings the application was created with."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


@dataclass(frozen=True)
class Paging:
    """The page a list request asked for (limit already capped)."""

    limit: int
    offset: int


def paging(
    settings: SettingsDep,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=_LIMIT_CAP,
            description="Items per page (default api.default_page_size; at most "
            "api.max_page_size).",
        ),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=_OFFSET_CAP, description="Items to skip.")] = 0,
) -> Paging:
    """``limit`` and ``offset`` query parameters of every list."""
    api = settings.api
    return Paging(min(limit or api.default_page_size, api.max_page_size), offset)


PageDep = Annotated[Paging, Depends(paging)]

#: A ``data_id`` path parameter.
DataIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]+$",
        description="Registered product id, e.g. image-20261124T060000-3f9a1c.",
    ),
]


def confined_file(settings: Settings, path: str) -> FilePath:
    """A request path resolved inside the data roots, naming an existing file.

    Raises `dsa110_contimg.api.paths.PathOutsideRootsError` (403) or
    `dsa110_contimg.api.paths.MissingFileError` (404).
    """
    return confine_file(path, settings.data_roots)
