"""The ``cache`` benchmark: mediz-infra's ``@cache`` against cashews and aiocache.

Contenders (see ``benchmarks/_cache_peers.py``), each decorating the same async functions:

- **mediz-infra** (ours): ``Cache(url)`` / ``Cache("memory://")``, ``@cache(ttl=600,
  key="popular:{limit}")``, defaults (JSON; a read is one ``EVALSHA`` that returns the value
  or, on a miss, takes the cross-process lock and reads the invalidation marker; a miss is
  that and the store script).
- **cashews**: ``Cache().setup(url)`` / ``setup("mem://")``, ``@cache(ttl=600,
  key="popular:{limit}")``; ``lock=True`` on the stampede function (its documented protection).
- **aiocache**: ``@cached(ttl=600, cache=RedisCache | SimpleMemoryCache, key_builder=...)``
  (default serializers); ``@cached_stampede(lease=2)`` on the stampede function.
- **redis.asyncio GET** (baseline, Redis cases only): ``redis.asyncio.Redis.from_url(url)``
  with its default pool, ``GET`` then the same ``pydantic_core.from_json`` decode (the miss
  case: ``GET`` then ``SET``): what a hand-written cache-aside costs.

Cases: a hit in memory (c=1) and on Redis (c=1, and c=50 over 10 hot keys); a miss-and-set
(a new key per call); the stampede: 200 concurrent calls on a cold key whose function takes
50 ms, in one process, and split over 4 processes (50 each); Redis refused (a dead port) and
Redis hung (accepts, never answers; ours only): the cost of a call after the first failure.
Every loop is bounded by the runner's budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis

from benchmarks._cache_peers import NAMES, REDIS_URL, VALUE, RawRedis, build
from benchmarks._runner import (
    MICROSECONDS,
    ROOT,
    Benchmark,
    Budget,
    Case,
    Check,
    Contender,
    Group,
    Measure,
    Metric,
    Options,
    Sample,
    driven,
    event_loop,
    redis_version,
)

__all__ = ["BENCHMARK"]

OURS = "mediz-infra"
RAW = RawRedis.name
CALLS_PER_SECOND = Metric("calls/s", higher_is_better=True)
BACKEND_CALLS = Metric("backend calls", higher_is_better=False, per_op_micros=True)
STAMPEDE = 200


def _count(calls: int) -> Sample:
    """A count as a sample the per-op metric reads back unchanged (ops=1, seconds=calls µs)."""
    return Sample(ops=1, seconds=max(calls, 1e-3) / 1e6)


def _cycle(fn: Callable[[int], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    keys = itertools.cycle(range(1, 11))
    return lambda: fn(next(keys))


def _fresh(fn: Callable[[int], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    numbers = itertools.count(1)
    return lambda: fn(next(numbers))


async def _check(name: str, fn: Callable[[int], Awaitable[Any]]) -> None:
    value = await fn(1)
    if value != VALUE:
        raise RuntimeError(f"{name} returned a wrong value: {value!r:.80}")


@contextlib.asynccontextmanager
async def _memory(options: Options) -> AsyncIterator[Sequence[Case]]:
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    contenders = [build(name, "mem://", prefix, _noop) for name in NAMES]
    try:
        for c in contenders:
            await _check(c.name, c.popular)
        yield [
            Case(
                "memory/hit/c1",
                {"backend": "memory", "path": "hit", "c": "1"},
                MICROSECONDS,
                [Contender(c.name, driven(_cycle(c.popular), 1), c.name == OURS)
                 for c in contenders],
            )
        ]
    finally:
        for c in contenders:
            await c.close()


async def _noop() -> None:
    return None


@contextlib.asynccontextmanager
async def _redis(options: Options) -> AsyncIterator[Sequence[Case]]:
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    counter = aioredis.Redis.from_url(REDIS_URL)
    counts: dict[str, int] = {}

    def counting(name: str) -> Callable[[], Awaitable[None]]:
        async def on_call() -> None:
            counts[name] = counts.get(name, 0) + 1

        return on_call

    contenders = [build(n, REDIS_URL, f"{prefix}-{i}", counting(n)) for i, n in enumerate(NAMES)]
    raw = RawRedis(REDIS_URL, f"{prefix}-raw")
    await raw.prepare()
    stampedes = itertools.count(1)

    def stampede(c: Any) -> Measure:
        async def measure(budget: Budget) -> Sample:
            number = next(stampedes)
            before = counts.get(c.name, 0)
            await asyncio.gather(*(c.slow(number) for _ in range(STAMPEDE)))
            return _count(counts.get(c.name, 0) - before)

        return measure

    try:
        for c in contenders:
            await _check(c.name, c.popular)
        hit = [(c.name, c.popular, c.name == OURS) for c in contenders] + [
            (RAW, raw.popular, False)
        ]
        miss = [(c.name, c.fresh, c.name == OURS) for c in contenders] + [
            (RAW, raw.fresh, False)
        ]
        yield [
            Case(
                "redis/hit/c1",
                {"backend": "Redis", "path": "hit", "c": "1"},
                MICROSECONDS,
                [Contender(n, driven(_cycle(fn), 1), o) for n, fn, o in hit],
            ),
            Case(
                "redis/hit/c50",
                {"backend": "Redis", "path": "hit (10 hot keys)", "c": "50"},
                CALLS_PER_SECOND,
                [Contender(n, driven(_cycle(fn), 50), o) for n, fn, o in hit],
            ),
            Case(
                "redis/miss/c1",
                {"backend": "Redis", "path": "miss + set", "c": "1"},
                MICROSECONDS,
                [Contender(n, driven(_fresh(fn), 1), o) for n, fn, o in miss],
            ),
            Case(
                "redis/stampede/1p",
                {"backend": "Redis", "path": f"stampede, {STAMPEDE} calls, 1 process", "c": "200"},
                BACKEND_CALLS,
                [Contender(c.name, stampede(c), c.name == OURS) for c in contenders],
            ),
        ]
    finally:
        for c in contenders:
            await c.close()
        await raw.close()
        await _delete(counter, f"{prefix}*")
        await counter.aclose()


async def _delete(client: aioredis.Redis, pattern: str) -> None:
    batch = [key async for key in client.scan_iter(match=pattern, count=1000)]
    for start in range(0, len(batch), 1000):
        await client.delete(*batch[start : start + 1000])


@contextlib.asynccontextmanager
async def _processes(options: Options) -> AsyncIterator[Sequence[Case]]:
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    client = aioredis.Redis.from_url(REDIS_URL)
    numbers = itertools.count(1)

    def four(name: str) -> Measure:
        async def measure(budget: Budget) -> Sample:
            number = next(numbers)
            procs = [
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "benchmarks._cache_worker",
                    name, REDIS_URL, f"{prefix}-{name}", str(number), str(STAMPEDE // 4),
                    cwd=ROOT, stdout=subprocess.DEVNULL,
                )
                for _ in range(4)
            ]
            ready = f"{prefix}-{name}:ready:{number}"
            for _ in range(3000):  # bounded: 30 s for four interpreters to start
                if int(await client.get(ready) or 0) >= 4:
                    break
                await asyncio.sleep(0.01)
            await client.set(f"{prefix}-{name}:go:{number}", 1, ex=120)
            codes = await asyncio.gather(*(p.wait() for p in procs))
            if any(codes):
                raise RuntimeError(f"{name}: a stampede worker failed: {codes}")
            return _count(int(await client.get(f"{prefix}-{name}:calls:{number}") or 0))

        return measure

    try:
        yield [
            Case(
                "redis/stampede/4p",
                {"backend": "Redis", "path": f"stampede, {STAMPEDE} calls, 4 processes",
                 "c": "4 x 50"},
                BACKEND_CALLS,
                [Contender(n, four(n), n == OURS) for n in NAMES],
            )
        ]
    finally:
        await _delete(client, f"{prefix}*")
        await client.aclose()


@contextlib.asynccontextmanager
async def _refused(options: Options) -> AsyncIterator[Sequence[Case]]:
    from tests._servers import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    contenders = [build(name, url, "bench", _noop) for name in NAMES]
    try:
        for c in contenders:
            await _check(c.name, c.popular)  # the first failure, outside the measurement
        yield [
            Case(
                "refused/c1",
                {"backend": "Redis refused", "path": "call after the first failure", "c": "1"},
                MICROSECONDS,
                [Contender(c.name, driven(_cycle(c.popular), 1), c.name == OURS)
                 for c in contenders],
            )
        ]
    finally:
        for c in contenders:
            with contextlib.suppress(Exception):
                await c.close()


@contextlib.asynccontextmanager
async def _hung(options: Options) -> AsyncIterator[Sequence[Case]]:
    """A server that accepts connections and never answers; ours only (see the notes)."""
    from tests._servers import silent_server

    async with silent_server() as port:
        ours = build(OURS, f"redis://127.0.0.1:{port}/0", "bench", _noop)
        try:
            await _check(OURS, ours.popular)  # the first failure (one timeout), not measured
            yield [
                Case(
                    "hung/c1",
                    {"backend": "Redis hung", "path": "call after the first failure", "c": "1"},
                    MICROSECONDS,
                    [Contender(OURS, driven(_cycle(ours.popular), 1), True)],
                )
            ]
        finally:
            with contextlib.suppress(Exception):
                await ours.close()


async def _environment() -> dict[str, str]:
    return {
        "Redis": f"{await redis_version(REDIS_URL)} on 127.0.0.1 (loopback TCP)",
        "value": "10 rows of 4 fields (~700 bytes JSON)",
        "event loop": event_loop(),
    }


def _checks() -> list[Check]:
    checks = [
        Check(f"Redis hit, c=1: ours ÷ {RAW} (at most 1.05x)", ("redis/hit/c1", OURS),
              ("redis/hit/c1", RAW), 1 / 1.05),
        Check(f"Redis hit, c=50: ours ÷ {RAW} (at most 1.2x)", ("redis/hit/c50", OURS),
              ("redis/hit/c50", RAW), 1 / 1.2),
    ]
    for peer in NAMES[1:]:
        for case in ("memory/hit/c1", "redis/hit/c1", "redis/hit/c50", "redis/miss/c1",
                     "redis/stampede/1p", "redis/stampede/4p", "refused/c1"):
            checks.append(Check(f"{case}: ours ÷ {peer}", (case, OURS), (case, peer), 1.0))
    return checks


BENCHMARK = Benchmark(
    name="cache",
    title="cache: the @cache decorator",
    groups=(
        Group("memory", _memory),
        Group("redis", _redis),
        Group("4 processes", _processes),
        Group("refused", _refused),
        Group("hung", _hung),
    ),
    peers=("mediz-infra", "cashews", "aiocache", "redis", "pydantic-core"),
    checks=_checks(),
    environment=_environment,
    notes=(
        "Contenders: mediz-infra `Cache(url)` defaults (JSON; a read is one `EVALSHA` that "
        "returns the value or, on a miss, takes the cross-process lock and reads the "
        "invalidation marker, so a miss is that and the store script; identical calls in "
        "flight merged); cashews `Cache().setup(url)` (pickle, `lock=True` on the "
        "stampede function); aiocache `@cached` with `RedisCache`/`SimpleMemoryCache` "
        "defaults and `@cached_stampede(lease=2)` on the stampede function; the baseline is "
        "redis.asyncio's default client doing `GET` + `pydantic_core.from_json` (miss: `GET` "
        "+ `SET`). The stampede rows count how many times the 50 ms function ran for 200 "
        "concurrent calls on a cold key (lower is better; 1 is ideal). *Refused* points "
        "every library at a closed port and times calls after the first failure. *Hung* "
        "points ours at a server that accepts connections and never answers (its back-off "
        "lapses every second and a background probe asks, so callers never wait on it); "
        "peers are not run there, as each of their calls waits for its socket timeout "
        "(seconds) and would not fit the measurement budget."
    ),
)
