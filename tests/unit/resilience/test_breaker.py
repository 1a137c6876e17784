"""The circuit breaker's transitions, judged with an injected clock (no sleeping)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from mediz_infra import ConfigError
from mediz_infra.resilience import CircuitBreaker, CircuitOpen, CountWindow, TimeWindow

from ._clock import FakeClock


class Boom(Exception):
    pass


async def ok() -> str:
    return "ok"


async def boom() -> str:
    raise Boom("upstream failed")


async def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Boom):
            await breaker.call(boom)


def make(clock: FakeClock, **options: Any) -> CircuitBreaker:
    options = {"minimum_calls": 4, "window": CountWindow(10), "open_for": 30.0, **options}
    return CircuitBreaker("upstream", clock=clock, **options)


async def test_opens_when_the_failure_rate_is_reached_after_the_minimum_calls() -> None:
    clock = FakeClock()
    breaker = make(clock, failure_rate=0.5)
    await fail(breaker, 3)  # 3 of 3 failed, but fewer than minimum_calls: still closed
    assert breaker.state == "closed"
    assert await breaker.call(ok) == "ok"  # 3 of 4 failed: no failure, no judgement
    assert breaker.state == "closed"
    await fail(breaker, 1)  # 4 of 5 >= 50 %
    assert breaker.state == "open"
    assert breaker.retry_at == clock.now + 30.0


async def test_a_rate_below_the_threshold_keeps_it_closed() -> None:
    breaker = make(FakeClock(), failure_rate=0.5, window=CountWindow(6))
    for _ in range(10):  # ok, ok, fail, ...: a third failed
        await breaker.call(ok)
        await breaker.call(ok)
        await fail(breaker, 1)
    assert breaker.state == "closed"
    assert breaker.totals() == (6, 2, 0)


async def test_open_refuses_without_calling_and_says_when_to_retry() -> None:
    clock = FakeClock()
    breaker = make(clock)
    await fail(breaker, 4)
    called = False

    async def spy() -> None:
        nonlocal called
        called = True

    clock.advance(10.0)
    with pytest.raises(CircuitOpen) as refused:
        await breaker.call(spy)
    assert not called
    assert refused.value.retry_at == pytest.approx(1000.0 + 30.0)
    assert refused.value.retry_after == pytest.approx(20.0)
    assert refused.value.breaker == "upstream"
    assert "upstream" in str(refused.value)


async def test_each_refusal_is_a_fresh_exception() -> None:
    breaker = make(FakeClock())
    await fail(breaker, 4)
    seen = []
    for _ in range(3):
        with pytest.raises(CircuitOpen) as refused:
            await breaker.call(ok)
        seen.append(refused.value)
    assert len({id(e) for e in seen}) == 3
    assert all(e.__traceback__ is not None for e in seen)
    gc.collect()


async def test_half_open_after_open_for_then_closes_after_the_trials_succeed() -> None:
    clock = FakeClock()
    breaker = make(clock, half_open_calls=2)
    await fail(breaker, 4)
    clock.advance(30.0)
    assert await breaker.call(ok) == "ok"
    assert breaker.state == "half_open"
    assert await breaker.call(ok) == "ok"
    assert breaker.state == "closed"
    assert breaker.totals() == (0, 0, 0)


async def test_a_failed_trial_opens_again_for_another_open_for() -> None:
    clock = FakeClock()
    breaker = make(clock, half_open_calls=3)
    await fail(breaker, 4)
    clock.advance(31.0)
    await breaker.call(ok)
    await fail(breaker, 1)
    assert breaker.state == "open"
    assert breaker.retry_at == clock.now + 30.0


async def test_half_open_admits_exactly_the_trial_calls_of_50_concurrent_callers() -> None:
    clock = FakeClock()
    breaker = make(clock, half_open_calls=3)
    await fail(breaker, 4)
    clock.advance(30.0)
    release = asyncio.Event()
    entered = 0

    async def slow() -> str:
        nonlocal entered
        entered += 1
        await release.wait()
        return "ok"

    async def caller() -> str:
        try:
            return await breaker.call(slow)
        except CircuitOpen as exc:
            return f"refused while {exc.state}"

    tasks = [asyncio.create_task(caller()) for _ in range(50)]
    await asyncio.sleep(0)  # every caller has either entered or been refused
    assert entered == 3
    release.set()
    results = await asyncio.gather(*tasks)
    assert results.count("ok") == 3
    assert results.count("refused while half_open") == 47
    assert breaker.state == "closed"


async def test_slow_calls_open_the_breaker() -> None:
    clock = FakeClock()
    breaker = make(clock, slow_call_duration=1.0, slow_call_rate=0.5)

    async def slow() -> str:
        clock.advance(2.0)
        return "late"

    for _ in range(4):
        assert await breaker.call(slow) == "late"
    assert breaker.state == "open"


async def test_a_time_window_forgets_old_failures() -> None:
    clock = FakeClock()
    breaker = make(clock, window=TimeWindow(10.0, buckets=10), minimum_calls=4)
    await fail(breaker, 3)
    clock.advance(11.0)  # those three are out of the window
    await fail(breaker, 1)
    await breaker.call(ok)
    assert breaker.totals() == (2, 1, 0)
    assert breaker.state == "closed"
    await fail(breaker, 2)  # 3 of 4 in the last 10 s
    assert breaker.state == "open"


async def test_ignored_exceptions_count_as_nothing_and_unrecorded_ones_as_success() -> None:
    class NotFound(Exception):
        pass

    async def missing() -> None:
        raise NotFound

    async def bad_input() -> None:
        raise ValueError("the caller's own mistake")

    breaker = make(FakeClock(), ignore=[NotFound], record=[Boom])
    for _ in range(10):
        with pytest.raises(NotFound):
            await breaker.call(missing)
    assert breaker.totals() == (0, 0, 0)
    with pytest.raises(ValueError, match="own mistake"):
        await breaker.call(bad_input)
    assert breaker.totals() == (1, 0, 0)


async def test_cancellation_is_never_a_failure_and_gives_a_trial_slot_back() -> None:
    clock = FakeClock()
    breaker = make(clock, minimum_calls=1, failure_rate=1.0)
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.call(hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.totals() == (0, 0, 0)
    assert breaker.state == "closed"

    await fail(breaker, 1)
    clock.advance(30.0)
    started.clear()
    task = asyncio.create_task(breaker.call(hang))
    await started.wait()
    assert breaker.state == "half_open"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await breaker.call(ok) == "ok"  # the slot came back
    assert breaker.state == "closed"


async def test_an_outcome_of_an_older_state_changes_nothing() -> None:
    clock = FakeClock()
    breaker = make(clock, minimum_calls=1, failure_rate=1.0)
    release = asyncio.Event()

    async def late_failure() -> None:
        await release.wait()
        raise Boom

    task = asyncio.create_task(breaker.call(late_failure))
    await asyncio.sleep(0)
    breaker.force_open(5.0)
    clock.advance(5.0)
    assert await breaker.call(ok) == "ok"
    assert breaker.state == "closed"
    release.set()
    with pytest.raises(Boom):
        await task
    assert breaker.state == "closed"  # the failure started before the breaker opened


async def test_listeners_see_every_transition_and_their_errors_are_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    seen: list[tuple[str, str]] = []

    def broken(breaker: CircuitBreaker, old: str, new: str) -> None:
        raise RuntimeError("listener bug")

    breaker = make(clock, listeners=[broken])
    breaker.add_listener(lambda b, old, new: seen.append((old, new)))
    await fail(breaker, 4)
    clock.advance(30.0)
    await breaker.call(ok)
    assert seen == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert caplog.text.count("listener failed") == 3


async def test_fallback_answers_refused_calls() -> None:
    clock = FakeClock()

    async def cached(refused: CircuitOpen) -> str:
        return f"cached until {refused.retry_at:g}"

    breaker = make(clock, fallback=cached)
    await fail(breaker, 4)
    assert await breaker.call(ok) == "cached until 1030"


async def test_decorator_and_reset() -> None:
    breaker = make(FakeClock())

    @breaker
    async def fetch(x: int) -> int:
        if x < 0:
            raise Boom
        return x * 2

    assert await fetch(2) == 4
    assert fetch.breaker is breaker  # type: ignore[attr-defined]
    for _ in range(3):  # 3 of 4 failed
        with pytest.raises(Boom):
            await fetch(-1)
    assert breaker.state == "open"
    breaker.reset()
    assert breaker.state == "closed"
    assert await fetch(3) == 6


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"failure_rate": 0}, "failure_rate"),
        ({"failure_rate": 1.5}, "failure_rate"),
        ({"failure_rate": -0.1}, "failure_rate"),
        ({"failure_rate": float("nan")}, "failure_rate"),
        ({"slow_call_rate": 2}, "slow_call_rate"),
        ({"minimum_calls": 0}, "minimum_calls"),
        ({"minimum_calls": -3}, "minimum_calls"),
        ({"half_open_calls": 0}, "half_open_calls"),
        ({"open_for": 0}, "open_for"),
        ({"open_for": -1.0}, "open_for"),
        ({"slow_call_duration": 0}, "slow_call_duration"),
        ({"record": ["nope"]}, "record"),
        ({"ignore": [int]}, "ignore"),
        ({"window": 10}, "window"),
    ],
)
def test_invalid_settings_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        CircuitBreaker("x", **options)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: CountWindow(0), "window.size"),
        (lambda: TimeWindow(0), "window.seconds"),
        (lambda: TimeWindow(-5.0), "window.seconds"),
        (lambda: TimeWindow(10, buckets=0), "window.buckets"),
    ],
)
def test_invalid_windows_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        build()
    assert error.value.field == field
