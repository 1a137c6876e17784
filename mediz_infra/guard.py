"""The admin guard: every admin route behind a token (or your own check), nothing leaked.

Pure ASGI middleware in front of the paths it guards::

    Starlette(routes=..., middleware=[
        Middleware(AdminGuard, paths=["/api/admin"], token=settings.admin_token),
    ])

A request under a guarded path needs ``Authorization: Bearer <token>``:

- no credentials: ``401`` with ``WWW-Authenticate: Bearer realm="admin"``;
- wrong credentials: ``403``;
- both as ``application/problem+json`` bodies that say only that, never the expected token, how
  it differs or which paths exist behind the guard.

The comparison runs in constant time (:func:`hmac.compare_digest` on SHA-256 digests, so even
the token's length does not show in the timing). Instead of a token, pass ``check=``: a
function of the request (sync or async) returning whether it may pass (a session lookup, an
SSO header set by your proxy). With neither a token nor a check, the guard fails closed: every
guarded request gets ``403`` and a warning is logged once at start-up, so forgetting to set
``MEDIZ_ADMIN_TOKEN`` never opens the admin.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence

from pydantic import SecretStr
from starlette.requests import Request

from .errors import ConfigError
from .problems import problem_response
from .types import ASGIApp, Receive, Scope, Send

__all__ = ["MIN_TOKEN_LENGTH", "AdminCheck", "AdminGuard"]

log = logging.getLogger("mediz_infra.guard")

MIN_TOKEN_LENGTH = 16
"""Shorter tokens are refused at start-up: they can be guessed."""

AdminCheck = Callable[[Request], "bool | Awaitable[bool]"]
"""Your own admission check: ``True`` lets the request through."""


class AdminGuard:
    """Requires a bearer token (or ``check``) on every request under ``paths``.

    Args:
        app: the ASGI app behind the guard.
        paths: path prefixes to guard (``"/api/admin"`` guards ``/api/admin`` and everything
            under ``/api/admin/``); default: every path.
        token: the admin token (``str`` or ``SecretStr``, at least :data:`MIN_TOKEN_LENGTH`
            characters), typically ``Settings().admin_token`` (``MEDIZ_ADMIN_TOKEN``).
        check: instead of (or besides) a token, a function of the request; a request passes
            when its token matches or ``check`` returns true.

    Raises:
        ConfigError: the token is shorter than :data:`MIN_TOKEN_LENGTH`, or a path does not
            start with ``/``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        paths: Sequence[str] = ("/",),
        token: str | SecretStr | None = None,
        check: AdminCheck | None = None,
    ) -> None:
        self.app = app
        for path in paths:
            if not path.startswith("/"):
                raise ConfigError("paths", f"{path!r} must start with '/'")
        self._prefixes = tuple(p.rstrip("/") for p in paths)
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        if secret is not None and len(secret) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                "MEDIZ_ADMIN_TOKEN",
                f"the admin token must be at least {MIN_TOKEN_LENGTH} characters; generate one "
                'with: python -c "import secrets; print(secrets.token_urlsafe(32))"',
            )
        self._digest = hashlib.sha256(secret.encode()).digest() if secret else None
        self._check = check
        if self._digest is None and check is None:
            log.warning(
                "admin guard on %s: no token and no check configured, so every admin request "
                "is refused; set MEDIZ_ADMIN_TOKEN (or pass check=) to open it",
                ", ".join(paths),
            )

    def _guarded(self, path: str) -> bool:
        return any(
            prefix == "" or path == prefix or path.startswith(prefix + "/")
            for prefix in self._prefixes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self._guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        verdict = await self._admit(scope)
        if verdict is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # refuse the handshake
            await send({"type": "websocket.close", "code": 1008})
            return
        await verdict(scope, receive, send)

    async def _admit(self, scope: Scope) -> ASGIApp | None:
        """``None`` to let the request through, else the response that refuses it."""
        presented = _bearer(scope)
        if presented is not None and self._digest is not None:
            digest = hashlib.sha256(presented.encode("latin-1")).digest()
            if hmac.compare_digest(digest, self._digest):
                return None
        if self._check is not None:
            allowed = self._check(Request(scope))
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if allowed:
                return None
        if presented is None and self._digest is not None:
            return problem_response(
                401,
                detail="Admin credentials are required.",
                headers={"WWW-Authenticate": 'Bearer realm="admin"'},
            )
        return problem_response(403, detail="These credentials do not grant admin access.")


def _bearer(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, or ``None``."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None
