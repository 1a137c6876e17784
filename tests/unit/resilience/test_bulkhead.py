"""The bulkhead: slots, a bounded FIFO queue, a bounded wait, safe under cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mediz_infra import ConfigError
from mediz_infra.resilience import Bulkhead, BulkheadFull


async def test_runs_at_most_max_concurrent_and_queues_in_order() -> None:
    bulkhead = Bulkhead(2, max_queued=3, queue_timeout=60)
    gate = asyncio.Event()
    running = 0
    peak = 0
    order: list[int] = []

    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        order.append(i)
        await gate.wait()
        running -= 1
        return i

    tasks = [asyncio.create_task(bulkhead.call(work, i)) for i in range(5)]
    await asyncio.sleep(0)
    assert bulkhead.active == 2 and bulkhead.waiting == 3
    gate.set()
    assert await asyncio.gather(*tasks) == [0, 1, 2, 3, 4]
    assert peak == 2
    assert order == [0, 1, 2, 3, 4]
    assert bulkhead.active == 0 and bulkhead.waiting == 0


async def test_a_full_queue_refuses_at_once() -> None:
    bulkhead = Bulkhead(1, max_queued=1, queue_timeout=60, name="webhook")
    gate = asyncio.Event()
    first = asyncio.create_task(bulkhead.call(gate.wait))
    second = asyncio.create_task(bulkhead.call(gate.wait))
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFull) as refused:
        await bulkhead.call(gate.wait)
    assert refused.value.timeout == 0.0
    assert "webhook" in str(refused.value) and "1 calls were already queued" in str(refused.value)
    gate.set()
    await asyncio.gather(first, second)


async def test_a_waiter_is_refused_after_the_queue_timeout() -> None:
    bulkhead = Bulkhead(1, max_queued=5, queue_timeout=0.01)
    gate = asyncio.Event()
    holder = asyncio.create_task(bulkhead.call(gate.wait))
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFull) as refused:
        await bulkhead.acquire()
    assert isinstance(refused.value, TimeoutError)
    assert refused.value.timeout == 0.01
    assert bulkhead.waiting == 0
    gate.set()
    await holder
    assert bulkhead.active == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_loses_no_slot() -> None:
    bulkhead = Bulkhead(1, max_queued=5, queue_timeout=60)
    await bulkhead.acquire()
    waiter = asyncio.create_task(bulkhead.acquire())
    await asyncio.sleep(0)
    assert bulkhead.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    bulkhead.release()
    assert bulkhead.active == 0
    await bulkhead.acquire()  # the slot is free again
    assert bulkhead.active == 1


async def test_a_slot_handed_to_a_waiter_cancelled_meanwhile_goes_to_the_next() -> None:
    bulkhead = Bulkhead(1, max_queued=5, queue_timeout=60)
    await bulkhead.acquire()
    first = asyncio.create_task(bulkhead.acquire())
    second = asyncio.create_task(bulkhead.acquire())
    await asyncio.sleep(0)
    bulkhead.release()  # hands the slot to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await second  # got the slot passed on
    assert bulkhead.active == 1
    bulkhead.release()
    assert bulkhead.active == 0


async def test_decorator_and_context_manager() -> None:
    bulkhead = Bulkhead(1)

    @bulkhead
    async def double(x: int) -> int:
        assert bulkhead.active == 1
        return x * 2

    assert await double(4) == 8
    assert double.bulkhead is bulkhead  # type: ignore[attr-defined]
    async with bulkhead:
        assert bulkhead.active == 1
    assert bulkhead.active == 0


@pytest.mark.parametrize(
    ("args", "options", "field"),
    [
        ((0,), {}, "max_concurrent"),
        ((2.5,), {}, "max_concurrent"),
        ((1,), {"max_queued": -1}, "max_queued"),
        ((1,), {"queue_timeout": -1}, "queue_timeout"),
        ((1,), {"queue_timeout": float("inf")}, "queue_timeout"),
    ],
)
def test_invalid_settings_name_the_field(
    args: tuple[Any, ...], options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as error:
        Bulkhead(*args, **options)
    assert error.value.field == field
