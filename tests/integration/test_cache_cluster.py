"""The cache on a real (one-node) Redis Cluster: every script and multi-key call per slot rules.

A one-node cluster still enforces CROSSSLOT, so a script or ``MGET`` whose keys hash to different
slots fails here exactly as on a large cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mediz_infra.cache import Cache
from tests.integration._cluster import one_node_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
async def cluster_url() -> AsyncIterator[str]:
    async with one_node_cluster() as server:
        yield f"redis+cluster://127.0.0.1:{server.port}"


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
        await asyncio.sleep(0.01)  # the lock scripts run
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
