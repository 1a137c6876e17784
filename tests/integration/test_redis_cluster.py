"""``create_redis("redis+cluster://...")`` under load: commands wait for a connection, boundedly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mediz_infra.backends.redis import close_redis, create_redis
from mediz_infra.backends.redis.cluster import BoundedCluster
from mediz_infra.errors import PoolExhausted
from tests.integration._cluster import one_node_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with one_node_cluster() as server:
        yield server.port


async def test_a_burst_over_the_limit_waits_instead_of_failing(port: int) -> None:
    """Six commands that hold a connection 0.1 s each, two connections: all six succeed."""
    client = create_redis(f"redis+cluster://127.0.0.1:{port}", max_connections=2, timeout=5.0)
    assert isinstance(client, BoundedCluster)
    try:
        replies = await asyncio.gather(*(client.blpop([f"{{q}}:{i}"], 0.1) for i in range(6)))
        assert replies == [None] * 6
        (node,) = client.get_nodes()
        assert len(node._connections) <= 2  # the node's pool never needed a third
        pipes = [client.pipeline() for _ in range(4)]
        for n, pipe in enumerate(pipes):
            pipe.blpop([f"{{p}}:{n}"], 0.05)  # each pipeline holds a connection for 50 ms
            pipe.set(f"k{n}", n)
        assert await asyncio.gather(*(pipe.execute() for pipe in pipes)) == [[None, True]] * 4
        assert len(node._connections) <= 2
    finally:
        await close_redis(client)


async def test_a_wait_past_the_timeout_names_the_limit(port: int) -> None:
    client = create_redis(
        f"redis+cluster://127.0.0.1:{port}", max_connections=1, timeout=0.1, socket_timeout=5.0
    )
    try:
        holder = asyncio.create_task(client.blpop(["{q}:hold"], 1))
        await asyncio.sleep(0.05)  # the holder has the only slot
        with pytest.raises(PoolExhausted, match="MEDIZ_REDIS_MAX_CONNECTIONS"):
            await client.get("x")
        assert await holder is None
        assert await client.get("x") is None  # the slot came back
    finally:
        await close_redis(client)


async def test_a_command_nested_in_its_own_slot_does_not_queue_behind_it(port: int) -> None:
    """redis-py's pipeline falls back to single commands (MOVED/ASK) while holding its slot."""
    client = create_redis(f"redis+cluster://127.0.0.1:{port}", max_connections=1, timeout=0.5)
    other = create_redis(
        f"redis+cluster://127.0.0.1:{port}", max_connections=1, timeout=0.1, socket_timeout=5.0
    )
    assert isinstance(client, BoundedCluster) and isinstance(other, BoundedCluster)
    try:
        async with client._slot():  # the client's only slot, held by this task
            assert await client.get("{n}:x") is None  # nested: runs at once
            blocker = asyncio.create_task(other.blpop(["{n}:q"], 0.5))
            await asyncio.sleep(0.05)  # another task holds the other client's only slot
            with pytest.raises(PoolExhausted):
                await other.get("{n}:x")  # holding one client's slot is no pass for another
            assert await blocker is None
        pipe = client.pipeline()
        pipe.incr("{n}:c")
        pipe.get("{n}:c")
        assert await pipe.execute() == [1, b"1"]
    finally:
        await close_redis(client)
        await close_redis(other)


async def test_connections_held_outside_commands_give_pool_exhausted(port: int) -> None:
    """A WATCH pipeline keeps its node's connection: the next command gets a clear error."""
    client = create_redis(f"redis+cluster://127.0.0.1:{port}", max_connections=1, timeout=0.5)
    try:
        await client.ping()
        pipe = client.pipeline(transaction=True)
        await pipe.watch("{w}:k")
        with pytest.raises(PoolExhausted, match="WATCH pipelines"):
            await client.get("{w}:k")
        await pipe.reset()
        assert await client.get("{w}:k") is None
    finally:
        await close_redis(client)
