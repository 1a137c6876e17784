"""The shared deadline timer: expiry, early finish, foreign cancellation.

Timing tests run on an event loop with a virtual clock: when nothing is ready, the loop jumps to
its next timer instead of waiting, so "never early, at most a tick late" is checked exactly and
a busy machine cannot make a test fail (or pass) by stalling it.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mediz_infra._deadlines import Deadlines


class _VirtualSelector(selectors.DefaultSelector):
    """Never sleeps for a timer: a wait with nothing ready advances ``now`` by its timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:  # no timer at all: only I/O can wake the loop
            return super().select(None)
        events = super().select(0)
        if not events and timeout > 0:
            self.now += timeout
        return events


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.virtual = _VirtualSelector()
        super().__init__(self.virtual)

    def time(self) -> float:
        return self.virtual.now


def _run_virtual(main: Callable[[], Awaitable[None]]) -> None:
    loop = _VirtualLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


async def _wait(deadlines: Deadlines, budget: float | None, until: asyncio.Event) -> str:
    task = deadlines.enter(budget)
    try:
        await until.wait()
        return "done"
    except asyncio.CancelledError:
        if deadlines.expired(task):
            return "timeout"
        raise
    finally:
        deadlines.leave(task)


def test_waiters_time_out_never_early_and_at_most_a_tick_late() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(tick=0.05)
        never = asyncio.Event()
        started = loop.time()
        budgets = [0.05, 0.06, 0.2, 0.01]
        ends: dict[float, float] = {}

        async def one(budget: float) -> None:
            assert await _wait(deadlines, budget, never) == "timeout"
            ends[budget] = loop.time() - started

        await asyncio.gather(*(one(b) for b in budgets))
        for budget in budgets:
            # deadlines within 1 ms of a wake-up are served by it; none later than a tick
            assert budget - 0.001 <= ends[budget] <= budget + deadlines.tick + 1e-9, budget
        assert ends[0.06] == pytest.approx(0.1)  # re-armed a tick after the 0.05 wake-up

    _run_virtual(main)


def test_default_timeout_and_finished_waiter_never_cancelled() -> None:
    async def main() -> None:
        deadlines = Deadlines(0.01)
        ready = asyncio.Event()
        ready.set()
        assert await _wait(deadlines, None, ready) == "done"
        await asyncio.sleep(0.05)  # the timer fires with nothing left to cancel
        assert not deadlines._due and not deadlines._expired
        assert await _wait(deadlines, None, asyncio.Event()) == "timeout"

    _run_virtual(main)


async def test_foreign_cancel_stays_a_cancel() -> None:
    deadlines = Deadlines()
    task = asyncio.create_task(_wait(deadlines, 10, asyncio.Event()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("offset", [-0.001, 0.0])
def test_cancel_arriving_with_the_deadline_propagates(offset: float) -> None:
    """The caller's own cancel, just before or at the very moment of the deadline's wake-up."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(tick=0.01)
        task = asyncio.create_task(_wait(deadlines, 0.02, asyncio.Event()))
        await asyncio.sleep(0)  # entered: due at now + 0.02 (the virtual clock stood still)
        loop.call_at(loop.time() + 0.02 + offset, task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task

    _run_virtual(main)
