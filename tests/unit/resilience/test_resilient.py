"""@resilient: the policies composed in the documented order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mediz_infra import ConfigError
from mediz_infra.resilience import (
    Bulkhead,
    BulkheadFull,
    CallTimeout,
    CircuitBreaker,
    CircuitOpen,
    Retry,
    resilient,
)

from ._clock import FakeClock


async def no_sleep(seconds: float) -> None:
    return None


async def test_each_attempt_is_judged_by_the_breaker_and_an_open_breaker_stops_the_retries() -> (
    None
):
    clock = FakeClock()
    breaker = CircuitBreaker("up", minimum_calls=3, failure_rate=1.0, clock=clock)
    calls = 0

    @resilient(retry=Retry(attempts=10, sleep=no_sleep), breaker=breaker)
    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError

    with pytest.raises(CircuitOpen):
        await down()
    assert calls == 3  # three attempts opened the breaker; the fourth was refused, not retried
    assert breaker.state == "open"


async def test_the_timeout_bounds_each_attempt_and_counts_as_a_failure() -> None:
    breaker = CircuitBreaker("up", minimum_calls=2, failure_rate=1.0, clock=FakeClock())
    calls = 0

    @resilient(retry=Retry(attempts=2, sleep=no_sleep), breaker=breaker, timeout=0.01)
    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()

    with pytest.raises(CallTimeout):
        await hangs()
    assert calls == 2
    assert breaker.state == "open"


async def test_a_call_holds_one_bulkhead_slot_for_all_its_attempts() -> None:
    bulkhead = Bulkhead(1, max_queued=0)
    seen: list[int] = []
    attempts = 0

    @resilient(retry=Retry(attempts=3, sleep=no_sleep), bulkhead=bulkhead)
    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        seen.append(bulkhead.active)
        if attempts < 3:
            raise ConnectionResetError
        return "ok"

    assert await flaky() == "ok"
    assert seen == [1, 1, 1]
    assert bulkhead.active == 0


async def test_a_full_bulkhead_refuses_before_any_attempt_and_the_breaker_never_sees_it() -> None:
    bulkhead = Bulkhead(1, max_queued=0)
    breaker = CircuitBreaker("up", minimum_calls=1, clock=FakeClock())
    gate = asyncio.Event()

    @resilient(retry=Retry(attempts=3, sleep=no_sleep), breaker=breaker, bulkhead=bulkhead)
    async def held() -> None:
        await gate.wait()

    first = asyncio.create_task(held())
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFull):
        await held()
    gate.set()
    await first
    assert breaker.totals() == (1, 0, 0)  # only the call that ran


async def test_the_fallback_answers_the_final_error_with_the_arguments() -> None:
    async def fallback(error: BaseException, city: str) -> str:
        return f"{city}: cached ({type(error).__name__})"

    @resilient(retry=Retry(attempts=2, sleep=no_sleep), fallback=fallback)
    async def weather(city: str) -> str:
        raise ConnectionRefusedError

    assert await weather("Bonn") == "Bonn: cached (ConnectionRefusedError)"


async def test_the_fallback_never_answers_a_cancellation() -> None:
    answered = False

    async def fallback(error: BaseException) -> None:
        nonlocal answered
        answered = True

    started = asyncio.Event()

    @resilient(fallback=fallback)
    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(hangs())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not answered


async def test_the_wrapper_exposes_its_policies() -> None:
    breaker = CircuitBreaker("up")

    @resilient(breaker=breaker, timeout=2.0)
    async def fetch() -> int:
        return 1

    assert await fetch() == 1
    assert fetch.breaker is breaker  # type: ignore[attr-defined]
    assert fetch.timeout.seconds == 2.0  # type: ignore[attr-defined]
    assert fetch.retry is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"retry": 3}, "retry"),
        ({"breaker": "b"}, "breaker"),
        ({"bulkhead": 10}, "bulkhead"),
        ({"timeout": -1}, "timeout"),
        ({"fallback": "cached"}, "fallback"),
    ],
)
def test_wrong_arguments_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        resilient(**options)
    assert error.value.field == field
