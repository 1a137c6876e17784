"""``create_redis("redis+cluster://...")`` under load: commands wait for a connection, boundedly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mediz_infra.backends._redis_cluster import BoundedCluster
from mediz_infra.backends.redis import close_redis, create_redis
from mediz_infra.errors import PoolExhausted
from tests.integration._cluster import one_node_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with one_node_cluster() as server:
        yield server.port


async def test_a_burst_over_the_limit_waits_instead_of_failing(port: int) -> None:
    """Six commands that hold a connection 0.1 s each, two connections: all six succeed."""
    client = create_redis(
        f"redis+cluster://127.0.0.1:{port}", max_connections=2, timeout=5.0
    )
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


async def test_scripts_and_pipelines_inside_a_full_client_do_not_deadlock(port: int) -> None:
    """A script reloading itself (NOSCRIPT) runs nested in its own slot, not queued behind it."""
    client = create_redis(f"redis+cluster://127.0.0.1:{port}", max_connections=1, timeout=2.0)
    try:
        script = client.register_script("return redis.call('INCR', KEYS[1])")
        await client.script_flush()
        assert [await script(keys=["{s}:n"]) for _ in range(2)] == [1, 2]
        pipe = client.pipeline()
        pipe.incr("{s}:n")
        pipe.get("{s}:n")
        assert await pipe.execute() == [3, b"3"]
    finally:
        await close_redis(client)
