"""Retry: what is retried, how long it waits, when it stops; time is injected, never slept."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest

from mediz_infra import ConfigError
from mediz_infra.resilience import (
    BulkheadFull,
    CallTimeout,
    CircuitOpen,
    Retry,
    RetryBudget,
    UpstreamError,
    retryable,
)

from ._clock import FakeClock


class Sleeper:
    """An injected sleep: records each wait and moves the fake clock by it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def policy(clock: FakeClock, sleeper: Sleeper, **options: Any) -> Retry:
    return Retry(clock=clock, sleep=sleeper, **options)


class Script:
    """A function failing with the scripted errors, in order, then returning "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def upstream(status: int | None, retry_after: float | None = None) -> UpstreamError:
    return UpstreamError("http://hook", status, retry_after=retry_after, reason="refused")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (CallTimeout("x", 1.0), True),
        (upstream(None), True),
        (upstream(429), True),
        (upstream(502), True),
        (upstream(503), True),
        (upstream(504), True),
        (upstream(500), False),
        (upstream(400), False),
        (upstream(404), False),
        (upstream(409), False),
        (CircuitOpen("b", "open", 1.0, 1.0), False),
        (BulkheadFull("b", max_concurrent=1, max_queued=0, timeout=0.0), False),
        (asyncio.CancelledError(), False),
        (ValueError(), False),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (
            httpx.HTTPStatusError(
                "503",
                request=httpx.Request("GET", "http://x"),
                response=httpx.Response(503),
            ),
            True,
        ),
        (
            httpx.HTTPStatusError(
                "400",
                request=httpx.Request("GET", "http://x"),
                response=httpx.Response(400),
            ),
            False,
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_classification(error: BaseException, expected: bool) -> None:
    assert retryable(error) is expected


async def test_retries_retryable_errors_until_success() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    fn = Script(upstream(503), ConnectionResetError())
    assert await policy(clock, sleeper, attempts=3).call(fn) == "ok"
    assert fn.calls == 3
    assert len(sleeper.waits) == 2


async def test_gives_up_after_the_attempts_with_the_last_error() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    fn = Script(upstream(502), upstream(503), upstream(504), upstream(503))
    with pytest.raises(UpstreamError) as error:
        await policy(clock, sleeper, attempts=3).call(fn)
    assert error.value.status == 504
    assert fn.calls == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 500])
async def test_never_retries_other_statuses(status: int) -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    fn = Script(upstream(status))
    with pytest.raises(UpstreamError):
        await policy(clock, sleeper, attempts=5).call(fn)
    assert fn.calls == 1
    assert sleeper.waits == []


async def test_never_retries_a_refusal_or_a_cancellation() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    for error in (CircuitOpen("b", "open", 1.0, 1.0), asyncio.CancelledError()):
        fn = Script(error)
        with pytest.raises(type(error)):
            await policy(clock, sleeper, attempts=5).call(fn)
        assert fn.calls == 1


async def test_a_cancellation_during_the_retries_is_not_retried() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    fn = Script(upstream(503), asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await policy(clock, sleeper, attempts=5).call(fn)
    assert fn.calls == 2


async def test_full_jitter_stays_in_the_exponential_window() -> None:
    random.seed(7)
    clock = FakeClock()
    sleeper = Sleeper(clock)
    fn = Script(*[TimeoutError() for _ in range(6)])
    await policy(clock, sleeper, attempts=7, base=0.1, max_wait=1.0).call(fn)
    windows = [min(1.0, 0.1 * 2**n) for n in range(6)]
    assert len(sleeper.waits) == 6
    assert all(0 <= w <= high for w, high in zip(sleeper.waits, windows, strict=True))
    assert len(set(sleeper.waits)) == 6  # jittered, not fixed


async def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    fn = Script(upstream(429, retry_after=7.0))
    assert await policy(clock, sleeper, attempts=3, max_wait=1.0).call(fn) == "ok"
    assert sleeper.waits == [7.0]


async def test_retry_after_past_the_deadline_fails_at_once() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    fn = Script(upstream(503, retry_after=30.0))
    with pytest.raises(UpstreamError):
        await policy(clock, sleeper, attempts=3, deadline=10.0).call(fn)
    assert fn.calls == 1 and sleeper.waits == []


async def test_retry_after_above_max_retry_after_fails_at_once() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    fn = Script(upstream(503, retry_after=3600.0))
    with pytest.raises(UpstreamError):
        await policy(clock, sleeper, attempts=3, max_retry_after=60).call(fn)
    assert fn.calls == 1


async def test_the_deadline_stops_waits_that_would_end_past_it() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    calls = 0

    async def slow_failure() -> None:
        nonlocal calls
        calls += 1
        clock.advance(4.0)  # each attempt takes 4 s of the 10 s deadline
        raise upstream(503, retry_after=1.0)  # and asks for 1 s between attempts

    retry = policy(clock, sleeper, attempts=10, base=0.1, max_wait=0.1, deadline=10.0)
    with pytest.raises(UpstreamError):
        await retry.call(slow_failure)
    # 0-4 s attempt, 4-5 s wait, 5-9 s attempt; a wait to 10 s would leave no time: stop
    assert calls == 2
    assert sleeper.waits == [1.0]
    assert clock.now - 1000.0 == 9.0


async def test_no_attempt_runs_past_the_deadline() -> None:
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()

    with pytest.raises(CallTimeout, match="deadline"):
        await Retry(attempts=1000, base=0.001, max_wait=0.001, deadline=0.05).call(hangs)
    assert calls == 1  # the one attempt was cut at the deadline; nothing was left for more


async def test_each_attempt_is_bounded_by_the_attempt_timeout() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    calls = 0

    async def hangs_then_answers() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            await asyncio.Event().wait()
        return "ok"

    retry = policy(clock, sleeper, attempts=3, attempt_timeout=0.01)
    assert await retry.call(hangs_then_answers) == "ok"
    assert calls == 3


async def test_the_attempt_timeout_error_names_the_policy() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)

    async def hangs() -> None:
        await asyncio.Event().wait()

    with pytest.raises(CallTimeout, match="webhook"):
        await policy(clock, sleeper, attempts=2, attempt_timeout=0.01, name="webhook").call(hangs)


async def test_concurrent_calls_share_no_attempt_state() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    retry = policy(clock, sleeper, attempts=3)
    gate = asyncio.Event()

    def make(errors: int) -> Script:
        return Script(*[ConnectionResetError() for _ in range(errors)])

    async def run(fn: Script) -> str:
        await gate.wait()
        return await retry.call(fn)

    scripts = [make(i % 3) for i in range(30)]
    tasks = [asyncio.create_task(run(s)) for s in scripts]
    gate.set()
    assert await asyncio.gather(*tasks) == ["ok"] * 30
    assert [s.calls for s in scripts] == [i % 3 + 1 for i in range(30)]


async def test_the_budget_limits_retries_to_a_share_of_calls() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    budget = RetryBudget(0.2, seconds=10.0, minimum=0, clock=clock)
    retry = policy(clock, sleeper, attempts=3, budget=budget)
    ok_calls = [retry.call(Script()) for _ in range(10)]
    await asyncio.gather(*ok_calls)
    attempts = 0
    for _ in range(10):
        fn = Script(ConnectionResetError(), ConnectionResetError(), ConnectionResetError())
        with pytest.raises(ConnectionResetError):
            await retry.call(fn)
        attempts += fn.calls
    calls, retries = budget.totals()
    assert calls == 20
    assert retries <= 0.2 * 20
    assert attempts - 10 == retries  # every retry made was taken from the budget
    clock.advance(11.0)  # the window has passed: the budget is whole again
    assert budget.totals() == (0, 0)


async def test_decorator() -> None:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    fn = Script(TimeoutError())

    @policy(clock, sleeper, attempts=2)
    async def fetch() -> str:
        return await fn()

    assert await fetch() == "ok"
    assert fetch.retry.attempts == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"attempts": 0}, "attempts"),
        ({"base": 0}, "base"),
        ({"max_wait": -1}, "max_wait"),
        ({"attempt_timeout": 0}, "attempt_timeout"),
        ({"deadline": float("nan")}, "deadline"),
        ({"retry_on": 3}, "retry_on"),
        ({"budget": 0.2}, "budget"),
        ({"max_retry_after": -5}, "max_retry_after"),
    ],
)
def test_invalid_settings_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        Retry(**options)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"ratio": 0}, "budget.ratio"),
        ({"seconds": 0}, "budget.seconds"),
        ({"minimum": -1}, "budget.minimum"),
    ],
)
def test_invalid_budget_names_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        RetryBudget(**options)
    assert error.value.field == field
