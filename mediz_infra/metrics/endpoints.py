"""The metrics pages and APIs, each behind the admin guard: ``/admin/metrics`` (the dashboard),
``/admin/metrics.json`` and ``/metrics``.

:func:`metrics_routes` returns Starlette routes whose endpoints are wrapped in
:class:`~mediz_infra.guard.AdminGuard` themselves, so they cannot be mounted unguarded by
mistake: without a token (or ``check=``) they answer 403 to everyone. Prometheus scrapes
``/metrics`` with ``authorization: {credentials: <token>}`` in its scrape config.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import SecretStr
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..backends import BACKEND_ERRORS
from ..guard import AdminCheck, AdminGuard
from ..problems import problem_response
from ..types import Receive, Scope, Send
from . import prometheus
from .dashboard import DashboardPage
from .snapshot import MetricsReader
from .store import MetricsStore

__all__ = ["GaugeSource", "MetricsEndpoints", "metrics_routes"]

log = logging.getLogger("mediz_infra.metrics")

GaugeSource = Callable[[], "Mapping[str, float] | Awaitable[Mapping[str, float]]"]
"""A function returning current values (``{"in_use": 3, "size": 10}``): the pool's usage,
a queue's depth. ``Infra.metrics_gauges()`` gives the ones of the app's backends."""


class MetricsEndpoints:
    """The ASGI endpoints over one store (unguarded: :func:`metrics_routes` guards them).

    Args:
        store: the store the middleware's recorder flushes to.
        gauges: name -> :data:`GaugeSource`; each value appears as ``<name>.<key>``.
        reader: a :class:`MetricsReader` with other windows (default: built on ``store``).
    """

    def __init__(
        self,
        store: MetricsStore,
        *,
        gauges: Mapping[str, GaugeSource] | None = None,
        reader: MetricsReader | None = None,
    ) -> None:
        self.store = store
        self.reader = reader or MetricsReader(store)
        self.gauges = dict(gauges or {})

    async def gauge_values(self) -> dict[str, float]:
        """Every registered gauge now, flattened to ``{"db.pool.in_use": 3.0, ...}``.

        A source that fails is left out (and logged): the rest of the page still renders.
        """
        out: dict[str, float] = {}
        for name, source in self.gauges.items():
            try:
                values = source()
                if inspect.isawaitable(values):
                    values = await values
                for key, value in values.items():
                    out[f"{name}.{key}"] = float(value)
            except Exception as exc:  # a gauge must never break the page
                log.warning("metrics gauge %r failed: %s", name, type(exc).__name__)
        return out

    async def json(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            data = await self.reader.snapshot()
            data["exceptions"] = await self.store.read_errors()
        except BACKEND_ERRORS:
            await _unavailable(scope, receive, send)
            return
        data["gauges"] = await self.gauge_values()
        body = json.dumps(data, separators=(",", ":")).encode()
        response = Response(body, media_type="application/json",
                            headers={"cache-control": "no-store"})  # fmt: skip
        await response(scope, receive, send)

    async def prometheus(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            totals = await self.reader.totals()
        except BACKEND_ERRORS:
            await _unavailable(scope, receive, send)
            return
        text = prometheus.render(totals.values(), await self.gauge_values())
        await Response(text, media_type=prometheus.CONTENT_TYPE)(scope, receive, send)


async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(
        503,
        detail="The metrics store is unavailable; retry later.",
        type="https://mediz-infra.dev/problems/backend-unavailable",
        headers={"Retry-After": "5"},
    )
    await response(scope, receive, send)


def metrics_routes(
    store: MetricsStore,
    *,
    token: str | SecretStr | None = None,
    check: AdminCheck | None = None,
    gauges: Mapping[str, GaugeSource] | None = None,
    admin_path: str = "/admin/metrics",
    prometheus_path: str | None = "/metrics",
    reader: MetricsReader | None = None,
    interval: float = 2.0,
) -> list[BaseRoute]:
    """Routes for the dashboard, its JSON and ``prometheus_path``, each behind the admin guard.

    Args:
        store: the middleware's store (``middleware.recorder.store``).
        token: the admin token (``Settings().admin_token``); see :class:`AdminGuard`.
        check: or your own admission check.
        gauges: extra values for the page and ``/metrics`` (see :data:`GaugeSource`).
        admin_path: where the dashboard lives; its data is at ``<admin_path>.json``.
        prometheus_path: where Prometheus scrapes (``None``: no such route).
        reader: a :class:`MetricsReader` with other windows.
        interval: seconds between two polls of the dashboard.

    Raises:
        ConfigError: a short token or a path without a leading ``/``.
    """
    endpoints = MetricsEndpoints(store, gauges=gauges, reader=reader)

    def guarded(app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> Any:
        return AdminGuard(app, token=token, check=check)

    page = DashboardPage(admin_path + ".json", interval=interval)
    routes: list[BaseRoute] = [
        Route(admin_path, guarded(page), methods=["GET"]),
        Route(admin_path + ".json", guarded(endpoints.json), methods=["GET"]),
    ]
    if prometheus_path is not None:
        routes.append(Route(prometheus_path, guarded(endpoints.prometheus), methods=["GET"]))
    return routes
