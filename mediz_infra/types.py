"""Type aliases and the Protocols for what users hand to mediz-infra."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ASGIApp",
    "ClientIdentifier",
    "FailedJob",
    "HealthCheck",
    "Message",
    "Receive",
    "Scope",
    "Send",
]


class HealthCheck(Protocol):
    """A readiness check: returns details to show, raises when the dependency is unhealthy."""

    def __call__(self) -> Awaitable[dict[str, Any]]: ...


class ClientIdentifier(Protocol):
    """Returns the string a request is counted under (rate limiting), or None when it does not
    apply to this request."""

    def __call__(self, scope: Scope) -> str | None: ...


class FailedJob(Protocol):
    """One failed attempt of a queue job, as the queue hands it to a failure listener (an error
    tracker). ``final`` is true when the job went to the dead letters with this attempt."""

    @property
    def queue(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def job_id(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def final(self) -> bool: ...
    @property
    def error(self) -> BaseException: ...
