"""The metrics store on the real Redis: the store contract, outages, and two worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from mediz_infra.backends import create_redis
from mediz_infra.metrics import (
    MemoryMetricsStore,
    MetricsReader,
    MetricsStore,
    Recorder,
    RedisMetricsStore,
)
from tests._servers import RedisServer, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    name = f"m{uuid.uuid4().hex[:10]}"
    yield name
    client = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=f"{{{name}:metrics}}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_url: str, prefix: str
) -> AsyncIterator[MetricsStore]:
    made: MetricsStore
    if request.param == "memory":
        made = MemoryMetricsStore(prefix=prefix)
    else:
        made = RedisMetricsStore(create_redis(redis_url), prefix=prefix, owned=True)
    yield made
    await made.aclose()


async def test_increments_add_up_across_applies(store: MetricsStore) -> None:
    key = store.schema.second(100)
    await store.apply({key: {"n": 2, "b3": 2}, store.schema.total: {"x\x1fn": 5}})
    await store.apply({key: {"n": 1, "e": 1}})
    assert await store.read([key, store.schema.total, store.schema.second(99)]) == [
        {"n": 3, "b3": 2, "e": 1},
        {"x\x1fn": 5},
        {},
    ]


async def test_every_redis_key_gets_its_ttl(redis_url: str, prefix: str) -> None:
    store = RedisMetricsStore(create_redis(redis_url), prefix=prefix, owned=True)
    recorder = Recorder(store)
    for _ in range(3):
        recorder.record("/a/{x}", "GET", 200, 0.003)
    assert await recorder.flush()
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{{{prefix}:metrics}}*")]
        ttls = {k.decode().rsplit("}", 1)[1][:2]: await client.ttl(k) for k in keys}
    finally:
        await client.aclose()
        await store.aclose()
    assert set(ttls) == {":s", ":m", ":t"}
    assert 0 < ttls[":s"] <= store.retention.seconds
    assert 0 < ttls[":m"] <= store.retention.minutes
    assert 0 < ttls[":t"] <= store.retention.total


async def test_counts_survive_a_redis_outage_exactly(throwaway_redis: RedisServer) -> None:
    store = RedisMetricsStore(
        create_redis(throwaway_redis.url, timeout=0.5, retries=0), owned=True, timeout=0.2
    )
    recorder = Recorder(store)
    try:
        for _ in range(4):
            recorder.record("/r", "GET", 200, 0.001)
        assert await recorder.flush()
        throwaway_redis.stop()
        for _ in range(3):
            recorder.record("/r", "GET", 503, 0.001)
        assert not await recorder.flush()
        assert recorder.pending == 3
        throwaway_redis.start()
        deadline = time.monotonic() + 10
        while not await recorder.flush():
            assert time.monotonic() < deadline, "the store never came back"
            await asyncio.sleep(0.05)
        totals = await MetricsReader(store).totals()
    finally:
        await recorder.aclose()
        await store.aclose()
    # the throwaway server keeps nothing on disk: the first four went with it
    assert ("/r", "GET", "2xx") not in totals
    assert totals[("/r", "GET", "5xx")].requests == 3
    assert totals[("/r", "GET", "5xx")].errors == 3


@pytest.mark.slow
async def test_two_uvicorn_workers_totals_equal_the_requests_sent(
    redis_url: str, prefix: str
) -> None:
    port = free_port()
    env = {**os.environ, "METRICS_REDIS_URL": redis_url, "METRICS_PREFIX": prefix}
    server = subprocess.Popen(  # noqa: ASYNC220 (started once, runs beside the test)
        [sys.executable, "-m", "uvicorn", "tests.integration._metrics_app:create_app",
         "--factory", "--workers", "2", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    sent = 0
    pids: set[str] = set()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=base) as probe:
            while True:
                try:
                    await probe.get("/patients/0")
                    sent += 1
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "uvicorn did not start"
                    await asyncio.sleep(0.1)

        async def one_connection(n: int) -> None:
            nonlocal sent
            # a connection each: the kernel spreads new connections over both workers
            async with httpx.AsyncClient(base_url=base) as client:
                for i in range(25):
                    response = await client.get(f"/patients/{n}-{i}")
                    assert response.status_code == 200
                    pids.add(response.text)
                    sent += 1

        for _ in range(8):
            await asyncio.gather(*(one_connection(n) for n in range(10)))
            if len(pids) > 1:
                break
    finally:
        server.send_signal(signal.SIGTERM)  # each worker's lifespan shutdown flushes the rest
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert len(pids) == 2, f"one worker served everything ({pids})"
    client = create_redis(redis_url)
    try:
        store = RedisMetricsStore(client, prefix=prefix)
        totals = await MetricsReader(store).totals()
    finally:
        await client.aclose()
    assert {key: s.requests for key, s in totals.items()} == {
        ("/patients/{pid}", "GET", "2xx"): sent
    }


async def test_infra_gauges_feed_the_json_and_prometheus(database_url: str) -> None:
    from mediz_infra.config import Settings
    from mediz_infra.infra import Infra
    from mediz_infra.metrics import MetricsEndpoints

    settings = Settings(database_url=database_url, redis_url="memory://")
    async with Infra.from_settings(settings) as infra:
        endpoints = MetricsEndpoints(MemoryMetricsStore(), gauges=infra.metrics_gauges())
        async with infra.db.acquire():  # type: ignore[union-attr]
            values = await endpoints.gauge_values()
    assert values["db.pool.in_use"] >= 1
    assert values["db.pool.max_size"] == settings.database_pool_max
    assert 0 < values["db.pool.usage_percent"] <= 100


async def test_errors_are_grouped_with_counts_and_times(store: MetricsStore) -> None:
    from mediz_infra.metrics import ErrorEvent

    def event(fp: str, at: float, message: str) -> ErrorEvent:
        return ErrorEvent(fp, "ValueError", message, "app.py:f", "GET /x", "Traceback...", at)

    await store.apply({}, [event("aa", 10.0, "one"), event("bb", 11.0, "b")])
    await store.apply({}, [event("aa", 30.0, "three"), event("aa", 20.0, "two")])
    rows = await store.read_errors()
    assert [r["fingerprint"] for r in rows] == ["aa", "bb"]
    aa = rows[0]
    assert (aa["count"], aa["first_seen"], aa["last_seen"]) == (3, 10.0, 30.0)
    assert aa["message"] == "three" and aa["route"] == "GET /x"
