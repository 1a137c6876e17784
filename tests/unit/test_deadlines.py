"""The shared deadline timer: expiry, early finish, foreign cancellation."""

from __future__ import annotations

import asyncio

import pytest

from mediz_infra._deadlines import Deadlines


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


async def test_waiters_time_out_never_early_and_at_most_a_tick_late() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(tick=0.05)
    never = asyncio.Event()
    started = loop.time()
    budgets = [0.05, 0.06, 0.2, 0.01]
    tasks = [asyncio.create_task(_wait(deadlines, b, never)) for b in budgets]
    ends = []
    for task in tasks:
        assert await task == "timeout"
        ends.append(loop.time() - started)
    for budget, end in zip(budgets, ends, strict=True):
        assert end >= budget - 0.002
    assert max(end - b for b, end in zip(budgets, ends, strict=True)) < deadlines.tick + 0.2


async def test_default_timeout_and_finished_waiter_never_cancelled() -> None:
    deadlines = Deadlines(0.01)
    ready = asyncio.Event()
    ready.set()
    assert await _wait(deadlines, None, ready) == "done"
    await asyncio.sleep(0.05)  # the timer fires with nothing left to cancel
    assert not deadlines._due and not deadlines._expired
    assert await _wait(deadlines, None, asyncio.Event()) == "timeout"


async def test_foreign_cancel_stays_a_cancel() -> None:
    deadlines = Deadlines()
    task = asyncio.create_task(_wait(deadlines, 10, asyncio.Event()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancel_arriving_with_the_deadline_propagates() -> None:
    deadlines = Deadlines(tick=0.01)
    task = asyncio.create_task(_wait(deadlines, 0.02, asyncio.Event()))
    await asyncio.sleep(0.015)
    task.cancel()  # the caller's own cancel, around the time the deadline fires
    with pytest.raises(asyncio.CancelledError):
        await task
