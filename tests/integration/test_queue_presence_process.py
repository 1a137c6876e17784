"""A worker process is listed in the monitor while it runs, and a SIGKILL'd one drops out once
its registration's TTL (5 s by default) lapses."""

from __future__ import annotations

import signal
import subprocess
import uuid

import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.queue import Queue
from mediz_infra.queue.heartbeat import live_workers
from tests.integration.test_queue_processes import start_worker, wait_until, workers

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["workers"]  # the fixture, imported for this module's tests


async def test_a_killed_worker_drops_out_of_the_monitor(
    redis_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    name = f"seen{uuid.uuid4().hex[:8]}"
    client = create_redis(redis_url)
    queue = Queue(name, client, prefix="test")
    try:
        workers += [start_worker(redis_url, name), start_worker(redis_url, name)]
        pids = {proc.pid for proc in workers}

        async def both_listed() -> bool:
            return {w.pid for w in await live_workers(queue.broker)} == pids

        await wait_until(both_listed, 60, "both workers to register")
        (listed,) = [w for w in await live_workers(queue.broker) if w.pid == workers[0].pid]
        assert listed.queues == (name,) and listed.concurrency == 50

        workers[0].send_signal(signal.SIGKILL)

        async def only_the_survivor() -> bool:
            return {w.pid for w in await live_workers(queue.broker)} == {workers[1].pid}

        await wait_until(only_the_survivor, 30, "the killed worker's registration to lapse")
        workers[1].send_signal(signal.SIGTERM)
        workers[1].communicate(timeout=30)
        assert await live_workers(queue.broker) == []  # a clean stop leaves at once
    finally:
        await client.flushdb()
        await client.aclose()
