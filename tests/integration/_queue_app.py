"""A queue for worker subprocesses in tests: each run of ``record`` counts itself in Redis.

A job given ``gate_from`` waits for the key ``<name>:gate`` when its number is that or more.
``QUEUE_TEST_URL`` and ``QUEUE_TEST_NAME`` name the Redis and the queue; the runs land in the
hash ``<name>:runs`` (job number -> how many times it ran), so a test can tell distinct
completions from duplicates.
"""

from __future__ import annotations

import asyncio
import os

from mediz_infra.backends.redis import create_redis
from mediz_infra.queue import Queue

URL = os.environ["QUEUE_TEST_URL"]
NAME = os.environ["QUEUE_TEST_NAME"]
queue = Queue(NAME, URL, prefix="test")
_client = create_redis(URL)


@queue.task(name="record", retries=3)
async def record(n: int, gate_from: int | None = None) -> int:
    await asyncio.sleep(0.002)  # long enough that a kill lands mid-job
    if gate_from is not None and n >= gate_from:
        # jobs from gate_from on hold until the test opens the gate: the worker is killed
        # holding them, whatever the machine's speed
        while not await _client.exists(f"{NAME}:gate"):  # noqa: ASYNC110 - a key, not an event
            await asyncio.sleep(0.01)
    await _client.hincrby(f"{NAME}:runs", str(n), 1)
    return n
