"""The shared acquire deadline timer: expiry, early finish and foreign cancellation."""

from __future__ import annotations

import asyncio

import pytest

from mediz_infra.backends._pgwait import TICK, Deadlines


async def _wait(deadlines: Deadlines, budget: float, forever: asyncio.Event) -> str:
    task = asyncio.current_task()
    assert task is not None
    deadlines.add(task, budget)
    try:
        await forever.wait()
        return "done"
    except asyncio.CancelledError:
        if deadlines.expired(task) and task.uncancel() == 0:
            return "timeout"
        raise
    finally:
        deadlines.discard(task)


async def test_waiters_time_out_never_early_and_at_most_a_tick_late() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
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
    assert max(end - b for b, end in zip(budgets, ends, strict=True)) < TICK + 0.2


async def test_finished_waiter_is_never_cancelled() -> None:
    deadlines = Deadlines(asyncio.get_running_loop())
    ready = asyncio.Event()
    ready.set()
    assert await _wait(deadlines, 0.01, ready) == "done"
    await asyncio.sleep(0.05)  # the timer fires with nothing left to cancel
    assert not deadlines._due and not deadlines._expired


async def test_foreign_cancel_stays_a_cancel() -> None:
    deadlines = Deadlines(asyncio.get_running_loop())
    task = asyncio.create_task(_wait(deadlines, 10, asyncio.Event()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
