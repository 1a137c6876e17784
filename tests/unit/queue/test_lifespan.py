"""``Queue.lifespan``: what a worker opens before its first job and closes after its last."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from mediz_infra.queue import Queue, Worker


def recording_queue() -> tuple[Queue, list[str]]:
    queue = Queue("life", "memory://")
    steps: list[str] = []

    @queue.lifespan
    async def pool() -> AsyncIterator[None]:
        steps.append("open pool")
        try:
            yield
        finally:
            steps.append("close pool")

    @asynccontextmanager
    async def _tracker() -> AsyncIterator[str]:
        steps.append("open tracker")
        try:
            yield "tracker"
        finally:
            steps.append("flush tracker")

    def tracker() -> AbstractAsyncContextManager[str]:  # a factory, not a generator
        return _tracker()

    assert queue.lifespan(tracker) is tracker  # returned as given: usable as a decorator

    @queue.task(name="work")
    async def work(n: int) -> int:
        steps.append(f"job {n}")
        return n

    return queue, steps


async def test_a_burst_runs_inside_the_lifespans_opened_in_order_closed_in_reverse() -> None:
    queue, steps = recording_queue()
    await queue.tasks["work"].enqueue_many([(1,), (2,)])
    stats = await Worker(queue).run_burst()
    assert stats.completed == 2
    assert steps[:2] == ["open pool", "open tracker"]
    assert sorted(steps[2:4]) == ["job 1", "job 2"]
    assert steps[4:] == ["flush tracker", "close pool"]


async def test_run_leaves_the_lifespans_once_after_the_running_job_ended() -> None:
    queue, steps = recording_queue()
    release = asyncio.Event()
    started = asyncio.Event()

    @queue.task(name="slow")
    async def slow() -> None:
        steps.append("slow started")
        started.set()
        await release.wait()
        steps.append("slow ended")

    await slow.enqueue()
    worker = Worker(queue, grace=60, poll=0.05)
    running = asyncio.create_task(worker.run())
    await started.wait()
    worker.stop()
    for _ in range(20):  # the worker is stopping; the job holds the lifespans open
        await asyncio.sleep(0)
    assert steps == ["open pool", "open tracker", "slow started"]
    release.set()
    stats = await running
    assert stats.completed == 1
    assert steps[3:] == ["slow ended", "flush tracker", "close pool"]


async def test_a_failing_startup_runs_no_job_and_closes_what_it_opened() -> None:
    queue, steps = recording_queue()

    @queue.lifespan
    async def broken() -> AsyncIterator[None]:
        raise ConnectionError("cannot open the store")
        yield  # pragma: no cover - an async generator that fails before its yield

    job = await queue.tasks["work"].enqueue(1)
    with pytest.raises(ConnectionError, match="cannot open the store"):
        await Worker(queue).run()
    assert steps == ["open pool", "open tracker", "flush tracker", "close pool"]
    assert await job.status() == "waiting"


async def test_a_shutdown_that_raises_is_raised_by_run_after_the_jobs() -> None:
    queue, steps = recording_queue()

    @queue.lifespan
    async def flaky() -> AsyncIterator[None]:
        yield
        raise ConnectionError("cannot flush")

    await queue.tasks["work"].enqueue(1)
    worker = Worker(queue, poll=0.05)

    async def stop_after_the_job() -> None:
        while worker.stats.completed < 1:  # noqa: ASYNC110 - the worker's own counter
            await asyncio.sleep(0.01)
        worker.stop()

    stopper = asyncio.create_task(stop_after_the_job())
    with pytest.raises(ConnectionError, match="cannot flush"):
        await worker.run()
    await stopper
    assert steps == ["open pool", "open tracker", "job 1", "flush tracker", "close pool"]
