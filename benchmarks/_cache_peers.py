"""The contenders of the ``cache`` benchmark, each set up its documented best way.

Shared with ``benchmarks/_cache_worker.py`` (the 4-process stampede), so both build every
library identically. Each contender decorates the same three functions:

- ``popular(limit)``: returns :data:`VALUE` (10 "popular symptom" rows, ~700 bytes of JSON);
- ``fresh(n)``: a new key per call (the miss-and-set path);
- ``slow(n)``: counts its executions with ``on_call`` and sleeps :data:`SLOW` (the stampede).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic_core
import redis.asyncio as aioredis

__all__ = ["SLOW", "VALUE", "build", "NAMES", "REDIS_URL"]

# db 14: the test suite flushes db 15 while it runs
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
VALUE = [
    {"id": i, "name": f"symptom {i}", "reports": 1000 - i * 7, "avg_intensity": 3.5 + i / 10}
    for i in range(10)
]
SLOW = 0.05
NAMES = ("mediz-infra", "cashews", "aiocache")
OnCall = Callable[[], Awaitable[None]]


class Contender:
    """Three decorated functions plus their teardown."""

    name: str
    popular: Callable[[int], Awaitable[Any]]
    fresh: Callable[[int], Awaitable[Any]]
    slow: Callable[[int], Awaitable[Any]]
    close: Callable[[], Awaitable[None]]


def _split(url: str) -> tuple[str, int, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379, int(parts.path.lstrip("/") or 0)


def build(name: str, url: str, prefix: str, on_call: OnCall) -> Contender:
    """One contender on ``url`` (``mem://`` for in-process), keys under ``prefix``."""
    out = Contender()
    out.name = name
    memory = url.startswith("mem")

    async def popular(limit: int) -> list[dict[str, Any]]:
        return VALUE

    async def fresh(n: int) -> list[dict[str, Any]]:
        return VALUE

    async def slow(n: int) -> list[dict[str, Any]]:
        await on_call()
        await asyncio.sleep(SLOW)
        return VALUE

    if name == "mediz-infra":
        from mediz_infra.cache import Cache

        ours = Cache("memory://" if memory else url, prefix=prefix)
        out.popular = ours(ttl=600, key="popular:{limit}")(popular)
        out.fresh = ours(ttl=600, key="fresh:{n}")(fresh)
        out.slow = ours(ttl=600, key="slow:{n}")(slow)
        out.close = ours.close
    elif name == "cashews":
        from cashews import Cache as Cashews

        peer = Cashews()
        # documented: "mem://" in process; Redis with its default client (suppress=True,
        # so errors fall through to the function); lock=True is its stampede protection
        peer.setup("mem://" if memory else url)
        out.popular = peer(ttl=600, key="popular:{limit}", prefix=prefix)(popular)
        out.fresh = peer(ttl=600, key="fresh:{n}", prefix=prefix)(fresh)
        out.slow = peer(ttl=600, key="slow:{n}", prefix=prefix, lock=True)(slow)
        out.close = peer.close
    elif name == "aiocache":
        from aiocache import RedisCache, SimpleMemoryCache, cached, cached_stampede

        logging.getLogger("aiocache").setLevel(logging.CRITICAL)  # it logs every failure
        if memory:
            options: dict[str, Any] = {"cache": SimpleMemoryCache, "namespace": prefix}
        else:
            host, port, db = _split(url)
            options = {
                "cache": RedisCache, "endpoint": host, "port": port, "db": db,
                "namespace": prefix,
                # redis-py 8 caps a pool at 100 by default; 200 concurrent callers need more
                "pool_max_size": 256,
            }

        def keyed(label: str) -> Callable[..., str]:
            return lambda fn, n: f"{label}:{n}"

        out.popular = cached(ttl=600, key_builder=keyed("popular"), **options)(popular)
        out.fresh = cached(ttl=600, key_builder=keyed("fresh"), **options)(fresh)
        out.slow = cached_stampede(lease=2, ttl=600, key_builder=keyed("slow"), **options)(slow)
        async def close() -> None:
            for fn in (out.popular, out.fresh, out.slow):
                await fn.cache.close()  # type: ignore[attr-defined]

        out.close = close
    else:
        raise KeyError(name)
    return out


class RawRedis:
    """The baseline: redis.asyncio with its default pool, ``GET`` + the same JSON decode."""

    name = "redis.asyncio GET"

    def __init__(self, url: str, prefix: str) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.prefix = prefix

    async def prepare(self) -> None:
        encoded = pydantic_core.to_json(VALUE)
        for limit in range(1, 11):
            await self.client.set(f"{self.prefix}:popular:{limit}", encoded, ex=600)

    async def popular(self, limit: int) -> Any:
        key = f"{self.prefix}:popular:{limit}"
        raw = await self.client.get(key)
        if raw is None:  # evicted or flushed: cache-aside refills it
            await self.client.set(key, pydantic_core.to_json(VALUE), ex=600)
            return VALUE
        return pydantic_core.from_json(raw)

    async def fresh(self, n: int) -> Any:
        key = f"{self.prefix}:fresh:{n}"
        raw = await self.client.get(key)
        if raw is None:
            await self.client.set(key, pydantic_core.to_json(VALUE), ex=600)
            return VALUE
        return pydantic_core.from_json(raw)

    async def close(self) -> None:
        await self.client.aclose()
