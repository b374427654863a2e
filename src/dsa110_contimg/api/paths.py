"""Confining request paths to the configured data roots.

A path from a request is resolved (``..`` removed and every symlink followed) and accepted only
when the result lies inside one of the data roots (``data_roots`` in the settings,
``CONTIMG_DATA_ROOTS``; see `dsa110_contimg.data_roots`). A relative path is taken relative to
the first root.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dsa110_contimg.data_roots import PathOutsideRootsError, confine
from dsa110_contimg.errors import NotFoundError

__all__ = ["MissingFileError", "PathOutsideRootsError", "confine", "confine_file"]


class MissingFileError(NotFoundError, FileNotFoundError):
    """A confined path that is not an existing, accessible regular file."""


def confine_file(path: str, roots: Sequence[Path]) -> Path:
    """`confine` ``path`` and require an existing regular file there.

    Raises
    ------
    PathOutsideRootsError
        As `confine`.
    MissingFileError
        Nothing readable at the path (missing, a directory, a name too long, ...).
    """
    resolved = confine(path, roots)
    try:
        if resolved.is_file():
            return resolved
    except OSError as exc:
        raise MissingFileError(f"no such file: {path} ({exc.strerror})") from exc
    raise MissingFileError(f"no such file: {path}")
