"""Type aliases and the Protocols for what users hand to mediz-infra."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ASGIApp", "ClientIdentifier", "HealthCheck", "Message", "Receive", "Scope", "Send"]


class HealthCheck(Protocol):
    """A readiness check: returns details to show, raises when the dependency is unhealthy."""

    def __call__(self) -> Awaitable[dict[str, Any]]: ...


class ClientIdentifier(Protocol):
    """Returns the string a request is counted under (rate limiting), or None when it does not
    apply to this request."""

    def __call__(self, scope: Scope) -> str | None: ...
