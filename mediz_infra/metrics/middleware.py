"""``MetricsMiddleware``: times every request, outermost, as a pure ASGI middleware."""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.metrics import Meter
from opentelemetry.util.types import Attributes

from ..backends.redis import RedisClient
from ..errors import ConfigError
from ..telemetry import HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_REQUEST_DURATION, get_meter
from ..types import ASGIApp, Message, Receive, Scope, Send
from .histogram import BOUNDS
from .recorder import Recorder
from .routes import KNOWN_METHODS as _METHODS
from .routes import RouteNamer
from .store import MetricsStore, metrics_store
from .tracking import capture

__all__ = ["SCOPE_KEY", "MetricsMiddleware"]

SCOPE_KEY = "mediz.metrics"
"""The scope entry holding the middleware's :class:`Recorder` (for the dashboard and errors)."""


class MetricsMiddleware:
    """Counts and times every HTTP request into a :class:`MetricsStore` and OpenTelemetry.

    Put it outermost, so rate-limited (429) and failed (5xx) requests are timed too. Per
    request it records the route template (read after routing; see :mod:`.routes` for the
    cardinality bounds), the method and the status, in process: the store gets them in one
    batch about once a second (:class:`Recorder`). Through the global OpenTelemetry meter it
    records ``http.server.request.duration`` (``http.route``, ``http.request.method``,
    ``http.response.status_code``) and ``http.server.active_requests``. A request that raises
    before a response started counts as a 500. Closing on the app's lifespan shutdown flushes
    what is left.

    Args:
        app: the ASGI app to wrap.
        storage: ``memory://``, a Redis URL, a Redis client, or a :class:`MetricsStore`
            (ignored when ``recorder`` is given).
        recorder: a :class:`Recorder` to share (several apps in one process).
        exclude: paths not timed at all: exact (``"/health/live"``) or prefixes (``"/static/*"``).
        max_series: distinct (route, method) pairs before the overflow bucket.
        flush_interval: seconds between two flushes to the store.
        prefix: the store's key prefix (ignored for a store or recorder).
        track_errors: group unhandled exceptions in the store (see :mod:`.tracking`).

    Raises:
        ConfigError: a malformed path, URL or option.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        storage: str | RedisClient | MetricsStore = "memory://",
        recorder: Recorder | None = None,
        exclude: Sequence[str] = (),
        max_series: int = 500,
        flush_interval: float = 1.0,
        prefix: str = "mediz",
        track_errors: bool = True,
    ) -> None:
        self.app = app
        self.track_errors = track_errors
        for path in exclude:
            if not path.startswith("/"):
                raise ConfigError("exclude", f"path {path!r} must start with '/'")
        self._exact = frozenset(p for p in exclude if not p.endswith("*"))
        self._prefixes = tuple(p.rstrip("*") for p in exclude if p.endswith("*"))
        self._owns = recorder is None
        self.recorder = recorder or Recorder(
            metrics_store(storage, prefix=prefix), flush_interval=flush_interval
        )
        self.namer = RouteNamer(max_series)
        meter = get_meter("metrics")
        self._duration = meter.create_histogram(
            HTTP_SERVER_REQUEST_DURATION,
            unit="s",
            description="Duration of HTTP server requests.",
            **_advisory(BOUNDS),
        )
        self._active = meter.create_up_down_counter(
            HTTP_SERVER_ACTIVE_REQUESTS,
            unit="{request}",
            description="Number of active HTTP server requests.",
        )
        self._attrs: dict[tuple[str, str, int], Attributes] = {}
        self._active_attrs: dict[tuple[str, str], Attributes] = {}

    def _excluded(self, path: str) -> bool:
        return path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._excluded(scope["path"]):
            if scope["type"] == "lifespan" and self._owns:
                await self.app(scope, receive, self._closing(send))
                return
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = self.recorder
        # the path as it came in: a Mount rewrites root_path (and, before Starlette 0.33, path)
        scope["mediz.path"] = scope["path"]
        scope["mediz.root_path"] = scope.get("root_path", "")
        active = self._active_attrs.get((scope["method"], scope.get("scheme", "http")))
        if active is None:
            active = self._active_attr(scope)
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._active.add(1, active)
        failure: Exception | None = None
        try:
            await self.app(scope, receive, send_status)
        except Exception as exc:
            failure = exc
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._active.add(-1, active)
            route, method = self.namer.name(scope)
            self.recorder.record(route, method, status, elapsed)
            if failure is not None and self.track_errors:
                self.recorder.record_error(capture(failure, route=f"{method} {route}"))
            attrs = self._attrs.get((route, method, status))
            if attrs is None:
                attrs = self._attr(route, method, status)
            self._duration.record(elapsed, attrs)

    def _attr(self, route: str, method: str, status: int) -> Attributes:
        attrs: Attributes = {
            "http.route": route,
            "http.request.method": method,
            "http.response.status_code": status,
        }
        if len(self._attrs) < 4 * self.namer.max_series:  # statuses are few per route
            self._attrs[(route, method, status)] = attrs
        return attrs

    def _active_attr(self, scope: Scope) -> Attributes:
        method = scope["method"]
        key = (method, scope.get("scheme", "http"))
        attrs: Attributes = {
            "http.request.method": method if method in _METHODS else "_OTHER",
            "url.scheme": key[1],
        }
        if method in _METHODS:
            self._active_attrs[key] = attrs
        return attrs

    def _closing(self, send: Send) -> Send:
        """Flush and close the recorder when the app has shut down."""

        async def send_closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.recorder.aclose()
                await self.recorder.store.aclose()
            await send(message)

        return send_closing


def _advisory(bounds: Sequence[float]) -> dict[str, Any]:
    """``explicit_bucket_boundaries_advisory`` where the API has it (opentelemetry-api 1.23+)."""
    params = inspect.signature(Meter.create_histogram).parameters
    if "explicit_bucket_boundaries_advisory" in params:
        return {"explicit_bucket_boundaries_advisory": list(bounds)}
    return {}
