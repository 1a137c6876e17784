"""Settle pipelining on the Redis broker: settles that end in one event-loop turn go out in one
pipeline, and each is still its own fenced script call."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.queue import Queue, RedisBroker, Worker

pytestmark = pytest.mark.integration


async def test_a_busy_worker_settles_every_job_once(redis_url: str) -> None:
    client = create_redis(redis_url)
    queue = Queue(f"sb{uuid.uuid4().hex[:8]}", client, prefix="test-sb")
    ran: list[int] = []

    @queue.task(retries=0)
    async def job(n: int) -> int:
        ran.append(n)
        return n

    try:
        await job.enqueue_many([(i,) for i in range(300)])
        stats = await asyncio.wait_for(Worker(queue, concurrency=50).run_burst(), 60)
        counts = await queue.counts()
        assert sorted(ran) == list(range(300))
        assert stats.completed == counts["completed"] == counts["complete"] == 300
        assert counts.get("stale_refused", 0) == 0
        assert counts["active"] == counts["waiting"] == 0
    finally:
        await client.delete(*[k async for k in client.scan_iter(match="test-sb:*")] or ["-"])
        await client.aclose()


async def test_batched_settles_are_fenced_and_survive_a_script_flush(throwaway_redis: Any) -> None:
    """One batch mixes a current lease, a stale token and (after ``SCRIPT FLUSH``, on a server
    of its own: it is server-wide) a script the server no longer has."""
    client = create_redis(throwaway_redis.url)
    queue = Queue("sbf", client, prefix="t")

    @queue.task(retries=0)
    async def job(n: int) -> None:
        return None

    broker = queue.broker
    assert isinstance(broker, RedisBroker)
    try:
        await job.enqueue_many([(i,) for i in range(4)])
        leases = await broker.fetch(4, 30.0, 1_800_000_000.0, 5)
        assert len(leases) == 4
        await client.script_flush()
        results = await asyncio.gather(
            *(
                broker.settle(
                    lease.id,
                    lease.token + (1 if i == 0 else 0),  # the first one holds a stale token
                    "complete",
                    1_800_000_001.0,
                    result="null",
                )
                for i, lease in enumerate(leases)
            )
        )
        assert results == [False, True, True, True]
        counts = await queue.counts()
        assert counts["completed"] == 3
        assert counts["stale_refused"] == 1
        # the refused one is still leased to its worker and can be settled with its own token
        assert await broker.settle(leases[0].id, leases[0].token, "complete", 1_800_000_002.0)
    finally:
        await client.aclose()
