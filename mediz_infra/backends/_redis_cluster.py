"""A Redis Cluster client whose commands wait for a free connection instead of failing at once.

redis-py's ``RedisCluster`` gives each node a connection limit but no wait: the command that finds
every connection of its node busy fails at once with ``MaxConnectionsError``. A burst of traffic
then turns into errors (and, for the cache and the rate limiter, into a fail-open back-off).
:class:`BoundedCluster` puts one bounded wait in front: at most ``max_connections`` commands and
pipelines are in flight per client, so no node ever needs more than ``max_connections``
connections; the rest queue for up to ``timeout`` seconds and then fail with
:class:`~mediz_infra.errors.PoolExhausted` naming the limit, as the standalone pool does.

A command issued while the same task already holds a slot (redis-py's own retries and
redirections, a script reloading itself) does not queue again, so a full client cannot deadlock
on itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterPipeline

from ..errors import PoolExhausted
from ._redis_pool import count_error

__all__ = ["BoundedCluster"]

_HOLDING: ContextVar[bool] = ContextVar("mediz_redis_cluster_slot", default=False)


class BoundedCluster(RedisCluster):
    """``RedisCluster`` with a bounded wait for one of ``max_connections`` command slots.

    Args:
        timeout: seconds a command waits for a slot before :class:`PoolExhausted`.
        max_connections: commands in flight at once (and each node's connection limit).
        **kwargs: as for ``RedisCluster``.
    """

    def __init__(self, *, timeout: float, max_connections: int, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._slot_limit = max_connections
        self._slot_timeout = timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._queued = 0

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if _HOLDING.get():  # nested in a command of this task: it already holds one
            yield
            return
        slots = self._slots
        if slots.locked():
            self._queued += 1
            try:
                async with asyncio.timeout(self._slot_timeout):
                    await slots.acquire()
            except TimeoutError:
                count_error("exhausted")
                raise PoolExhausted(
                    f"redis cluster client exhausted: {self._slot_limit} commands in flight, "
                    f"{self._queued} waiting after {self._slot_timeout} s; raise "
                    "MEDIZ_REDIS_MAX_CONNECTIONS (or ?max_connections= in REDIS_URL), or find "
                    "what holds connections (blocking commands such as BLPOP hold one each)",
                    size=self._slot_limit,
                    in_use=self._slot_limit,
                    waiting=self._queued,
                    timeout=self._slot_timeout,
                ) from None
            finally:
                self._queued -= 1
        else:
            await slots.acquire()  # free: returns without waiting
        token = _HOLDING.set(True)
        try:
            yield
        finally:
            _HOLDING.reset(token)
            slots.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._slot():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        bounded: Any = _BoundedPipeline
        pipe.__class__ = bounded  # the same object, with a bounded execute()
        return pipe


class _BoundedPipeline(ClusterPipeline):
    """A cluster pipeline that takes one slot of its client while it runs."""

    __slots__ = ()

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        client = self.cluster_client
        assert isinstance(client, BoundedCluster)
        async with client._slot():
            return await super().execute(raise_on_error, allow_redirections)
