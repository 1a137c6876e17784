"""Hedging: a second attempt after the delay, the first answer wins, the loser is cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mediz_infra import ConfigError
from mediz_infra.resilience import Hedge


class Replica:
    """Attempt i answers when its gate opens (or fails with its error)."""

    def __init__(self, n: int) -> None:
        self.gates = [asyncio.Event() for _ in range(n)]
        self.errors: list[BaseException | None] = [None] * n
        self.started = 0
        self.cancelled: list[int] = []
        self.all_started = asyncio.Event()

    async def __call__(self) -> int:
        i = self.started
        self.started += 1
        if self.started == len(self.gates):
            self.all_started.set()
        try:
            await self.gates[i].wait()
        except asyncio.CancelledError:
            self.cancelled.append(i)
            raise
        error = self.errors[i]
        if error is not None:
            raise error
        return i


async def test_a_slow_first_attempt_is_hedged_and_the_loser_cancelled() -> None:
    replica = Replica(2)
    task = asyncio.create_task(Hedge(0.001).call(replica))
    await replica.all_started.wait()  # the delay passed without an answer: a second attempt
    replica.gates[1].set()
    assert await task == 1
    assert replica.cancelled == [0]


async def test_a_fast_answer_starts_no_second_attempt() -> None:
    replica = Replica(2)
    replica.gates[0].set()
    assert await Hedge(60).call(replica) == 0
    assert replica.started == 1


async def test_a_failure_starts_the_next_attempt_at_once_and_all_failing_raises_the_first() -> None:
    replica = Replica(2)
    replica.errors = [ConnectionResetError("first"), ConnectionResetError("second")]
    for gate in replica.gates:
        gate.set()
    with pytest.raises(ConnectionResetError, match="first"):
        await Hedge(60).call(replica)
    assert replica.started == 2


async def test_cancelling_the_caller_cancels_every_attempt() -> None:
    replica = Replica(2)
    task = asyncio.create_task(Hedge(0.001).call(replica))
    await replica.all_started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(replica.cancelled) == [0, 1]


async def test_decorator() -> None:
    @Hedge(60)
    async def answer() -> int:
        return 42

    assert await answer() == 42
    assert answer.hedge.attempts == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "field"),
    [({"delay": -1}, "delay"), ({"delay": 1, "attempts": 0}, "attempts")],
)
def test_invalid_settings_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        Hedge(**options)
    assert error.value.field == field
