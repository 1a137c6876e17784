"""A Redis Cluster client whose commands wait for a free connection instead of failing at once.

redis-py's ``RedisCluster`` gives each node a connection limit but no wait: the command that finds
every connection of its node busy fails at once with ``MaxConnectionsError``. A burst of traffic
then turns into errors (and, for the cache and the rate limiter, into a fail-open back-off).
:class:`BoundedCluster` puts one bounded wait in front: at most ``max_connections`` commands and
pipelines are in flight per client, so no node ever needs more than ``max_connections``
connections; the rest queue for up to ``timeout`` seconds and then fail with
:class:`~mediz_infra.errors.PoolExhausted` naming the limit, as the standalone pool does.

A command issued while the same task already holds a slot of the same client (a pipeline's
fallback to single commands after a ``MOVED``/``ASK`` reply) does not queue again, so a full
client cannot deadlock on itself.

Connections held outside a command, by a ``WATCH`` pipeline until it executes and by a pub/sub
subscription for its lifetime, take no slot; with those open a node can still run out, and the
command that finds it so fails with :class:`~mediz_infra.errors.PoolExhausted` rather than
redis-py's ``MaxConnectionsError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any, cast

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import MaxConnectionsError, RedisClusterException

from ...errors import PoolExhausted
from .pool import count_error

__all__ = ["BoundedCluster"]

_HOLDING: ContextVar[frozenset[int]] = ContextVar("mediz_redis_cluster_slots", default=frozenset())
"""The clients (by id) whose slot the current task holds."""


class BoundedCluster(RedisCluster):
    """``RedisCluster`` with a bounded wait for one of ``max_connections`` command slots.

    Args:
        timeout: seconds a command waits for a slot before :class:`PoolExhausted`.
        max_connections: commands in flight at once (and each node's connection limit).
        **kwargs: as for ``RedisCluster``.
    """

    def __init__(self, *, timeout: float = 5.0, max_connections: int = 50, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._slot_limit = max_connections
        self._slot_timeout = timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._queued = 0

    def _exhausted(self, waited: float) -> PoolExhausted:
        count_error("exhausted")
        return PoolExhausted(
            f"redis cluster client exhausted: {self._slot_limit} commands in flight, "
            f"{self._queued} waiting after {waited:g} s; raise MEDIZ_REDIS_MAX_CONNECTIONS "
            "(or ?max_connections= in REDIS_URL), or find what holds connections (blocking "
            "commands such as BLPOP, WATCH pipelines and pub/sub hold one each)",
            size=self._slot_limit,
            in_use=self._slot_limit,
            waiting=self._queued,
            timeout=waited,
        )

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        held = _HOLDING.get()
        if id(self) in held:  # nested in a command of this task: it already holds one
            yield
            return
        slots = self._slots
        if slots.locked():
            self._queued += 1
            try:
                async with asyncio.timeout(self._slot_timeout):
                    await slots.acquire()
            except TimeoutError:
                raise self._exhausted(self._slot_timeout) from None
            finally:
                self._queued -= 1
        else:
            await slots.acquire()  # free: returns without waiting
        token = _HOLDING.set(held | {id(self)})
        try:
            yield
        except MaxConnectionsError:  # a node's connections held outside any slot (see above)
            raise self._exhausted(0.0) from None
        finally:
            _HOLDING.reset(token)
            slots.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._slot():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if shard_hint:  # as RedisCluster.pipeline
            error: Any = RedisClusterException  # untyped in some redis-py releases
            raise error("shard_hint is deprecated in cluster mode")
        pipeline_class: Any = _BoundedPipeline  # redis-py's stubs call ClusterPipeline abstract
        return pipeline_class(self, transaction)


class _BoundedPipeline(ClusterPipeline):
    """A cluster pipeline that takes one slot of its client while it runs."""

    __slots__ = ()

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        client = cast(BoundedCluster, self.cluster_client)
        async with client._slot():
            return await super().execute(raise_on_error, allow_redirections)
