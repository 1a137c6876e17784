"""One contract for the rate limiter's stores: memory and the real Redis answer alike."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import limits.aio.storage
import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.ratelimit import RateLimiter, RateLimitMiddleware, Rule
from tests.unit.ratelimit._asgi import call, ok_app

pytestmark = pytest.mark.integration

STRATEGIES = ("fixed-window", "moving-window", "sliding-window-counter", "gcra")


@pytest.fixture(params=["memory", "redis", "limits"])
async def limiter(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield RateLimiter("memory://")
        return
    if request.param == "limits":  # the adapter over limits' own storages and strategies
        strategy = request.node.callspec.params.get("strategy")
        if strategy == "gcra":
            pytest.skip("limits has no GCRA")
        yield RateLimiter(limits.aio.storage.MemoryStorage())
        return
    client = create_redis(redis_url)
    try:
        yield RateLimiter(client, prefix=f"test-{uuid.uuid4().hex[:8]}", timeout=2.0)
    finally:
        await client.aclose()


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_limit_headers_and_retry_after_as_windows_roll(
    limiter: RateLimiter, strategy: str
) -> None:
    rule = Rule("roll", "3/second", strategy=strategy)  # type: ignore[arg-type]
    mw = RateLimitMiddleware(ok_app, rules=[rule], limiter=limiter)
    allowed = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status, headers, _ = await call(mw)
        assert headers["ratelimit-policy"] == '"roll";q=3;w=1'
        remaining = int(headers["ratelimit"].split("r=")[1].split(";")[0])
        assert 0 <= remaining <= 2
        if status == 429:
            assert int(headers["retry-after"]) >= 1  # never zero or negative while limited
            break
        allowed += 1
    assert 1 <= allowed <= 3  # a window may roll mid-burst for the approximate strategies
    # the window rolls: capacity comes back, within the advertised time (+ slack)
    deadline = time.monotonic() + 3
    while (await call(mw))[0] == 429:
        assert time.monotonic() < deadline, "capacity never came back"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_all_limits_must_pass_and_denials_consume_nothing(
    limiter: RateLimiter, strategy: str
) -> None:
    rule = Rule("multi", "5/hour;2/day", strategy=strategy)  # type: ignore[arg-type]
    decisions = [await limiter.hit(rule, "client") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, False, False]
    hour, day = decisions[-1].states
    assert (hour.remaining, day.remaining) == (3, 0)  # the denials took nothing from the hour
    assert day.retry_after > 0 and hour.retry_after == 0
    assert decisions[-1].retry_after >= 1


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_cost_and_separate_identities(limiter: RateLimiter, strategy: str) -> None:
    rule = Rule("cost", "10/hour", strategy=strategy)  # type: ignore[arg-type]
    assert (await limiter.hit(rule, "a", 7)).allowed
    assert not (await limiter.hit(rule, "a", 4)).allowed
    assert (await limiter.hit(rule, "a", 3)).allowed
    assert (await limiter.hit(rule, "b{x}", 10)).allowed  # braces in an identity are escaped
    assert not (await limiter.hit(rule, "b{x}", 1)).allowed
    assert not (await limiter.hit(rule, "a", 11)).allowed  # above the amount: never fits


async def test_concurrent_callers_in_one_process_admit_exactly(limiter: RateLimiter) -> None:
    supported = getattr(limiter.store, "strategies", "fmsg")
    for strategy in ("fixed-window", "moving-window", "gcra"):
        if strategy[0] not in supported:
            continue
        rule = Rule(f"exact-{strategy}", "50/hour", strategy=strategy)  # type: ignore[arg-type]
        decisions = await asyncio.gather(*(limiter.hit(rule, "c") for _ in range(200)))
        assert sum(d.allowed for d in decisions) == 50, strategy


async def test_acquire_waits_for_capacity_within_max_wait(limiter: RateLimiter) -> None:
    from mediz_infra.ratelimit import RateLimitExceeded

    rule = Rule("acq", "10/second", strategy="moving-window")
    await limiter.acquire(rule, "fanout", cost=10)
    began = time.monotonic()
    decision = await limiter.acquire(rule, "fanout", max_wait=3.0)  # waits for the window
    assert decision.allowed and time.monotonic() - began < 3.0
    once = Rule("acq-h", "1/hour", strategy="fixed-window")
    await limiter.acquire(once, "once")
    with pytest.raises(RateLimitExceeded):
        await limiter.acquire(once, "once", max_wait=0.2)


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_acquire_refuses_a_cost_no_wait_can_fit(limiter: RateLimiter, strategy: str) -> None:
    from mediz_infra.errors import ConfigError

    rule = Rule("big", "10/second;3/hour", strategy=strategy)  # type: ignore[arg-type]
    calls = 0
    decide = limiter.store.decide

    async def counting(*args: object) -> list[int]:
        nonlocal calls
        calls += 1
        return await decide(*args)  # type: ignore[arg-type]

    limiter.store.decide = counting  # type: ignore[method-assign]
    with pytest.raises(ConfigError, match="'3/1 hour'") as caught:
        await limiter.acquire(rule, "k", cost=4, max_wait=30)  # at once, not after 30 s
    assert caught.value.field == "cost" and calls == 0
    assert (await limiter.acquire(rule, "k", cost=3, max_wait=0)).allowed
    if strategy == "gcra":  # GCRA's capacity is its burst
        bursty = Rule("bursty", "10/hour", burst=2)
        with pytest.raises(ConfigError, match="burst of 2"):
            await limiter.acquire(bursty, "k", cost=3)


async def test_gcra_refusal_keeps_each_allowing_limits_reset(limiter: RateLimiter) -> None:
    """A refused request consumes nothing: the limit that would have allowed keeps its `t`."""
    if "g" not in getattr(limiter.store, "strategies", "g"):
        pytest.skip("no GCRA on this store")
    rule = Rule("two", "3/minute;5/hour")
    decisions = [await limiter.hit(rule, "client") for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    hours = [d.states[1] for d in decisions[2:]]
    assert [h.remaining for h in hours] == [2, 2, 2]
    # the hour's reset after the 3rd request is 3 emission intervals (2160 s) away; the refusals
    # wrote nothing, so it may only shrink as the clock moves, never grow by another 720 s
    assert 2100 < hours[0].reset <= 2160
    assert hours[0].reset >= hours[1].reset >= hours[2].reset > 2100


async def test_gcra_counts_every_hit_at_a_billion_a_minute(limiter: RateLimiter) -> None:
    """A float TAT lost the 60 ns interval next to the timestamp: every hit said r=amount."""
    if "g" not in getattr(limiter.store, "strategies", "g"):
        pytest.skip("no GCRA on this store")
    rule = Rule("fast", "1000000000/minute")
    remaining = [(await limiter.hit(rule, "c")).states[0].remaining for _ in range(1000)]
    # the clock refills a unit every 60 ns, faster than hits arrive, but never above the burst
    assert max(remaining) == 1_000_000_000 - 1


async def test_gcra_long_windows_count_in_microseconds(limiter: RateLimiter) -> None:
    if "g" not in getattr(limiter.store, "strategies", "g"):
        pytest.skip("no GCRA on this store")
    rule = Rule("yearly", "4/year;2/month")
    decisions = [await limiter.hit(rule, "c") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    year, month = decisions[-1].states
    assert year.remaining == 2 and month.remaining == 0
    half_month, two_quarters = month.limit.window / 2, year.limit.window / 2
    assert half_month - 60 < month.retry_after <= half_month  # one interval away
    assert two_quarters - 60 < year.reset <= two_quarters  # two intervals of debt, to the ms


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_cost_of_thousands_is_counted(limiter: RateLimiter, strategy: str) -> None:
    """The moving window writes one entry per unit: thousands at once must not break the script."""
    rule = Rule("bulk", "9000/hour", strategy=strategy)  # type: ignore[arg-type]
    first = await limiter.hit(rule, "c", 4500)
    assert first.allowed and first.states[0].remaining == 4500
    assert (await limiter.hit(rule, "c", 4500)).allowed
    last = await limiter.hit(rule, "c", 1)
    assert not last.allowed and last.states[0].remaining == 0
