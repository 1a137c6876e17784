"""Fail-open on the real thing: a dead port, and a throwaway Redis killed mid-run."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from mediz_infra.cache import Cache
from tests._servers import RedisServer, free_port, silent_server

pytestmark = pytest.mark.integration


async def test_dead_port_calls_the_function_and_backs_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = Cache(f"redis://127.0.0.1:{free_port()}/0", backoff=30.0)
    calls = 0

    @cache(ttl=60)
    async def value(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * 2

    try:
        with caplog.at_level(logging.WARNING, logger="mediz_infra.cache"):
            assert [await value(i) for i in range(50)] == [i * 2 for i in range(50)]
        assert calls == 50
        stats = cache.stats
        assert stats.errors == 1  # one failure, then the back-off skips Redis
        assert stats.bypassed == 49
        assert caplog.text.count("Redis failed") == 1  # rate-limited logging
        assert "serving uncached" in caplog.text
    finally:
        await cache.close()


async def test_dead_cluster_calls_the_function() -> None:
    # redis-py raises RedisClusterException (not a RedisError) when no startup node answers
    cache = Cache(f"redis+cluster://127.0.0.1:{free_port()}", backoff=30.0)

    @cache(ttl=60)
    async def value(x: int) -> int:
        return x * 2

    try:
        assert [await value(i) for i in range(3)] == [0, 2, 4]
        assert cache.stats.errors == 1
    finally:
        await cache.close()


async def test_redis_killed_mid_run_every_call_still_returns(
    throwaway_redis: RedisServer,
) -> None:
    cache = Cache(throwaway_redis.url, backoff=0.05, timeout=0.5)
    calls = 0

    @cache(ttl=60, tags=["t"])
    async def value(x: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"x": x}

    try:
        for i in range(20):
            assert await value(i % 5) == {"x": i % 5}
        assert calls == 5  # cached while Redis lived
        await asyncio.to_thread(throwaway_redis.stop)
        for i in range(40):
            assert await value(i % 5) == {"x": i % 5}
            if i % 10 == 0:
                await asyncio.sleep(0.06)  # let the back-off lapse so Redis is retried
        assert cache.stats.errors >= 2
        assert await cache.invalidate_tags("t") is False  # reported, not raised
    finally:
        await cache.close()


async def test_hung_redis_costs_one_timeout_then_the_back_off() -> None:
    # a server that accepts connections and never answers: every command would hang
    async with silent_server() as port:
        cache = Cache(f"redis://127.0.0.1:{port}/0", timeout=0.2, backoff=30.0)
        calls = 0

        @cache(ttl=60)
        async def value(x: int) -> int:
            nonlocal calls
            calls += 1
            return x

        try:
            assert [await value(i) for i in range(20)] == list(range(20))
            assert calls == 20
            assert cache.stats.errors == 1
            assert cache.stats.bypassed == 19
        finally:
            await cache.close()


async def test_a_hung_redis_is_probed_in_the_background_never_by_a_caller() -> None:
    """After the first failure no caller waits on the hung server again: only probes do."""
    async with silent_server() as port:
        cache = Cache(f"redis://127.0.0.1:{port}/0", timeout=0.1, backoff=0.02)

        @cache(ttl=60)
        async def value(x: int) -> int:
            return x

        try:
            assert await value(0) == 0  # the first call meets the hang: one timeout
            for i in range(1, 60):  # several back-offs lapse meanwhile
                assert await value(i) == i
                await asyncio.sleep(0.01)
            assert cache.stats.bypassed == 59  # no caller waited on the server again
            assert cache.stats.errors >= 2  # the first failure and at least one failed probe
        finally:
            await cache.close()


async def test_caching_resumes_once_a_probe_finds_redis_back(
    throwaway_redis: RedisServer,
) -> None:
    cache = Cache(throwaway_redis.url, backoff=0.05, timeout=0.5)
    calls = 0

    @cache(ttl=60)
    async def value(x: int) -> int:
        nonlocal calls
        calls += 1
        return x

    try:
        await asyncio.to_thread(throwaway_redis.stop)
        assert await value(1) == 1
        assert cache.outage.down()
        await asyncio.to_thread(throwaway_redis.start)
        for _ in range(500):  # bounded: 5 s for a probe to see the server again
            assert await value(1) == 1
            if not cache.outage.until:
                break
            await asyncio.sleep(0.01)
        assert not cache.outage.until, "no probe ended the outage"
        before = calls
        assert [await value(2), await value(2)] == [2, 2]
        assert calls == before + 1  # cached again: computed once, then a hit
    finally:
        await cache.close()


async def test_a_probe_cancelled_under_the_cache_does_not_stop_later_probes() -> None:
    cache = Cache(f"redis://127.0.0.1:{free_port()}/0", backoff=0.01)

    @cache(ttl=60)
    async def value(x: int) -> int:
        return x

    try:
        assert await value(1) == 1  # refused: the outage starts, and its probe
        assert cache.outage.probing
        task = cache.outage._task
        assert task is not None
        task.cancel()  # e.g. the loop shutting down under it
        await asyncio.gather(task, return_exceptions=True)
        assert not cache.outage.probing
        deadline = time.monotonic() + 5
        while not cache.outage.probing:  # once the probe's lease lapses, a caller tries again
            assert await value(2) == 2
            assert time.monotonic() < deadline, "no call tried Redis after the probe died"
            await asyncio.sleep(0.01)
        assert cache.outage.down()
    finally:
        await cache.close()
