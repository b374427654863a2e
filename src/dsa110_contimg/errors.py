"""The project's exceptions: one base class and the kinds of failure it distinguishes.

Every error the services raise on purpose is a `ContimgError` of one kind, and each kind is
mapped once: to an HTTP status (`dsa110_contimg.api.errors`), to an exit code of the command
line (`dsa110_contimg.cli.errors`) and to what a job worker does with the item
(`dsa110_contimg.jobs.worker`):

===================  ======  =========  ===============================================
kind                 HTTP    exit code  job worker
===================  ======  =========  ===============================================
`InputError`         422     2          fails the item at once with the reason
`NotFoundError`      404     2          fails the item at once with the reason
`ForbiddenError`     403     2          fails the item at once with the reason
`ConflictError`      409     3          fails the item at once with the reason
`ExternalToolError`  502     4          retries with backoff up to ``jobs.max_attempts``
`UnavailableError`   503     5          retries with backoff up to ``jobs.max_attempts``
any other            500     1          a bug: logged with its traceback at ERROR,
                                        retried up to ``jobs.max_attempts``
===================  ======  =========  ===============================================

Kinds that name a built-in meaning also derive from the built-in exception (an `InputError` is
a ``ValueError``, a `NotFoundError` a ``LookupError``, a `ForbiddenError` a
``PermissionError``), so code that catches the built-in keeps working. The converse does not
hold: a plain ``ValueError`` or ``KeyError`` is a programming error, never bad input.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "ContimgError",
    "ExternalToolError",
    "ForbiddenError",
    "InputError",
    "NotFoundError",
    "UnavailableError",
]


class ContimgError(Exception):
    """Base of every error the project raises on purpose.

    Attributes
    ----------
    kind : str
        The kind's short name (``"input"``, ``"not-found"`` …), used in logs.
    retryable : bool
        Whether trying the same thing again later may succeed (a job item is retried).
    """

    kind = "error"
    retryable = False


class InputError(ContimgError, ValueError):
    """The input cannot be used: an invalid value, an unreadable or unsuitable file."""

    kind = "input"


class NotFoundError(ContimgError, LookupError):
    """Something named by the request does not exist (an id, a catalogue, a file)."""

    kind = "not-found"


class ForbiddenError(ContimgError, PermissionError):
    """The request is refused by policy (a path outside the data roots, an unsafe address)."""

    kind = "forbidden"


class ConflictError(ContimgError):
    """The request conflicts with the current state (an invalid status transition, a product
    not ready to publish)."""

    kind = "conflict"


class ExternalToolError(ContimgError, RuntimeError):
    """An external program or service failed (WSClean, an imaging command, a converter)."""

    kind = "external-tool"
    retryable = True


class UnavailableError(ContimgError, RuntimeError):
    """A resource is busy or unreachable for now (a lock held by another process, a lost
    scheduler)."""

    kind = "unavailable"
    retryable = True
