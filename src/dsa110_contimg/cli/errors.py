"""How the project's errors end a ``contimg`` command: the message and an exit code per kind.

Every command runs inside `reported_errors` (the root command group does it once), so a
`dsa110_contimg.errors.ContimgError` raised anywhere below prints ``error: <message>`` on
stderr and exits with its kind's code (`EXIT_CODES`). Any other exception is a bug and is left
to Python: its traceback is printed and the exit code is 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from typer.core import TyperGroup

from dsa110_contimg.errors import (
    ConflictError,
    ContimgError,
    ExternalToolError,
    ForbiddenError,
    InputError,
    NotFoundError,
    UnavailableError,
)

__all__ = ["EXIT_CODES", "ReportingGroup", "exit_code_for", "reported_errors"]

#: The exit code of each kind of `ContimgError` (the first matching class in order). 1 is left
#: to bugs and to commands whose run finished with failed parts; 2 is also click's code for a
#: usage error, the same complaint: the request cannot be done as asked.
EXIT_CODES: dict[type[ContimgError], int] = {
    InputError: 2,
    NotFoundError: 2,
    ForbiddenError: 2,
    ConflictError: 3,
    ExternalToolError: 4,
    UnavailableError: 5,
}

_console = Console(stderr=True)


def exit_code_for(exc: ContimgError) -> int:
    """The exit code of ``exc``'s kind (1 for a `ContimgError` of no known kind)."""
    return next((code for kind, code in EXIT_CODES.items() if isinstance(exc, kind)), 1)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a `ContimgError` into ``error: <message>`` on stderr and its kind's exit code.

    Raises
    ------
    typer.Exit
        With `exit_code_for` the error.
    """
    try:
        yield
    except ContimgError as exc:
        _console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(code=exit_code_for(exc)) from exc


class ReportingGroup(TyperGroup):
    """The root command group: runs the chosen command inside `reported_errors`."""

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]  # typer passes its Context
        with reported_errors():
            return super().invoke(ctx)
