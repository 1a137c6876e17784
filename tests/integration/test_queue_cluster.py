"""The queue's dedup keys and rate bucket on a real (one-node) Redis Cluster: the enqueue and
fetch scripts name them under the queue's hash tag, so CROSSSLOT never refuses them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mediz_infra.queue import Debounce, Queue, Throttle, Worker
from tests.integration._cluster import one_node_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
async def cluster_url() -> AsyncIterator[str]:
    async with one_node_cluster() as server:
        yield f"redis+cluster://127.0.0.1:{server.port}"


async def test_dedup_and_the_rate_limit_run_on_a_cluster(cluster_url: str) -> None:
    now = [1_800_000_000.0]
    queue = Queue("clu", cluster_url, clock=lambda: now[0], rate_limit=1)
    ran: list[int] = []

    @queue.task
    async def push(n: int) -> int:
        ran.append(n)
        return n

    try:
        first = await push.enqueue(1, _dedup=Throttle("u", 60))
        assert (await push.enqueue(2, _dedup=Throttle("u", 60))).outcome == "ignored"
        debounced = await push.enqueue(3, _dedup=Debounce("d", 5))
        assert (await push.enqueue(4, _dedup=Debounce("d", 5))).outcome == "replaced"
        await Worker(queue).run_burst()
        assert ran == [1]  # the debounced job is not due; the limit allowed one start
        now[0] += 5
        await Worker(queue).run_burst()
        assert ran == [1, 4]
        assert await first.result(timeout=5) == 1 and await debounced.result(timeout=5) == 4
        batch = await queue.enqueue_many(
            [push.call(5, _dedup=Throttle("m", 60)), push.call(6, _dedup=Throttle("m", 60))]
        )
        assert [j.outcome for j in batch] == ["created", "ignored"]
    finally:
        await queue.aclose()
