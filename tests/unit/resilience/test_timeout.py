"""The timeout: cancels the call, raises CallTimeout; other errors pass unchanged."""

from __future__ import annotations

import asyncio

import pytest

from mediz_infra import ConfigError
from mediz_infra.resilience import CallTimeout, Timeout, timeout


async def test_a_call_over_the_limit_is_cancelled_and_named() -> None:
    cancelled = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(CallTimeout) as error:
        await Timeout(0.01).call(hang)
    assert cancelled.is_set()
    assert isinstance(error.value, TimeoutError)
    assert error.value.timeout == 0.01
    assert "hang" in str(error.value)


async def test_the_calls_own_timeout_error_is_not_relabelled() -> None:
    async def inner_timeout() -> None:
        raise TimeoutError("the driver's own")

    with pytest.raises(TimeoutError, match="the driver's own") as error:
        await Timeout(60).call(inner_timeout)
    assert not isinstance(error.value, CallTimeout)


async def test_decorator_returns_the_result() -> None:
    @timeout(60, name="fetch")
    async def fetch(x: int) -> int:
        return x + 1

    assert await fetch(1) == 2
    assert fetch.timeout.seconds == 60  # type: ignore[attr-defined]


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), True])
def test_invalid_seconds_name_the_field(seconds: float) -> None:
    with pytest.raises(ConfigError) as error:
        Timeout(seconds)
    assert error.value.field == "timeout"
