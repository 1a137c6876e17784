"""The cache contract (tests/unit/cache/test_contract*.py) on the real Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from mediz_infra.cache import Cache, LockPolicy
from mediz_infra.cache.entry import pack
from mediz_infra.cache.tags import TAG_TTL
from tests.unit.cache._contract_helpers import Factory, eventually, make_cache  # noqa: F401
from tests.unit.cache.test_contract import *  # noqa: F403 - the same suite, another backend
from tests.unit.cache.test_contract_serialisation import *  # noqa: F403
from tests.unit.cache.test_contract_values import *  # noqa: F403

pytestmark = pytest.mark.integration


@pytest.fixture(params=["redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_tag_counters_are_bumped_with_an_expiry_in_one_go(
    make_cache: Factory,  # noqa: F811 - the fixture imported above
) -> None:
    """Redis only: every tag's counter goes up by one and expires after TAG_TTL (nothing grows)."""
    cache = make_cache()
    assert await cache.invalidate_tags("a", "b")
    assert await cache.invalidate_tags("b")
    assert cache.store is not None
    client: Any = cache.store.client
    keys = cache.tag_keys(("a", "b"))
    assert [int(v) for v in await client.mget(keys)] == [1, 2]
    for key in keys:
        assert TAG_TTL - 60 < await client.ttl(key) <= TAG_TTL


class _Unfreezable:
    """A decoded value the in-process layers cannot copy (a lock does not pickle)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.guard = threading.Lock()


class _UnfreezableSerializer:
    def dumps(self, value: Any) -> bytes:
        return str(value.n).encode()

    def loads(self, raw: bytes) -> Any:
        return _Unfreezable(int(raw))


async def test_callers_joined_on_a_hit_never_share_a_mutable_value(
    make_cache: Factory,  # noqa: F811 - the fixture imported above
) -> None:
    """Redis only: the followers of a merged hit get their own decoded objects."""
    cache = make_cache(serializer=_UnfreezableSerializer())

    @cache(ttl=60)
    async def thing() -> Any:
        return _Unfreezable(5)

    await thing()
    results = await asyncio.gather(*(thing() for _ in range(5)))
    assert thing.statistics.merged == 4
    assert [r.n for r in results] == [5] * 5
    assert len({id(r) for r in results}) == 5


async def test_a_lock_waiter_serves_a_stale_value_as_stale(
    make_cache: Factory,  # noqa: F811 - the fixture imported above
) -> None:
    """Redis only: what a waiter finds is counted for what it is, and refreshed if stale."""
    cache = make_cache(lock=LockPolicy(wait=5))
    calls = 0

    @cache(ttl=60, stale_ttl=60, lock=True)
    async def value() -> int:
        nonlocal calls
        calls += 1
        return 2

    assert cache.store is not None
    client: Any = cache.store.client
    key = value.key_for((), {})
    await client.set(key + ":lock", "elsewhere", px=5_000)  # "another process" computes it
    waiter = asyncio.create_task(value())
    await eventually(lambda: value.statistics.lock_waits == 1)
    await client.set(key, pack(b"1", time.time() - 1, 0.0, b""), px=60_000)  # stale already
    await client.delete(key + ":lock")
    assert await waiter == 1
    assert (value.statistics.hits, value.statistics.stale) == (0, 1)
    await eventually(lambda: calls == 1 and not value.refreshing)
    assert await value() == 2


async def _commands(client: Any) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def test_round_trips_of_hits_and_misses(throwaway_redis: Any) -> None:
    """Counted on a server of its own (commands run by the scripts count too).

    A hit after a hit is one ``GET``, as a raw ``GET``; a miss after a hit is that ``GET``, the
    lock script (which reads the marker and takes the lock) and the store script; a miss after
    a miss is two round trips, the read script then taking the lock itself.
    """
    cache = Cache(throwaway_redis.url, prefix="rt")
    client = aioredis.Redis.from_url(throwaway_redis.url)

    @cache(ttl=60)
    async def row(n: int) -> int:
        return n

    async def counted(n: int) -> dict[str, int]:
        before = await _commands(client)
        assert await row(n) == n
        after = await _commands(client)
        return {
            k: v - before.get(k, 0)
            for k, v in after.items()
            if k != "info" and v > before.get(k, 0)
        }

    # read: GET value, GET marker, SET lock; store: GET lock, GET marker, SET value, DEL lock
    script_miss = {"evalsha": 2, "get": 4, "set": 2, "del": 1}
    try:
        await counted(0), await counted(0)  # connections made, scripts loaded
        assert await counted(0) == {"get": 1}  # a hit
        assert await counted(1) == {**script_miss, "get": 5}  # a miss after a hit: + GET
        assert await counted(2) == script_miss  # a miss after a miss
        assert await counted(2) == {"evalsha": 1, "get": 1}  # by script, since the last missed
        assert await counted(2) == {"get": 1}  # and plain again
        assert cache.stats.errors == 0
    finally:
        await cache.close()
        await client.aclose()


async def test_reads_survive_a_script_flush(throwaway_redis: Any) -> None:
    """A restarted or flushed server has no scripts: they are loaded again, nothing fails.

    On a server of its own: ``SCRIPT FLUSH`` is server-wide.
    """
    cache = Cache(throwaway_redis.url, prefix="sf")

    @cache(ttl=60)
    async def row(n: int) -> int:
        return n

    try:
        assert [await row(1), await row(2)] == [1, 2]  # two misses: reads go by script now
        assert cache.store is not None
        client: Any = cache.store.client
        await client.script_flush()
        assert [await row(3), await row(3), await row(3)] == [3, 3, 3]
        assert cache.stats.errors == 0
        assert row.statistics.hits == 2
    finally:
        await cache.close()
