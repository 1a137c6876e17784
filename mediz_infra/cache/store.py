"""The shared store: a Redis client seen through the cache's few operations.

Every operation is one round trip: a hit is ``GET`` (``MGET`` with the tag counters when the
function has tags); taking the lock is ``mediz_infra/_lua/cache_lock.lua`` (``SET NX PX`` with a
random token, unless the value was stored meanwhile); storing a computed value and releasing the
lock is ``cache_store.lua``, which refuses when the lock key holds an invalidation marker or
another caller's token; invalidating one call is ``cache_invalidate.lua``, deleting the value and
putting that marker in its lock key, so a computation that began before the invalidation cannot
write back afterwards; a bare release is ``cache_unlock.lua``, deleting the lock only if the
token still owns it.

Each call is bounded by ``timeout``: a client the cache built itself gets it as its socket,
connect and pool timeouts (no extra timer on the hot path); a client handed in by the user is
wrapped in ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from importlib import resources
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster

from ..backends import RedisClient
from .tags import TAG_TTL

__all__ = ["INVALIDATED", "LOCKED", "LOCK_HELD", "LOCK_STORED", "RemoteStore"]

LOCK_HELD, LOCKED, LOCK_STORED = 0, 1, 2
INVALIDATED = "!"
"""What an invalidation leaves in a lock key (no token is ever this)."""

_LUA = resources.files("mediz_infra").joinpath("_lua")
UNLOCK_LUA = _LUA.joinpath("cache_unlock.lua").read_text()
LOCK_LUA = _LUA.joinpath("cache_lock.lua").read_text()
STORE_LUA = _LUA.joinpath("cache_store.lua").read_text()
INVALIDATE_LUA = _LUA.joinpath("cache_invalidate.lua").read_text()
_T = TypeVar("_T")


class RemoteStore:
    """The cache's view of a key-value client.

    Args:
        client: ``redis.asyncio.Redis`` or ``RedisCluster``.
        timeout: seconds each operation may take.
        bounded: the client already enforces ``timeout`` itself (built by the cache).
    """

    __slots__ = (
        "_cluster", "_invalidate", "_lock", "_store", "_unlock", "bounded", "client", "timeout"
    )

    def __init__(self, client: RedisClient, timeout: float, *, bounded: bool) -> None:
        self.client = client
        self.timeout = timeout
        self.bounded = bounded
        self._cluster = isinstance(client, RedisCluster)
        # redis-py's Script: EVALSHA, and EVAL once on NOSCRIPT (after a restart or FLUSH)
        self._unlock: Any = client.register_script(UNLOCK_LUA)
        self._lock: Any = client.register_script(LOCK_LUA)
        self._store: Any = client.register_script(STORE_LUA)
        self._invalidate: Any = client.register_script(INVALIDATE_LUA)

    async def _run(self, call: Awaitable[_T]) -> _T:
        if self.bounded:
            return await call
        async with asyncio.timeout(self.timeout):
            return await call

    async def get(self, key: str, tag_keys: Sequence[str]) -> tuple[Any, Sequence[Any]]:
        """The raw value of ``key`` and the current values of ``tag_keys``, in one round trip."""
        if not tag_keys:
            if self.bounded:
                return await self.client.get(key), ()
            return await self._run(self.client.get(key)), ()
        if self._cluster:  # tag counters live in other slots: one command each, concurrently
            replies = await self._run(
                asyncio.gather(*(self.client.get(k) for k in (key, *tag_keys)))
            )
        else:
            replies = await self._run(self.client.mget([key, *tag_keys]))
        return replies[0], replies[1:]

    async def tag_versions(self, tag_keys: Sequence[str]) -> Sequence[Any]:
        """The current values of ``tag_keys`` (``None`` for a tag never bumped)."""
        if self._cluster:
            return await self._run(asyncio.gather(*(self.client.get(k) for k in tag_keys)))
        return await self._run(self.client.mget(list(tag_keys)))

    async def set(self, key: str, raw: bytes, ttl: float) -> None:
        """Store ``raw`` for ``ttl`` seconds."""
        await self._run(self.client.set(key, raw, px=max(1, int(ttl * 1000))))

    async def delete(self, *keys: str) -> int:
        """Delete keys; how many existed."""
        return await self._run(self.client.delete(*keys))

    async def lock(self, key: str, token: str, ttl: float) -> bool:
        """``SET key token NX PX ttl``: whether this caller now holds the lock."""
        return bool(await self._run(self.client.set(key, token, nx=True, px=int(ttl * 1000))))

    async def lock_unless_stored(
        self, key: str, lock_key: str, token: str, ttl: float, *, force: bool
    ) -> int:
        """Take the lock for ``key`` unless a value is stored (ignored with ``force``).

        Returns :data:`LOCKED`, :data:`LOCK_HELD` (another caller has it) or
        :data:`LOCK_STORED` (a value appeared since the caller's miss: read it).
        """
        args = [token, int(ttl * 1000), "1" if force else "0"]
        return int(await self._run(self._lock(keys=[key, lock_key], args=args)))

    async def store_and_unlock(
        self, key: str, raw: bytes, ttl: float, lock_key: str, token: str
    ) -> bool:
        """Store ``raw`` for ``ttl`` seconds and release the lock, if ``token`` still owns it.

        Also stores when the lock key is empty (the lock expired during a computation slower
        than its TTL). Returns ``False`` (nothing stored) when the key holds an invalidation
        marker (the value was computed across an invalidation) or another caller's lock.
        """
        px = max(1, int(ttl * 1000))
        return bool(await self._run(self._store(keys=[key, lock_key], args=[raw, px, token])))

    async def invalidate(self, key: str, lock_key: str, lock_ttl: float) -> None:
        """Delete ``key`` and leave the invalidation marker in its lock key for ``lock_ttl``."""
        px = max(1, int(lock_ttl * 1000))
        await self._run(self._invalidate(keys=[key, lock_key], args=[px]))

    async def unlock(self, key: str, token: str) -> bool:
        """Delete the lock only if ``token`` still owns it."""
        return bool(await self._run(self._unlock(keys=[key], args=[token])))

    async def bump(self, tag_keys: Sequence[str]) -> None:
        """Invalidate tags: ``INCR`` each counter and push its expiry out to :data:`TAG_TTL`.

        One pipelined round trip on a standalone or Sentinel client, one per node on a
        Cluster (the counters of several tags may live on several nodes).
        """
        pipe = self.client.pipeline(transaction=False)
        for key in tag_keys:
            pipe.incr(key)
            pipe.expire(key, TAG_TTL)
        await self._run(pipe.execute())

    async def delete_matching(self, pattern: str, batch: int = 500) -> int:
        """Delete every key matching ``pattern`` with ``SCAN`` (never ``KEYS``), in batches."""
        deleted = 0
        pending: list[Any] = []
        async with asyncio.timeout(max(self.timeout * 100, 30.0)):
            async for key in self.client.scan_iter(match=pattern, count=batch):
                pending.append(key)
                if len(pending) >= batch:
                    deleted += await self._delete_each(pending)
                    pending = []
            if pending:
                deleted += await self._delete_each(pending)
        return deleted

    async def _delete_each(self, keys: list[Any]) -> int:
        if self._cluster:  # keys of a batch span slots
            return sum(await asyncio.gather(*(self.client.delete(k) for k in keys)))
        return await self.client.delete(*keys)

    async def ping(self) -> None:
        """One ``PING``: whether the backend answers (raises if not)."""
        await self._run(self.client.ping())

    async def publish(self, channel: str, message: str) -> None:
        """Tell the other processes (their L1s) about an invalidation."""
        await self._run(self.client.publish(channel, message))
