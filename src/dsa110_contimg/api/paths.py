"""Confining request paths to the configured data roots.

A path from a request is resolved (``..`` removed and every symlink followed) and accepted only
when the result lies inside one of the data roots (``data_roots`` in the settings,
``CONTIMG_DATA_ROOTS``). A relative path is taken relative to the first root.

Examples
--------
>>> from pathlib import Path
>>> confine("images/a.fits", [Path("/data/dsa110")])
PosixPath('/data/dsa110/images/a.fits')
>>> confine("../etc/passwd", [Path("/data/dsa110")])
Traceback (most recent call last):
...
dsa110_contimg.api.paths.PathOutsideRootsError: ../etc/passwd is outside the data roots
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["MissingFileError", "PathOutsideRootsError", "confine", "confine_file"]


class PathOutsideRootsError(PermissionError):
    """A path that resolves outside every data root."""


class MissingFileError(FileNotFoundError):
    """A confined path that is not an existing, accessible regular file."""


def confine(path: str, roots: Sequence[Path]) -> Path:
    """The resolved ``path``, provided it lies inside one of ``roots``.

    Parameters
    ----------
    path : str
        As given in the request; relative paths are relative to ``roots[0]``.
    roots : sequence of Path
        The allowed directories (resolved here too, so a root that is a symlink works).

    Returns
    -------
    Path
        The absolute path with symlinks resolved (it need not exist).

    Raises
    ------
    PathOutsideRootsError
        The resolved path is not inside any root (also when there are no roots).
    ValueError
        The path is empty or contains a NUL character.
    """
    if not path or "\0" in path:
        raise ValueError("a path must be non-empty and must not contain NUL characters")
    if not roots:
        raise PathOutsideRootsError(f"{path} is outside the data roots (none configured)")
    candidate = Path(path)  # "~" is a name here, never a home directory
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    resolved = candidate.resolve()
    if any(resolved.is_relative_to(root.resolve()) for root in roots):
        return resolved
    raise PathOutsideRootsError(f"{path} is outside the data roots")


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
