"""A queue for a ``mediz-infra worker`` process whose lifespan opens the client the task uses.

``QUEUE_TEST_URL`` and ``QUEUE_TEST_NAME`` name the Redis and the queue. Every step lands in
the list ``<name>:marks``: ``startup`` and ``shutdown`` from the lifespan, ``start <n>`` and
``end <n>`` from the task ``hold``, which waits for the key ``<name>:gate`` in between.
With ``LIFESPAN_TEST_FAIL`` set, the startup raises an error quoting that value (a database
URL with its password, as a pool that cannot connect does).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from mediz_infra.backends import RedisClient
from mediz_infra.backends.redis import create_redis
from mediz_infra.queue import Queue

URL = os.environ["QUEUE_TEST_URL"]
NAME = os.environ["QUEUE_TEST_NAME"]
MARKS = f"{NAME}:marks"
queue = Queue(NAME, URL, prefix="test")
client: RedisClient | None = None  # opened by the lifespan, used by the task


@queue.lifespan
async def resources() -> AsyncIterator[None]:
    global client
    fail = os.environ.get("LIFESPAN_TEST_FAIL")
    if fail:
        raise ConnectionError(f"cannot open the pool at {fail}")
    client = create_redis(URL)
    await client.rpush(MARKS, "startup")
    try:
        yield
    finally:
        await client.rpush(MARKS, "shutdown")
        await client.aclose()
        client = None


@queue.task(name="hold", retries=0)
async def hold(n: int) -> int:
    if client is None:
        raise RuntimeError("the task ran outside the lifespan")
    await client.rpush(MARKS, f"start {n}")
    while not await client.exists(f"{NAME}:gate"):  # noqa: ASYNC110 - a key, not an event
        await asyncio.sleep(0.01)
    await client.rpush(MARKS, f"end {n}")
    return n
