"""A throwaway one-node Redis Cluster: every slot on one server, CROSSSLOT rules enforced."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator

import redis.asyncio

from tests._servers import RedisServer

__all__ = ["one_node_cluster"]


@contextlib.asynccontextmanager
async def one_node_cluster() -> AsyncIterator[RedisServer]:
    """Start a cluster-enabled ``redis-server``, give it all 16384 slots, wait until it is ok."""
    config = os.path.join(tempfile.mkdtemp(prefix="mediz-cluster-"), "nodes.conf")
    server = RedisServer(extra=("--cluster-enabled", "yes", "--cluster-config-file", config))
    await asyncio.to_thread(server.start)
    try:
        admin = redis.asyncio.Redis(port=server.port)
        try:
            await admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            deadline = time.monotonic() + 10
            while b"cluster_state:ok" not in await admin.execute_command("CLUSTER", "INFO"):
                assert time.monotonic() < deadline, "the one-node cluster never became ok"
                await asyncio.sleep(0.05)
        finally:
            await admin.aclose()
        yield server
    finally:
        await asyncio.to_thread(server.stop)
