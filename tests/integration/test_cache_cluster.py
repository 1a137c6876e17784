"""The cache on a real (one-node) Redis Cluster: every script and multi-key call per slot rules.

A one-node cluster still enforces CROSSSLOT, so a script or ``MGET`` whose keys hash to different
slots fails here exactly as on a large cluster.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from mediz_infra.cache import Cache
from tests._servers import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def cluster_url() -> AsyncIterator[str]:
    config = os.path.join(tempfile.mkdtemp(prefix="mediz-cluster-"), "nodes.conf")
    server = RedisServer(extra=("--cluster-enabled", "yes", "--cluster-config-file", config))
    await asyncio.to_thread(server.start)
    try:
        admin = redis.asyncio.Redis(port=server.port)
        await admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        deadline = time.monotonic() + 10
        while b"cluster_state:ok" not in await admin.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "the one-node cluster never became ok"
            await asyncio.sleep(0.05)
        await admin.aclose()
        yield f"redis+cluster://127.0.0.1:{server.port}"
    finally:
        await asyncio.to_thread(server.stop)


async def test_hits_locks_tags_invalidation_and_clear_on_a_cluster(cluster_url: str) -> None:
    cache = Cache(cluster_url, prefix="clu", timeout=2.0)
    calls = {"tagged": 0, "slow": 0}

    @cache(ttl=60, tags=["symptoms", "users"])
    async def tagged(n: int) -> dict[str, int]:
        calls["tagged"] += 1
        return {"n": n, "v": calls["tagged"]}

    @cache(ttl=60, key="{n}")  # a template starting with an argument: still one slot with its lock
    async def slow(n: int) -> int:
        calls["slow"] += 1
        await asyncio.sleep(0.01)  # slower than skip_below: the lock scripts run
        return n

    try:
        assert await tagged(1) == {"n": 1, "v": 1}
        assert await tagged(1) == {"n": 1, "v": 1}  # a hit: the tag counters read slot by slot
        assert await cache.invalidate_tags("users")
        assert await tagged(1) == {"n": 1, "v": 2}
        assert [await slow(7), await slow(7)] == [7, 7]
        assert await cache.invalidate(slow, 7)  # the marker script: value and lock, one slot
        assert await slow(7) == 7
        assert calls == {"tagged": 2, "slow": 2}
        assert cache.stats.errors == 0
        assert await cache.clear() >= 3
        assert await tagged(1) == {"n": 1, "v": 3}
    finally:
        await cache.close()
