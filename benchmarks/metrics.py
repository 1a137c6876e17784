"""The ``metrics`` benchmark: MetricsMiddleware's per-request overhead against its peers.

Everything runs on an in-process ASGI driver: each app is called directly with a minimal scope,
``receive`` and ``send`` (no sockets, no HTTP client). Overhead is the time of a request to
``/items/{item_id}`` through the instrumented app minus the same request to the bare Starlette
app, measured in alternating batches of 200 (the raw path changes every request, so every
contender has to group by route template).

- **Ours**: ``MetricsMiddleware`` with the ``RedisMetricsStore`` attached (its flush task
  sends one pipeline a second to the real Redis during the measurement, so that cost is in the
  figure) and, for reference, with the memory store; both also record the OpenTelemetry
  instruments (no-op without an SDK, as in an app that has none).
- **starlette-exporter** 0.24.0: ``PrometheusMiddleware(group_paths=True)``.
- **prometheus-fastapi-instrumentator** 8.1.0: ``Instrumentator().instrument(app)`` (its
  middleware with the default metrics, grouped by template).
- **opentelemetry-instrumentation-asgi** 0.66b2: ``OpenTelemetryMiddleware`` with an SDK
  ``MeterProvider`` (an in-memory reader; no tracer provider, so spans are no-ops).

Environment variable ``TEST_REDIS_URL`` overrides the Redis (default
``redis://127.0.0.1:6379/15``); keys live under the ``bench-metrics`` prefix and expire.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette_exporter import PrometheusMiddleware

from benchmarks._runner import (
    MICROSECONDS,
    Benchmark,
    Case,
    Check,
    Contender,
    Group,
    Measure,
    Options,
    event_loop,
    overhead,
    redis_version,
)
from mediz_infra.backends.redis import create_redis
from mediz_infra.metrics import MemoryMetricsStore, MetricsMiddleware, RedisMetricsStore

__all__ = ["BENCHMARK"]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
OURS_REDIS = "mediz-infra (Redis)"
OURS_MEMORY = "mediz-infra (memory)"
PEERS = ("starlette-exporter", "prometheus-fastapi-instrumentator", "otel-asgi + SDK")

_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"bench"), (b"user-agent", b"bench")],
    "client": ("192.0.2.10", 50000),
    "server": ("bench", 80),
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


def _request(app: Callable[..., Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    ids = itertools.count()

    def one() -> Awaitable[None]:
        path = f"/items/{next(ids) % 10_000}"
        scope = {**_SCOPE, "path": path, "raw_path": path.encode()}
        return app(scope, _receive, _send)

    return one


async def _endpoint(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _bare() -> Starlette:
    return Starlette(routes=[Route("/items/{item_id}", _endpoint)])


def _overhead(instrumented: Any, bare: Any) -> Measure:
    """Per-request time through ``instrumented`` minus through ``bare``, alternating batches."""
    through, plain = _request(instrumented), _request(bare)
    return overhead(through, plain)


def _instrumentator() -> Starlette:
    app = _bare()
    Instrumentator().instrument(app)
    app.middleware_stack = app.build_middleware_stack()
    return app


@contextlib.asynccontextmanager
async def _overheads(options: Options) -> AsyncIterator[Sequence[Case]]:
    client = create_redis(REDIS_URL)
    redis_store = RedisMetricsStore(client, prefix="bench-metrics")
    bare = _bare()
    ours_redis = MetricsMiddleware(bare, storage=redis_store)
    ours_memory = MetricsMiddleware(bare, storage=MemoryMetricsStore())
    exporter = PrometheusMiddleware(bare, group_paths=True, app_name="bench")
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    otel = OpenTelemetryMiddleware(bare, meter_provider=provider)
    try:
        yield [
            Case(
                "overhead",
                {"measure": "per-request overhead", "c": "1"},
                MICROSECONDS,
                [
                    Contender(OURS_REDIS, _overhead(ours_redis, bare), ours=True),
                    Contender(OURS_MEMORY, _overhead(ours_memory, bare), ours=True),
                    Contender(PEERS[0], _overhead(exporter, bare)),
                    Contender(PEERS[1], _overhead(_instrumentator(), bare)),
                    Contender(PEERS[2], _overhead(otel, bare)),
                ],
            )
        ]
    finally:
        await ours_redis.recorder.aclose()
        await ours_memory.recorder.aclose()
        provider.shutdown()
        raw = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            keys = [k async for k in raw.scan_iter(match="{bench-metrics:metrics}*")]
            if keys:
                await raw.delete(*keys)
        finally:
            await raw.aclose()
        await client.aclose()


async def _environment() -> dict[str, str]:
    return {
        "Redis": f"{await redis_version(REDIS_URL)} (loopback TCP, {REDIS_URL})",
        "event loop": event_loop(),
    }


BENCHMARK = Benchmark(
    name="metrics",
    title="metrics: per-request overhead of the metrics middleware",
    groups=(Group("overhead", _overheads),),
    peers=(
        "mediz-infra",
        "starlette-exporter",
        "prometheus-fastapi-instrumentator",
        "opentelemetry-instrumentation-asgi",
        "opentelemetry-sdk",
        "prometheus-client",
        "starlette",
        "redis",
    ),
    checks=tuple(
        Check(
            f"overhead, Redis store: {peer} ÷ ours (goal: ours at most half of the lightest)",
            ("overhead", OURS_REDIS),
            ("overhead", peer),
            2.0,
        )
        for peer in PEERS
    ),
    environment=_environment,
    notes=(
        "Overhead = time of a request through the instrumented app minus the same request to "
        "the bare Starlette app (alternating batches of 200, in-process ASGI calls, a new raw "
        "path `/items/<n>` each request under one template). Ours: `MetricsMiddleware` with "
        "the Redis store attached (its once-a-second pipeline to the real Redis runs during "
        "the measurement) or the memory store; OpenTelemetry instruments through the API "
        "without an SDK. starlette-exporter: `PrometheusMiddleware(group_paths=True)`. "
        "prometheus-fastapi-instrumentator: `Instrumentator().instrument(app)`, default "
        "metrics. otel-asgi + SDK: `OpenTelemetryMiddleware(meter_provider=MeterProvider("
        "[InMemoryMetricReader()]))`, no tracer provider."
    ),
)
