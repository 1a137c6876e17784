"""The ``redis`` benchmark: the client from ``create_redis`` against redis-py's own clients.

The same ``GET`` of a 700-byte value through:

- **mediz-infra** (ours): ``create_redis(url)`` defaults: a bounded blocking pool (waits, then
  ``PoolExhausted``) with its lean free-slot path, jittered retries, keepalive, health checks;
- **redis-py default**: ``redis.asyncio.Redis.from_url(url)``, its documented default (a pool
  that fails at once when exhausted);
- **redis-py blocking**: ``Redis(connection_pool=BlockingConnectionPool.from_url(url,
  max_connections=50, timeout=5))``, redis-py's own bounded pool, the like-for-like peer.

Cases: one caller (µs per ``GET``), 50 concurrent callers (``GET``\\s per second), and the pool
alone: hand out a connection and take it back (µs), with no round trip.

Environment variable ``TEST_REDIS_URL`` overrides the Redis (default
``redis://127.0.0.1:6379/14``); the one key is deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio
from redis.asyncio.connection import BlockingConnectionPool

from benchmarks._runner import (
    MICROSECONDS,
    QUERIES_PER_SECOND,
    Benchmark,
    Case,
    Check,
    Contender,
    Group,
    Options,
    driven,
    redis_version,
)
from mediz_infra.backends.redis import close_redis, create_redis

__all__ = ["BENCHMARK"]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
OURS = "mediz-infra"
DEFAULT = "redis-py default"
BLOCKING = "redis-py blocking"
VALUE = b"x" * 700


def _cycle(client: Any) -> Callable[[], Awaitable[None]]:
    pool = client.connection_pool

    async def cycle() -> None:
        connection = await pool.get_connection()
        await pool.release(connection)

    return cycle


@contextlib.asynccontextmanager
async def _clients(options: Options) -> AsyncIterator[Sequence[Case]]:
    key = f"bench-redis:{uuid.uuid4().hex[:8]}"
    clients: dict[str, Any] = {
        OURS: create_redis(REDIS_URL),
        DEFAULT: redis.asyncio.Redis.from_url(REDIS_URL),
        BLOCKING: redis.asyncio.Redis(
            connection_pool=BlockingConnectionPool.from_url(
                REDIS_URL, max_connections=50, timeout=5
            )
        ),
    }
    try:
        await clients[DEFAULT].set(key, VALUE, ex=3600)
        for name, client in clients.items():
            if await client.get(key) != VALUE:
                raise RuntimeError(f"{name} read a wrong value")

        def get(client: Any) -> Callable[[], Awaitable[object]]:
            return lambda: client.get(key)

        yield [
            Case(
                "get/c1",
                {"measure": "GET", "c": "1"},
                MICROSECONDS,
                [Contender(n, driven(get(c), 1), n == OURS) for n, c in clients.items()],
            ),
            Case(
                "get/c50",
                {"measure": "GET", "c": "50"},
                QUERIES_PER_SECOND,
                [Contender(n, driven(get(c), 50), n == OURS) for n, c in clients.items()],
            ),
            Case(
                "pool/c1",
                {"measure": "pool: hand out + take back", "c": "1"},
                MICROSECONDS,
                [Contender(n, driven(_cycle(c), 1), n == OURS) for n, c in clients.items()],
            ),
        ]
    finally:
        with contextlib.suppress(Exception):
            await clients[DEFAULT].delete(key)
        await close_redis(clients[OURS])
        await clients[DEFAULT].aclose()
        await clients[BLOCKING].aclose()


async def _environment() -> dict[str, str]:
    return {
        "Redis": f"{await redis_version(REDIS_URL)} (loopback TCP, {REDIS_URL})",
        "value": "700 bytes",
    }


BENCHMARK = Benchmark(
    name="redis",
    title="redis: the client from create_redis",
    groups=(Group("clients", _clients),),
    peers=("mediz-infra", "redis"),
    checks=tuple(
        Check(f"{case}: ours ÷ {peer}", (case, OURS), (case, peer), 1.0)
        for case in ("get/c1", "get/c50", "pool/c1")
        for peer in (DEFAULT, BLOCKING)
    ),
    environment=_environment,
    notes=(
        "Ours: `create_redis(url)` defaults (bounded blocking pool of 50 whose exhausted wait "
        "raises `PoolExhausted`, lean free-slot path, jittered retries, keepalive, 30 s health "
        "check, 5 s socket timeouts). *redis-py default*: `Redis.from_url(url)` (a pool that "
        "fails at once when exhausted). *redis-py blocking*: its `BlockingConnectionPool` "
        "(50, timeout 5 s), the like-for-like bounded pool. *pool* hands out and takes back one "
        "connection with no round trip: what the pool itself costs per command."
    ),
    code=("mediz_infra/backends/redis",),
)
