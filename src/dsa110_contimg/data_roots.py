"""The data roots: the only directories whose files the pipeline reads, registers or moves.

Every path that comes from outside — a request, a file in the watched directory, a registry
entry about to be measured, finalized or published — is resolved (``..`` removed and every
symlink followed) and accepted only when the result lies inside one of the data roots
(``data_roots`` in the settings, ``CONTIMG_DATA_ROOTS``). A symlink inside a root that points
outside is therefore outside. Relative paths are taken relative to the first root, and
messages name a path relative to the root that holds it (`display_path`), never the server's
absolute layout.

Examples
--------
>>> from pathlib import Path
>>> confine("images/a.fits", [Path("/data/dsa110")])
PosixPath('/data/dsa110/images/a.fits')
>>> confine("../etc/passwd", [Path("/data/dsa110")])
Traceback (most recent call last):
...
dsa110_contimg.data_roots.PathOutsideRootsError: ../etc/passwd is outside the data roots
>>> display_path("/data/dsa110/images/a.fits", [Path("/data/dsa110")])
'images/a.fits'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dsa110_contimg.errors import ForbiddenError, InputError

__all__ = ["PathOutsideRootsError", "confine", "display_path"]


class PathOutsideRootsError(ForbiddenError):
    """A path that resolves outside every data root."""


def confine(path: str | Path, roots: Sequence[Path], *, what: str | None = None) -> Path:
    """The resolved ``path``, provided it lies inside one of ``roots``.

    Parameters
    ----------
    path : str or Path
        Relative paths are relative to ``roots[0]``.
    roots : sequence of Path
        The allowed directories (resolved here too, so a root that is a symlink works).
    what : str, optional
        How to name the path in the error (default: the path as given).

    Returns
    -------
    Path
        The absolute path with symlinks resolved (it need not exist).

    Raises
    ------
    PathOutsideRootsError
        The resolved path is not inside any root (also when there are no roots).
    InputError
        The path is empty or contains a NUL character.
    """
    text = str(path)
    if not text or "\0" in text:
        raise InputError("a path must be non-empty and must not contain NUL characters")
    name = what or text
    if not roots:
        raise PathOutsideRootsError(f"{name} is outside the data roots (none configured)")
    candidate = Path(text)  # "~" is a name here, never a home directory
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    resolved = candidate.resolve()
    if any(resolved.is_relative_to(root.resolve()) for root in roots):
        return resolved
    raise PathOutsideRootsError(f"{name} is outside the data roots")


def display_path(path: str | Path, roots: Sequence[Path]) -> str:
    """``path`` relative to the data root that holds it (as configured or resolved); its file
    name when none does."""
    absolute = Path(path)
    for base in (form for root in roots for form in (root, root.resolve())):
        if absolute.is_relative_to(base):
            return str(absolute.relative_to(base))
    return absolute.name
