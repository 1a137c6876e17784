"""The cache's contract, run on every store: in-process memory, MemoryRedis and (integration) Redis.

Keys, hits and misses, merging, invalidation, freshness and cancellation; what values survive
storage is in ``test_contract_serialisation.py``. ``tests/integration/test_cache_contract.py``
imports both modules and overrides ``backend`` with the real Redis, so one suite proves every
backend. The fixtures are in ``conftest.py`` and ``_contract_helpers.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from mediz_infra.cache import LockPolicy
from tests.unit.cache._contract_helpers import Counter, Factory, eventually


async def test_hit_after_miss(make_cache: Factory) -> None:
    cache, n = make_cache(), Counter()

    @cache(ttl=60)
    async def square(x: int) -> int:
        n.calls += 1
        return x * x

    assert [await square(3), await square(3), await square(x=3), await square(4)] == [9, 9, 9, 16]
    assert n.calls == 2
    assert square.statistics.hits == 2
    assert square.statistics.misses == 2
    assert cache.stats.hit_ratio == 0.5


async def test_template_key_and_default_key(make_cache: Factory) -> None:
    cache = make_cache(version="v7")

    @cache(ttl=60, key="symptoms:popular:{limit}")
    async def popular(limit: int, days: int = 30) -> list[int]:
        return list(range(limit))

    @cache(ttl=60)
    async def plain(a: int, b: str = "x") -> str:
        return f"{a}{b}"

    ns = f"{cache.prefix}:cache:v7"
    assert popular.key_for((10,), {}) == f"{ns}:{{symptoms:popular:10}}"
    default = plain.key_for((1,), {})
    assert default == plain.key_for((), {"a": 1, "b": "x"}) == plain.key_for((1, "x"), {})
    assert default.startswith(f"{ns}:{{{__name__}.")
    assert plain.key_for((1, "y"), {}) != default
    assert await popular(3) == [0, 1, 2]


async def test_two_hundred_concurrent_misses_make_one_call(make_cache: Factory) -> None:
    cache, n = make_cache(), Counter()

    @cache(ttl=60)
    async def slow(x: int) -> dict[str, int]:
        n.calls += 1
        await asyncio.sleep(0.1)
        return {"x": x}

    results = await asyncio.gather(*(slow(1) for _ in range(200)))
    assert n.calls == 1
    assert all(r == {"x": 1} for r in results)
    results[0]["x"] = 2  # followers got their own copies
    assert results[1] == {"x": 1}


async def test_values_handed_out_cannot_change_the_cache(make_cache: Factory) -> None:
    cache = make_cache()

    @cache(ttl=60)
    async def data() -> dict[str, Any]:
        return {"items": [1, 2], "nested": {"a": 1}}

    first = await data()
    first["items"].append(3)
    second = await data()
    second["nested"]["a"] = 99
    assert await data() == {"items": [1, 2], "nested": {"a": 1}}


async def test_none_cached_only_when_asked(make_cache: Factory) -> None:
    cache, n, m = make_cache(), Counter(), Counter()

    @cache(ttl=60)
    async def nothing() -> None:
        n.calls += 1

    @cache(ttl=60, cache_none=True)
    async def nothing_kept() -> None:
        m.calls += 1

    for _ in range(3):
        assert await nothing() is None
        assert await nothing_kept() is None
    assert (n.calls, m.calls) == (3, 1)


async def test_invalidate_one_call_and_a_method(make_cache: Factory) -> None:
    cache, n = make_cache(), Counter()

    class Repo:
        @cache(ttl=60)
        async def get(self, item: int) -> int:
            n.calls += 1
            return item + n.calls

    repo, other = Repo(), Repo()
    assert await repo.get(1) == 2
    assert await other.get(1) == 2  # self is not part of the key
    assert await cache.invalidate(repo.get, 1)
    assert await repo.get(1) == 3
    assert await Repo.get.invalidate(repo, 1)  # type: ignore[attr-defined]
    assert await repo.get(1) == 4


@pytest.mark.parametrize("l1_size", [0, 100])
async def test_a_value_computed_across_an_invalidation_is_not_kept(
    make_cache: Factory, backend: str, l1_size: int
) -> None:
    """It may predate what made the caller invalidate: the caller gets it, the cache does not.

    With an L1 (Redis only) neither the L1 nor Redis may keep it.
    """
    if l1_size and backend == "memory":
        pytest.skip("the in-process store has no L1 in front of it")
    cache, n = make_cache(l1_size=l1_size), Counter()
    started, release = asyncio.Event(), asyncio.Event()

    @cache(ttl=60)
    async def balance(user: int) -> int:
        n.calls += 1
        if n.calls == 1:
            started.set()
            await release.wait()
        return 100 * n.calls

    first = asyncio.create_task(balance(7))
    await started.wait()
    assert await cache.invalidate(balance, 7)  # e.g. a payment landed meanwhile
    release.set()
    assert await first == 100
    assert balance.statistics.discarded == (0 if backend == "memory" else 1)
    assert await balance(7) == 200  # recomputed: the first value was not kept
    assert await balance(7) == 200
    assert n.calls == 2


@pytest.mark.parametrize(
    ("lock", "how"), [("auto", "call"), (True, "call"), (False, "call"), (True, "clear")]
)
async def test_a_computation_begun_before_an_invalidation_is_never_stored(
    make_cache: Factory, backend: str, lock: Any, how: str
) -> None:
    """Whoever reads, computes and stores in between (here: "another process" on the key)."""
    first, second = make_cache(), make_cache(lock=LockPolicy(wait=5))
    row = {"v": 1}
    hold = {"on": False}
    started, release = asyncio.Event(), asyncio.Event()

    async def body(user: int) -> int:
        seen = row["v"]
        if hold["on"]:
            hold["on"] = False
            started.set()
            await release.wait()
        return seen

    a = first(ttl=60, key="balance:{user}", lock=lock)(body)
    b = second(ttl=60, key="balance:{user}", lock=lock)(body)
    if lock == "auto":
        assert await a(0) == 1  # a fast function: "auto" skips the lock for the next miss
        assert await b(0) == 1
    hold["on"] = True
    old = asyncio.create_task(a(7))
    await started.wait()  # it has read the row
    row["v"] = 2
    if how == "call":
        assert await first.invalidate(a, 7)
    else:
        assert await first.clear() >= 0
    reader = asyncio.create_task(b(7))
    # the reader finishes on its own (stores its value), or waits for the older computation
    await eventually(lambda: reader.done() or b.statistics.lock_waits > 0)
    release.set()
    assert await old == 1  # its caller gets it...
    assert await reader == 2
    assert a.statistics.discarded == (0 if backend == "memory" else 1)
    assert await b(7) == 2  # ...the cache never keeps it
    assert await a(7) == 2


async def test_a_tiny_lock_ttl_still_locks(make_cache: Factory) -> None:
    """A TTL under a millisecond is rounded up, never sent to Redis as an invalid ``PX 0``."""
    cache = make_cache(lock=LockPolicy(ttl=0.0004))

    @cache(ttl=60, lock=True)
    async def value() -> int:
        return 1

    assert await value() == 1
    assert cache.stats.errors == 0
    assert value.statistics.misses == 1


async def test_a_function_slower_than_its_lock_is_still_cached(make_cache: Factory) -> None:
    """Its lock expired while it ran, nobody else's followed: the value is stored all the same."""
    cache, n = make_cache(lock=LockPolicy(ttl=0.05)), Counter()

    @cache(ttl=60)
    async def slow() -> int:
        n.calls += 1
        await asyncio.sleep(0.1)
        return 1

    assert [await slow(), await slow()] == [1, 1]
    assert n.calls == 1
    assert slow.statistics.discarded == 0


@pytest.mark.parametrize("how", ["call", "tags", "clear"])
async def test_a_call_after_an_invalidation_does_not_join_an_older_computation(
    make_cache: Factory, how: str
) -> None:
    """Read-your-writes in the invalidating process, however it invalidates."""
    cache = make_cache()
    row = {"v": 1}
    entered, gate = asyncio.Event(), asyncio.Event()

    @cache(ttl=60, tags=["rows"])
    async def read() -> int:
        seen = row["v"]
        entered.set()
        await gate.wait()
        return seen

    first = asyncio.create_task(read())
    await entered.wait()  # it has read the row
    row["v"] = 2
    if how == "call":
        assert await read.invalidate()
    elif how == "tags":
        assert await cache.invalidate_tags("rows")
    else:
        assert await cache.clear() >= 0
    second = asyncio.create_task(read())
    await asyncio.sleep(0)
    gate.set()
    assert await first == 1  # it began before the change
    assert await second == 2


async def test_invalidate_tags_and_clear(make_cache: Factory) -> None:
    cache, n = make_cache(), Counter()

    @cache(ttl=60, tags=["symptoms"])
    async def tagged(x: int) -> int:
        n.calls += 1
        return x

    @cache(ttl=60, tags=["users"])
    async def other(x: int) -> int:
        n.calls += 1
        return x

    await tagged(1), await tagged(2), await other(1)
    assert n.calls == 3
    assert await cache.invalidate_tags("symptoms")
    await tagged(1), await tagged(2), await other(1)
    assert n.calls == 5
    await cache.clear()
    await tagged(1), await other(1)
    assert n.calls == 7


async def test_tags_invalidated_by_another_cache_object(make_cache: Factory) -> None:
    first, second, n = make_cache(), make_cache(), Counter()

    @first(ttl=60, tags=["t"])
    async def value() -> int:
        n.calls += 1
        return n.calls

    assert await value() == 1
    assert await value() == 1
    if first.local is not None:
        await first.invalidate_tags("t")  # memory: one process, one tag table per Cache
    else:
        await second.invalidate_tags("t")
    assert await value() == 2


async def test_stale_while_revalidate(make_cache: Factory) -> None:
    cache, n = make_cache(), Counter()
    entered, gate = asyncio.Event(), asyncio.Event()

    @cache(ttl=0.2, stale_ttl=30)
    async def version() -> int:
        n.calls += 1
        if n.calls == 2:  # the refresh: held until the stale reads below are served
            entered.set()
            await gate.wait()
        return n.calls

    assert await version() == 1
    await asyncio.sleep(0.25)  # let the value turn stale (this is the TTL, not a wait for work)
    # served while the refresh is held: a read that waited for it would never return
    assert await asyncio.wait_for(version(), 5) == 1
    await asyncio.wait_for(entered.wait(), 5)  # the refresh runs in the background
    assert await asyncio.wait_for(version(), 5) == 1  # still the stale value, no second refresh
    assert version.statistics.stale == 2
    gate.set()
    await eventually(lambda: not version.refreshing)
    assert await version() == 2
    assert n.calls == 2
    assert version.statistics.refreshes == 1


async def test_early_refresh_recomputes_before_expiry(make_cache: Factory) -> None:
    cache, n = make_cache(), Counter()

    @cache(ttl=0.5, early_refresh=1e6)  # a huge beta: always refresh early
    async def value() -> int:
        n.calls += 1
        await asyncio.sleep(0.01)
        return n.calls

    assert await value() == 1
    assert await value() == 1  # served fresh; early refresh is decided per read
    end = time.monotonic() + 5
    while n.calls < 2 and time.monotonic() < end:  # reads keep the refresh chance alive
        assert await value() in (1, 2)
        await asyncio.sleep(0.01)
    assert n.calls >= 2
    assert value.statistics.refreshes >= 1


async def test_second_cache_waits_for_the_lock_holder(make_cache: Factory, backend: str) -> None:
    if backend == "memory":
        pytest.skip("the in-process store has no cross-process lock")
    first, second = make_cache(), make_cache(lock=LockPolicy(ttl=5, wait=5))
    n = Counter()

    async def body() -> int:
        n.calls += 1
        await asyncio.sleep(0.2)
        return 42

    a = first(ttl=60, key="shared")(body)
    b = second(ttl=60, key="shared")(body)
    assert await asyncio.gather(a(), b()) == [42, 42]
    assert n.calls == 1
    assert a.statistics.lock_waits + b.statistics.lock_waits == 1


@pytest.mark.parametrize(
    ("lock", "work", "waits"),
    [
        ("auto", 0.0, 1),  # however fast the function was: the lock costs no round trip
        ("auto", 0.01, 1),
        (True, 0.0, 1),
        (False, 0.01, 0),
    ],
)
async def test_which_misses_take_the_cross_process_lock(
    make_cache: Factory, backend: str, lock: Any, work: float, waits: int
) -> None:
    """Observed through a lock held by "another process": only a locking miss waits for it."""
    if backend == "memory":
        pytest.skip("the in-process store has no cross-process lock")
    cache = make_cache(lock=LockPolicy(wait=0.1))

    @cache(ttl=60, lock=lock)
    async def row(n: int) -> int:
        await asyncio.sleep(work)
        return n

    assert await row(1) == 1  # the first miss: how long the function takes is now known
    assert cache.store is not None
    await cache.store.client.set(row.key_for((2,), {}) + ":lock", "elsewhere", px=5_000)
    assert await row(2) == 2
    assert row.statistics.lock_waits == waits
    assert row.statistics.misses == 2


async def test_cancelled_leader_lets_followers_finish(make_cache: Factory) -> None:
    cache, n = make_cache(), Counter()
    gate = asyncio.Event()

    @cache(ttl=60)
    async def value() -> int:
        n.calls += 1
        if n.calls == 1:
            await gate.wait()  # the first leader hangs until cancelled
        return 7

    leader = asyncio.create_task(value())
    await eventually(lambda: n.calls == 1)
    followers = [asyncio.create_task(value()) for _ in range(5)]
    await asyncio.sleep(0)
    leader.cancel()
    assert await asyncio.gather(*followers) == [7] * 5
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert n.calls == 2


async def test_errors_propagate_to_every_merged_caller(make_cache: Factory) -> None:
    cache, n = make_cache(), Counter()

    @cache(ttl=60)
    async def broken() -> int:
        n.calls += 1
        await asyncio.sleep(0.05)
        raise LookupError("nope")

    results = await asyncio.gather(*(broken() for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)
    assert n.calls == 1


async def test_close_cancels_background_refreshes(make_cache: Factory) -> None:
    cache, n = make_cache(), Counter()
    started = asyncio.Event()

    @cache(ttl=0.05, stale_ttl=30)
    async def value() -> int:
        n.calls += 1
        if n.calls > 1:  # the background refresh hangs until cancelled
            started.set()
            await asyncio.sleep(30)
        return 1

    await value()
    await asyncio.sleep(0.06)
    await value()  # stale: refresh starts and hangs
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(cache.close(), 5)
    assert not value.refreshing
