"""Bearer-token protection of the write endpoints, and the bind-address rule.

When ``api.token`` is set (``CONTIMG_API__TOKEN``), every endpoint that changes state (creating
or cancelling jobs, finalizing and publishing products) needs the header
``Authorization: Bearer <token>``; a missing or wrong token gets 401. Without a token those
endpoints are open, which `check_bind` allows only on a loopback address.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dsa110_contimg.config import ApiSettings
from dsa110_contimg.errors import ForbiddenError

__all__ = ["InsecureBindError", "TokenDep", "check_bind", "is_loopback", "require_token"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="The configured api.token (CONTIMG_API__TOKEN); required by write endpoints "
    "when one is configured.",
)


class InsecureBindError(ForbiddenError):
    """A non-loopback bind address without a token."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1).

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(api: ApiSettings, host: str) -> None:
    """Refuse to serve open write endpoints beyond this machine.

    Raises
    ------
    InsecureBindError
        ``host`` is not a loopback address and no token is configured.
    """
    if api.token is None and not is_loopback(host):
        raise InsecureBindError(
            f"refusing to bind {host}: no API token is configured, so the write endpoints "
            "would be open to the network. Set api.token (CONTIMG_API__TOKEN) or bind "
            "127.0.0.1."
        )


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Dependency of write endpoints: 401 unless the configured token is presented."""
    token = request.app.state.settings.api.token
    if token is None:
        return
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this endpoint needs the API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(
        credentials.credentials.encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid API token",
            headers={"WWW-Authenticate": "Bearer"},
        )


#: Add to a route's ``dependencies`` to require the token.
TokenDep = Depends(require_token)
