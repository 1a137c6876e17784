"""The cache across processes on the real Redis: stampede, stale-while-revalidate, tags, L1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mediz_infra.cache import Cache

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WORKER = "tests.integration._cache_worker"


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    name = f"p{uuid.uuid4().hex[:10]}"
    yield name
    client = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def spawn(mode: str, url: str, prefix: str, arg: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", WORKER, mode, url, prefix, arg],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> list[str]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out.splitlines()


async def test_stampede_across_four_processes_is_one_call(redis_url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        procs = [spawn("stampede", redis_url, prefix, "50") for _ in range(4)]
        await asyncio.sleep(0.5)  # let the interpreters import; the go key releases them
        await client.set(f"{prefix}:go", 1, ex=60)
        outputs = [json.loads(finish(p)[-1]) for p in procs]
        assert int(await client.get(f"{prefix}:calls") or 0) == 1
        for out in outputs:
            assert out["results"] == [{"x": 1, "n": 1}] * 50
    finally:
        await client.aclose()


async def test_a_reader_in_another_process_cannot_let_an_older_value_back(
    redis_url: str, prefix: str
) -> None:
    """A computation begun before an invalidation is not stored, whatever another process does.

    The other process reads the key between the invalidation and the older computation's end
    (before the fix it took the lock the marker sat in, stored, and freed the way for the
    older value).
    """
    client = aioredis.Redis.from_url(redis_url)
    cache = Cache(redis_url, prefix=prefix, timeout=2.0)
    started, release = asyncio.Event(), asyncio.Event()

    async def body(x: int) -> dict[str, int]:
        n = int(await client.incr(f"{prefix}:calls"))
        started.set()
        await release.wait()
        return {"x": x, "n": n}

    fn = cache(ttl=60, key="race:{x}", lock=True)(body)
    try:
        older = asyncio.create_task(fn(1))
        await started.wait()
        assert await cache.invalidate(fn, 1)  # the data changed while it computed
        reader = spawn("read", redis_url, prefix, "0")
        await client.set(f"{prefix}:go", 1, ex=60)
        end = time.monotonic() + 20
        while not await client.exists(f"{prefix}:reading"):
            assert time.monotonic() < end, "the reader did not start"
            await asyncio.sleep(0.01)
        # give the reader time to finish on its own (as it did before the fix); now it waits
        end = time.monotonic() + 1.0
        while reader.poll() is None and time.monotonic() < end:  # noqa: ASYNC110 - a process
            await asyncio.sleep(0.01)
        release.set()
        assert (await older)["n"] == 1
        assert json.loads(finish(reader)[-1])["n"] == 2
        assert fn.statistics.discarded == 1
        assert await fn(1) == {"x": 1, "n": 2}  # what the reader stored, not the older value
        assert int(await client.get(f"{prefix}:calls") or 0) == 2
    finally:
        await cache.close()
        await client.aclose()


async def test_a_fast_function_turned_slow_runs_once_across_four_processes(
    redis_url: str, prefix: str
) -> None:
    """The default lock protects the stampede that matters most: a query suddenly slow."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        procs = [spawn("fastslow", redis_url, prefix, "50") for _ in range(4)]
        end = time.monotonic() + 30
        while int(await client.get(f"{prefix}:ready") or 0) < 4:  # each has seen it fast
            assert time.monotonic() < end, "the workers did not get ready"
            assert all(p.poll() is None for p in procs), "a worker died"
            await asyncio.sleep(0.01)
        await client.set(f"{prefix}:go", 1, ex=60)
        outputs = [json.loads(finish(p)[-1]) for p in procs]
        assert all(out["results"] == [1] * 50 for out in outputs)
        assert int(await client.get(f"{prefix}:calls:1") or 0) == 1
    finally:
        await client.aclose()


async def test_stale_while_revalidate_across_two_processes(redis_url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert json.loads(finish(spawn("swr", redis_url, prefix, "0.05"))[0])["n"] == 1
        await asyncio.sleep(0.35)  # past the 0.3 s TTL: the value is now stale
        # two processes read the stale value together; one of them refreshes, once
        first = spawn("swr", redis_url, prefix, "0.5")
        second = spawn("swr", redis_url, prefix, "0.5")
        served = [json.loads(finish(p)[0])["n"] for p in (first, second)]
        assert served == [1, 1]
        assert int(await client.get(f"{prefix}:calls") or 0) == 2
        assert json.loads(finish(spawn("swr", redis_url, prefix, "0.05"))[0])["n"] == 2
    finally:
        await client.aclose()


async def test_one_refresh_per_stale_period_under_traffic_from_four_processes(
    redis_url: str, prefix: str
) -> None:
    """No refresh runs while a fresh value is stored: a second refresher re-checks and stops.

    Before the fix, a process that saw the stale value took the lock just after another
    process's refresh stored and released it, and refreshed again.
    """
    client = aioredis.Redis.from_url(redis_url)
    try:
        procs = [spawn("load", redis_url, prefix, "1.5") for _ in range(4)]
        await asyncio.sleep(0.5)  # let the interpreters import; the go key releases them
        await client.set(f"{prefix}:go", 1, ex=60)
        stats = [json.loads(finish(p)[-1]) for p in procs]
        assert sum(s["refreshes"] for s in stats) >= 2  # the value went stale and was refreshed
        assert int(await client.get(f"{prefix}:early") or 0) == 0
    finally:
        await client.aclose()


async def test_tag_invalidation_reaches_another_process(redis_url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    cache = Cache(redis_url, prefix=prefix)
    try:
        proc = spawn("tags", redis_url, prefix, "0")
        first = json.loads(await asyncio.to_thread(proc.stdout.readline))  # type: ignore[union-attr]
        assert first["n"] == 1
        assert await cache.invalidate_tags("symptoms")
        await client.set(f"{prefix}:again", 1, ex=60)
        second = json.loads(finish(proc)[-1])
        assert second["n"] == 2
    finally:
        await cache.close()
        await client.aclose()


async def test_l1_is_cleared_in_every_process_by_invalidations(redis_url: str, prefix: str) -> None:
    # two Cache objects with their own connections stand for two processes (pub/sub is per
    # connection), each with an L1 in front of Redis
    one = Cache(redis_url, prefix=prefix, l1_size=100, l1_ttl=60)
    two = Cache(redis_url, prefix=prefix, l1_size=100, l1_ttl=60)
    calls = 0

    async def body() -> int:
        nonlocal calls
        calls += 1
        return calls

    a = one(ttl=60, key="l1", tags=["t"])(body)
    b = two(ttl=60, key="l1", tags=["t"])(body)
    try:
        await a(), await b()  # start both listeners
        end = time.monotonic() + 5
        while not (one.l1_ready() and two.l1_ready()):
            assert time.monotonic() < end, "L1 listeners did not subscribe"
            await asyncio.sleep(0.01)
        assert (await a(), await b()) == (1, 1)
        assert (await a(), await b()) == (1, 1)
        assert a.statistics.l1_hits >= 1 and b.statistics.l1_hits >= 1
        await one.invalidate(a)
        end = time.monotonic() + 5
        while two.l1 is not None and len(two.l1):
            assert time.monotonic() < end, "the other process's L1 kept the value"
            await asyncio.sleep(0.01)
        assert await b() == 2
        await two.invalidate_tags("t")
        end = time.monotonic() + 5
        while one.l1 is not None and len(one.l1):
            assert time.monotonic() < end, "tag invalidation did not reach the other L1"
            await asyncio.sleep(0.01)
        assert await a() == 3
    finally:
        await one.close()
        await two.close()


async def test_an_invalidation_reaches_other_processes_l1_whoever_invalidates(
    redis_url: str, prefix: str
) -> None:
    """The invalidating Cache has no L1 of its own; the other process's L1 still hears of it."""
    client = aioredis.Redis.from_url(redis_url)
    cache = Cache(redis_url, prefix=prefix)  # no L1 here

    @cache(ttl=60, key="l1:{x}", tags=["t"])
    async def fn(x: int) -> dict[str, int]:
        raise AssertionError("only invalidated here")

    try:
        proc = spawn("l1", redis_url, prefix, "0")
        assert proc.stdout is not None
        first = json.loads(await asyncio.to_thread(proc.stdout.readline))
        assert first["n"] == 1
        assert await cache.invalidate(fn, 1)
        await client.set(f"{prefix}:again1", 1, ex=60)
        assert json.loads(await asyncio.to_thread(proc.stdout.readline))["n"] == 2
        assert await cache.invalidate_tags("t")
        await client.set(f"{prefix}:again2", 1, ex=60)
        assert json.loads(finish(proc)[-1])["n"] == 3
    finally:
        await cache.close()
        await client.aclose()
