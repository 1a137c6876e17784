"""RFC 9457 problem details: every library error and HTTP error as ``application/problem+json``.

One call installs the handlers on a Starlette app::

    app = Starlette(routes=..., exception_handlers=problem_handlers())
    # or, on an app that exists: install_problem_handlers(app)

What each error becomes:

=====================================  ======  ==============================================
error                                  status  notes
=====================================  ======  ==============================================
:class:`~mediz_infra.errors.ConfigError`  400  ``invalid_params: [{name, reason}]`` (the field)
``starlette.exceptions.HTTPException``  its own  404, 405 (with ``Allow``), ...; its headers kept
:class:`~mediz_infra.errors.RateLimitExceeded`  429  ``Retry-After``
:class:`~mediz_infra.errors.BackendUnavailable`  503  ``Retry-After``; also ``PoolClosed``
:class:`~mediz_infra.errors.BackendTimeout`  503  ``Retry-After``; also ``PoolExhausted``
:class:`~mediz_infra.errors.CircuitOpen`  503  ``Retry-After`` from its ``retry_at``
:class:`~mediz_infra.errors.BulkheadFull`  503  ``Retry-After``
:class:`~mediz_infra.errors.CallTimeout`  503  ``Retry-After``
:class:`~mediz_infra.errors.UpstreamError`  503  ``Retry-After`` (the upstream's own, if sent)
any other :class:`~mediz_infra.errors.InfraError`  500
any other exception                     500   (Starlette's server-error handler)
=====================================  ======  ==============================================

Bodies never carry an internal message for a 5xx (host names, pool sizes and SQL belong in the
log, not in a response to whoever asked): they say what happened in general terms and name the
error's kind in ``type``. A 5xx is logged with its traceback at most once per ``log_every``
seconds per kind, with the number held back, so an outage does not flood the log.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .errors import (
    BackendTimeout,
    BackendUnavailable,
    BulkheadFull,
    CallTimeout,
    CircuitOpen,
    ConfigError,
    InfraError,
    PoolClosed,
    RateLimitExceeded,
    UpstreamError,
)

__all__ = [
    "PROBLEM_JSON",
    "install_problem_handlers",
    "problem_handlers",
    "problem_response",
    "problem_type",
]

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://mediz-infra.dev/problems/"

log = logging.getLogger("mediz_infra.problems")

Handler = Callable[[Request, Exception], Any]


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """An ``application/problem+json`` response (RFC 9457).

    Args:
        status: the HTTP status.
        title: a short summary; defaults to the status phrase (``"Not Found"``).
        detail: what went wrong for this request; leave out anything internal or sensitive.
        type: a URI naming the kind of problem (``about:blank``: the status says it all).
        headers: extra response headers (``Retry-After``, ``Allow``, ``WWW-Authenticate``).
        **extensions: extra members (``invalid_params=[...]``).
    """
    body: dict[str, Any] = {"type": type, "title": title or _phrase(status), "status": status}
    if detail:
        body["detail"] = detail
    body.update(extensions)
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(
        content, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def problem_type(slug: str) -> str:
    """The ``type`` URI of one of the library's problems (``"invalid-json"`` -> its URI)."""
    return _TYPE_BASE + slug


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _Throttle:
    """At most one log line per kind per ``every`` seconds, counting what it held back."""

    __slots__ = ("every", "held", "last")

    def __init__(self, every: float) -> None:
        self.every = every
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}

    def log(self, kind: str, exc: BaseException, request: Request) -> None:
        now = time.monotonic()
        if now - self.last.get(kind, -math.inf) < self.every:
            self.held[kind] = self.held.get(kind, 0) + 1
            return
        held = self.held.pop(kind, 0)
        more = f" ({held} more since the last report)" if held else ""
        self.last[kind] = now
        log.error(
            "%s %s failed with %s%s", request.method, request.url.path, kind, more, exc_info=exc
        )


def problem_handlers(
    *,
    log_every: float = 30.0,
    retry_after: int = 5,
    unavailable: tuple[type[BaseException], ...] = (),
) -> dict[Any, Handler]:
    """The exception handlers, for ``Starlette(exception_handlers=problem_handlers())``.

    Args:
        log_every: at most one traceback per error kind per this many seconds.
        retry_after: the ``Retry-After`` seconds of a 503 (the backend's own back-off is
            usually shorter; this is what clients should wait before retrying).
        unavailable: driver errors that also mean "a backend is unavailable" (503), such as
            a connection lost in the middle of a query; :meth:`mediz_infra.Infra.
            problem_handlers` passes asyncpg's.
    """
    throttle = _Throttle(log_every)
    retry = {"Retry-After": str(retry_after)}

    async def infra_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ConfigError):
            return problem_response(
                400,
                title="Invalid parameter",
                detail=str(exc),
                type=_TYPE_BASE + "invalid-parameter",
                invalid_params=[{"name": exc.field, "reason": exc.reason}],
            )
        if isinstance(exc, RateLimitExceeded):
            wait = max(1, math.ceil(exc.retry_after))
            return problem_response(
                429,
                detail="Too many requests; retry later.",
                type=_TYPE_BASE + "rate-limited",
                headers={"Retry-After": str(wait)},
            )
        if isinstance(exc, CircuitOpen):  # expected while an upstream is down: not logged
            wait = max(1, math.ceil(exc.retry_after))
            return problem_response(
                503,
                detail="An upstream service this request needs is failing; retry later.",
                type=_TYPE_BASE + "circuit-open",
                headers={"Retry-After": str(wait)},
            )
        kind = type(exc).__name__
        throttle.log(kind, exc, request)
        if isinstance(exc, UpstreamError):
            upstream_wait = retry_after if exc.retry_after is None else exc.retry_after
            return problem_response(
                503,
                detail="An upstream service this request needs failed; retry later.",
                type=_TYPE_BASE + "upstream-error",
                headers={"Retry-After": str(max(1, math.ceil(upstream_wait)))},
            )
        if isinstance(exc, BulkheadFull | CallTimeout):
            return problem_response(
                503,
                detail="The service is overloaded or an upstream is slow; retry later.",
                type=_TYPE_BASE + ("upstream-timeout" if isinstance(exc, CallTimeout) else "busy"),
                headers=retry,
            )
        if isinstance(exc, BackendUnavailable | PoolClosed):
            return problem_response(
                503,
                detail="A backend this request needs is unavailable; retry later.",
                type=_TYPE_BASE + "backend-unavailable",
                headers=retry,
            )
        if isinstance(exc, TimeoutError):  # BackendTimeout, PoolExhausted
            return problem_response(
                503,
                detail="The service is overloaded or a backend is slow; retry later.",
                type=_TYPE_BASE
                + ("backend-timeout" if isinstance(exc, BackendTimeout) else "busy"),
                headers=retry,
            )
        return problem_response(500, detail="Internal error.", type=_TYPE_BASE + "internal")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code in (204, 304):  # no body allowed
            return Response(status_code=exc.status_code, headers=headers)
        detail: str | None = exc.detail if isinstance(exc.detail, str) else None
        if detail == _phrase(exc.status_code):
            detail = None
        return problem_response(exc.status_code, detail=detail, headers=headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        throttle.log(type(exc).__name__, exc, request)
        return problem_response(500, detail="Internal error.", type=_TYPE_BASE + "internal")

    async def driver_unavailable(request: Request, exc: Exception) -> Response:
        throttle.log(type(exc).__name__, exc, request)
        return problem_response(
            503,
            detail="A backend this request needs is unavailable; retry later.",
            type=_TYPE_BASE + "backend-unavailable",
            headers=retry,
        )

    handlers: dict[Any, Handler] = {kind: driver_unavailable for kind in unavailable}
    handlers.update({InfraError: infra_error, HTTPException: http_error, Exception: server_error})
    return handlers


def install_problem_handlers(app: Any, **options: Any) -> None:
    """Add :func:`problem_handlers` to an existing Starlette ``app`` (before it starts)."""
    for key, handler in problem_handlers(**options).items():
        app.add_exception_handler(key, handler)
