"""The cache's observable counters, read through a real OpenTelemetry SDK reader.

:mod:`mediz_infra.cache.stats` registers its instruments once per process through
:func:`mediz_infra.telemetry.get_meter`; the ``reader`` fixture points that at an SDK
``MeterProvider`` and lets the next ``Cache`` register again (as tests/integration/test_pool.py
does for the pool gauges), so nothing touches the global provider.
"""

from __future__ import annotations

import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from mediz_infra import telemetry
from mediz_infra.cache import Cache
from mediz_infra.cache import stats as cache_stats
from tests._telemetry import meter_reader  # noqa: F401 (fixture)

Points = dict[tuple[str, str], int]
"""(instrument name, result or kind) -> value, for one cache prefix."""


@pytest.fixture
def reader(
    meter_reader: InMemoryMetricReader,  # noqa: F811 (fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> InMemoryMetricReader:
    """An in-memory reader behind the meter the cache registers its counters with."""
    monkeypatch.setattr(cache_stats, "_registered", False)
    return meter_reader


def collect(reader: InMemoryMetricReader, prefix: str) -> Points:
    """The cache counters' data points whose ``cache`` attribute is ``prefix``."""
    data = reader.get_metrics_data()
    assert data is not None
    points: Points = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    attrs = dict(point.attributes or {})
                    if attrs.get("cache") != prefix:
                        continue
                    label = str(attrs.get("result", attrs.get("kind")))
                    points[(metric.name, label)] = int(point.value)  # type: ignore[union-attr]
    return points


def expected(
    hit: int = 0, miss: int = 0, backend: int = 0, bypass: int = 0, unstorable: int = 0
) -> Points:
    """Every point the cache exports, zero unless given."""
    requests, errors = telemetry.CACHE_REQUESTS, telemetry.CACHE_ERRORS
    return {
        (requests, "hit"): hit,
        (requests, "stale"): 0,
        (requests, "miss"): miss,
        (requests, "bypass"): bypass,
        (errors, "backend"): backend,
        (errors, "rejected"): 0,
        (errors, "unstorable"): unstorable,
        (telemetry.CACHE_LOCK_WAITS, "lock"): 0,
    }


def hits_and_misses(calls: list[int]) -> tuple[int, int]:
    """Sequential calls of a cached function with these arguments: (hits, misses)."""
    seen = Counter(calls)
    return len(calls) - len(seen), len(seen)


def squarer(cache: Cache) -> Callable[[list[int]], Awaitable[None]]:
    """A cached ``square`` on ``cache``, and a caller running it once per argument."""

    @cache(ttl=60)
    async def square(x: int) -> int:
        return x * x

    async def run(calls: list[int]) -> None:
        for x in calls:
            assert await square(x) == x * x

    return run


async def run_square(cache: Cache, calls: list[int]) -> None:
    """Decorate a ``square`` on ``cache`` and call it once per argument."""
    await squarer(cache)(calls)


async def test_memory_hits_misses_and_unstorable(reader: InMemoryMetricReader) -> None:
    prefix = f"o{uuid.uuid4().hex[:10]}"
    cache = Cache("memory://", prefix=prefix)
    sentinel = object()

    @cache(ttl=60)
    async def weird() -> Any:
        return sentinel  # not JSON-able: served, counted as unstorable, never stored

    try:
        run = squarer(cache)
        first, then = [1, 1, 2, 1, 3, 2], [4, 1, 4]
        await run(first)
        assert await weird() is sentinel
        hit, miss = hits_and_misses(first)
        assert collect(reader, prefix) == expected(hit=hit, miss=miss + 1, unstorable=1)

        await run(then)  # counters are cumulative: a second collection includes the first
        hit, miss = hits_and_misses(first + then)
        assert collect(reader, prefix) == expected(hit=hit, miss=miss + 1, unstorable=1)
    finally:
        await cache.close()


async def test_other_caches_are_reported_apart(reader: InMemoryMetricReader) -> None:
    one, two = (Cache("memory://", prefix=f"o{uuid.uuid4().hex[:10]}") for _ in range(2))
    try:
        await run_square(one, [5, 5, 5])
        await run_square(two, [6])
        assert collect(reader, one.prefix) == expected(hit=2, miss=1)
        assert collect(reader, two.prefix) == expected(miss=1)
    finally:
        await one.close()
        await two.close()


def dead_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_backend_error_then_bypass(reader: InMemoryMetricReader) -> None:
    prefix = f"o{uuid.uuid4().hex[:10]}"
    cache = Cache(f"redis://127.0.0.1:{dead_port()}/0", prefix=prefix, backoff=60)
    try:
        calls = [1, 1, 2, 2]
        await run_square(cache, calls)  # the first read fails; the rest skip Redis
        assert collect(reader, prefix) == expected(backend=1, bypass=len(calls) - 1)
    finally:
        await cache.close()


@pytest.mark.integration
async def test_redis_hits_and_misses(reader: InMemoryMetricReader, redis_url: str) -> None:
    prefix = f"o{uuid.uuid4().hex[:10]}"
    cache = Cache(redis_url, prefix=prefix)
    try:
        calls = [7, 8, 7, 7, 9, 8]
        await run_square(cache, calls)
        hit, miss = hits_and_misses(calls)
        assert collect(reader, prefix) == expected(hit=hit, miss=miss)
    finally:
        await cache.clear()
        await cache.close()
