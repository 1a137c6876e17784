"""``@rate_limit``: limits on a single route (or a group of routes sharing one name)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ConfigError
from .headers import problem_body
from .identity import ClientIdentifier
from .limiter import RateLimiter
from .middleware import SCOPE_KEY
from .rules import Cost, Rule, Strategy

__all__ = ["rate_limit"]

_E = TypeVar("_E", bound=Callable[..., Awaitable[Response]])

_DEFAULT_NAMES: dict[str, str] = {}
"""Default rule name -> the module of the endpoint that took it (see :func:`_default_name`)."""


def _default_name(endpoint: Callable[..., Any]) -> str:
    """The endpoint's qualified name, refused if an endpoint of another module already has it.

    Two ``chat`` endpoints in two modules would otherwise share one budget without anyone
    asking for it; sharing is what ``group=`` is for.
    """
    name = endpoint.__qualname__.replace("<locals>.", "")
    module = getattr(endpoint, "__module__", "?")
    taken = _DEFAULT_NAMES.setdefault(name, module)
    if taken != module:
        raise ConfigError(
            f"rule {name!r}",
            f"@rate_limit endpoints in {taken} and {module} are both named {name!r}, so they "
            "would share one budget: pass group= with one name to share it on purpose, or "
            "distinct names to count them apart",
        )
    return name


def _request_in(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Request):
            return value
    raise ConfigError("rate_limit", "the decorated endpoint takes no starlette Request")


def rate_limit(
    limits: str,
    *,
    key: ClientIdentifier | None = None,
    group: str | None = None,
    cost: Cost = 1,
    methods: Sequence[str] | None = None,
    strategy: Strategy = "gcra",
    burst: int | None = None,
    on_backend_error: Literal["open", "closed"] = "open",
    dry_run: bool = False,
    limiter: RateLimiter | None = None,
    headers: bool = True,
) -> Callable[[_E], _E]:
    """Limit one Starlette endpoint (a function or method taking a ``Request``).

    The rule is built when the route is decorated (a malformed limit fails at import, naming
    the rule); a call costs one decision. Routes sharing a ``group`` share one budget.

    Args:
        limits: ``"5/minute"`` or several, ``"5/minute;50/day"``.
        key: who is counted (default: the limiter's default, the client IP).
        group: rule name shared by several routes (default: the endpoint's qualified name;
            two endpoints of different modules with the same one are refused).
        cost: units a call takes, or a function of the ASGI scope.
        methods: only these methods are limited (default: all).
        strategy, burst, on_backend_error, dry_run: as for :class:`Rule`.
        limiter: the limiter to use; default: the one ``RateLimitMiddleware`` put in the scope.
        headers: add ``RateLimit-Policy`` / ``RateLimit`` to the endpoint's response.

    Raises:
        ConfigError: a malformed limit, or a default name another module's endpoint has (at
            decoration); no limiter at call time.
    """

    def decorate(endpoint: _E) -> _E:
        name = group or _default_name(endpoint)
        rule = Rule(
            name=name,
            limits=limits,
            key=key,
            cost=cost,
            methods=methods,
            strategy=strategy,
            burst=burst,
            on_backend_error=on_backend_error,
            dry_run=dry_run,
        )
        method_set = rule.method_set

        @functools.wraps(endpoint)
        async def limited(*args: Any, **kwargs: Any) -> Response:
            request = _request_in(args, kwargs)
            scope = request.scope
            if method_set is not None and scope["method"] not in method_set:
                return await endpoint(*args, **kwargs)
            found = limiter or scope.get(SCOPE_KEY)
            if found is None:
                raise ConfigError(
                    f"rule {name!r}",
                    "no rate limiter: add RateLimitMiddleware to the app or pass limiter=",
                )
            decision = await found.check(rule, scope)
            if not decision.allowed:
                status, body = problem_body(decision)
                lines = found.headers(decision) if status == 429 else [(b"retry-after", b"1")]
                response = Response(body, status, media_type="application/problem+json")
                response.raw_headers.extend(lines)
                return response
            response = await endpoint(*args, **kwargs)
            if headers and not dry_run and decision.reply:
                response.raw_headers.extend(found.headers(decision))
            return response

        limited.rule = rule  # type: ignore[attr-defined]
        return limited  # type: ignore[return-value]

    return decorate
