"""Route templates with bounded cardinality: what a request is counted under.

A request is labelled with the template of the route that served it (``/patients/{id}``), read
from the scope after routing, never with its raw path, so ``/patients/1`` and ``/patients/2``
are one series. What could still grow without bound is folded into fixed names:

- a request no route matched (a 404 from the router, a scanner's probe): :data:`UNKNOWN_ROUTE`;
- a method outside the standard ones (``FOO``): :data:`OTHER_METHOD`, as the OpenTelemetry HTTP
  conventions say;
- any (route, method) pair past ``max_series`` distinct ones: :data:`OVERFLOW_ROUTE`.

Starlette 0.38 and later leave the matched route in ``scope["route"]``; on older releases, and
under a ``Mount`` (whose inner router replaces ``scope["route"]`` with the inner route), the
template is found by matching the app's routes again, which only a mounted request pays for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Host, Match, Mount

from ..errors import ConfigError
from ..types import Scope

__all__ = [
    "KNOWN_METHODS",
    "OTHER_METHOD",
    "OVERFLOW_ROUTE",
    "UNKNOWN_ROUTE",
    "RouteNamer",
    "template_of",
]

UNKNOWN_ROUTE = "__unknown__"
"""The route of every request no route matched."""
OVERFLOW_ROUTE = "__overflow__"
"""The route of every request past the cap on distinct series."""
OTHER_METHOD = "_OTHER"
"""The method of every request whose method is not a standard one."""
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY")
)


def template_of(routes: Iterable[BaseRoute], scope: Scope) -> str | None:
    """The full template of the route that matches ``scope`` among ``routes``, or ``None``.

    Mounts are followed (their path prefixes the inner template); a partial match (the path
    matches, the method does not: a 405) counts, as the router serves it.
    """
    partial: str | None = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        found: str | None
        if isinstance(route, Mount | Host):
            inner = template_of(route.routes, {**scope, **child})
            found = (
                None if inner is None else (route.path if isinstance(route, Mount) else "") + inner
            )
        else:
            path = getattr(route, "path", None)
            found = path if isinstance(path, str) else None
        if found is None:
            continue
        if match is Match.FULL:
            return found
        if partial is None:
            partial = found
    return partial


class RouteNamer:
    """Names a finished request's (route, method) pair, never more than ``max_series`` of them.

    Args:
        max_series: distinct (route, method) pairs kept; later ones become
            :data:`OVERFLOW_ROUTE` (the unknown route and the overflow bucket are always kept).

    Raises:
        ConfigError: ``max_series`` is below 1.
    """

    __slots__ = ("_seen", "max_series", "overflowed")

    def __init__(self, max_series: int = 500) -> None:
        if max_series < 1:
            raise ConfigError("max_series", f"expected at least 1, got {max_series!r}")
        self.max_series = max_series
        self._seen: dict[tuple[str, str], tuple[str, str]] = {}
        #: how many requests were folded into the overflow bucket
        self.overflowed = 0

    def name(self, scope: Scope) -> tuple[str, str]:
        """``(route, method)`` for a request whose response has been sent."""
        method = scope.get("method", "GET")
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        route = self._route(scope)
        key = (route, method)
        named = self._seen.get(key)
        if named is not None:
            return named
        if len(self._seen) >= self.max_series and route != UNKNOWN_ROUTE:
            self.overflowed += 1
            return OVERFLOW_ROUTE, method
        self._seen[key] = key
        return key

    @staticmethod
    def _route(scope: Scope) -> str:
        route: Any = scope.get("route")
        mounted = scope.get("root_path", "") != scope.get("mediz.root_path", "")
        if route is not None and not mounted:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                return path
        app: Any = scope.get("app")
        routes = getattr(app, "routes", None)
        if routes is None:
            return UNKNOWN_ROUTE
        outer = {**scope, "root_path": scope.get("mediz.root_path", "")}
        outer["path"] = scope.get("mediz.path", scope["path"])
        return template_of(routes, outer) or UNKNOWN_ROUTE
