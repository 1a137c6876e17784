"""The shared store: a Redis client seen through the cache's few operations.

Every operation is one round trip. A read is ``mediz_infra/_lua/cache_read.lua``: the value,
or on a miss what ``cache_lock.lua`` does, so a miss is two round trips in all (``MGET`` with
the tag counters when the function has tags, and ``cache_lock.lua`` after it on a miss).
A computation begins with ``mediz_infra/_lua/cache_lock.lua``, which reads
the key's invalidation marker and takes the lock (``SET NX PX`` with a random token) unless a
value was stored meanwhile; it ends with ``cache_store.lua``, which stores the value and
releases the lock, or refuses when the marker has changed since (the key was invalidated while
the value was computed) or another caller holds the lock. Invalidating one call is
``cache_invalidate.lua``: delete the value, put a new random marker in ``<key>:inv``, publish to
the L1s. A bare release is ``cache_unlock.lua``, deleting the lock only if the token still owns
it.

Each call is bounded by ``timeout``: a client the cache built itself gets it as its socket,
connect and pool timeouts (no extra timer on the hot path); a client handed in by the user is
wrapped in ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from importlib import resources
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster

from ..backends import RedisClient
from .tags import TAG_TTL

__all__ = [
    "LOCKED",
    "LOCK_HELD",
    "LOCK_STORED",
    "MARKER_TTL",
    "RemoteStore",
    "lock_key",
    "marker_key",
]

LOCK_HELD, LOCKED, LOCK_STORED = 0, 1, 2
MARKER_TTL = 60.0
"""The shortest life of an invalidation marker, in seconds (longer if ``LockPolicy.ttl`` is).

A computation that takes longer than its key's marker lives is not stored: it could have
straddled an invalidation whose marker has expired since."""


def lock_key(key: str) -> str:
    """The key of ``key``'s compute lock (same hash slot)."""
    return key + ":lock"


def marker_key(key: str) -> str:
    """The key of ``key``'s invalidation marker (same hash slot)."""
    return key + ":inv"


_LUA = resources.files("mediz_infra").joinpath("_lua")
UNLOCK_LUA = _LUA.joinpath("cache_unlock.lua").read_text()
LOCK_LUA = _LUA.joinpath("cache_lock.lua").read_text()
STORE_LUA = _LUA.joinpath("cache_store.lua").read_text()
READ_LUA = _LUA.joinpath("cache_read.lua").read_text()
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
        "_cluster",
        "_invalidate",
        "_lock",
        "_read",
        "_store",
        "_unlock",
        "bounded",
        "client",
        "read_sha",
        "timeout",
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
        self._read: Any = client.register_script(READ_LUA)
        #: the SHA1 of ``cache_read.lua``, for the decorator's inlined ``EVALSHA``
        self.read_sha: str = self._read.sha

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

    async def read(self, key: str, token: str, ttl: float) -> Any:
        """``GET key``; on a miss, begin its computation in the same round trip.

        Returns the stored bytes, or ``[state, marker]`` as :meth:`begin` with ``stop="0"``.
        The decorator inlines this as one ``EVALSHA``, and calls it after ``NOSCRIPT`` (a
        restarted or flushed server): redis-py's script object loads the script again.
        """
        keys = [key, lock_key(key), marker_key(key)]
        return await self._run(self._read(keys=keys, args=[token, max(1, int(ttl * 1000))]))

    async def begin(self, key: str, token: str, ttl: float, stop: str) -> tuple[int, bytes]:
        """Begin computing ``key``: read its invalidation marker, take its lock unless stopped.

        Args:
            key: the value key.
            token: the lock token (``""``: take no lock, only read the marker).
            ttl: the lock's life in seconds.
            stop: which stored value makes this caller read it rather than compute: ``"0"``
                any, ``"1"`` none (the stored one is unusable), or a fresh-until in
                milliseconds (a refresh: only a value fresher than the one it saw).

        Returns:
            (state, marker): :data:`LOCKED` (go ahead; locked if ``token``), :data:`LOCK_HELD`
            (another caller holds the lock) or :data:`LOCK_STORED`; and the marker to hand
            back to :meth:`store`.
        """
        args = [token, max(1, int(ttl * 1000)), stop]
        keys = [key, lock_key(key), marker_key(key)]
        state, marker = await self._run(self._lock(keys=keys, args=args))
        return int(state), marker

    async def store(self, key: str, raw: bytes, ttl: float, token: str, marker: bytes) -> bool:
        """Store a computed value for ``ttl`` seconds and release the lock ``token`` holds.

        Returns ``False`` (nothing stored) when the key was invalidated since the computation
        began (its marker is no longer ``marker``) or another caller holds the lock.
        """
        px = max(1, int(ttl * 1000))
        keys = [key, lock_key(key), marker_key(key)]
        return bool(await self._run(self._store(keys=keys, args=[raw, px, token, marker])))

    async def invalidate(
        self, key: str, marker: str, marker_ttl: float, channel: str, message: str
    ) -> None:
        """Delete ``key``, leave a new ``marker`` for ``marker_ttl`` s, publish ``message``.

        ``channel`` ``""`` publishes nothing.
        """
        px = max(1, int(marker_ttl * 1000))
        keys = [key, marker_key(key)]
        await self._run(self._invalidate(keys=keys, args=[marker, px, channel, message]))

    async def unlock(self, key: str, token: str) -> bool:
        """Delete the lock only if ``token`` still owns it."""
        return bool(await self._run(self._unlock(keys=[key], args=[token])))

    async def bump(self, tag_keys: Sequence[str], channel: str, message: str) -> None:
        """Invalidate tags: ``INCR`` each counter and push its expiry out to :data:`TAG_TTL`.

        Then publishes ``message`` on ``channel`` (``""``: nothing). One pipelined round trip
        on a standalone or Sentinel client, one per node on a Cluster (the counters of several
        tags may live on several nodes).
        """
        pipe = self.client.pipeline(transaction=False)
        for key in tag_keys:
            pipe.incr(key)
            pipe.expire(key, TAG_TTL)
        if channel:
            pipe.publish(channel, message)
        await self._run(pipe.execute())

    async def clear_matching(
        self, pattern: str, tag_prefix: str, marker: str, marker_ttl: float, batch: int = 500
    ) -> int:
        """Empty every key matching ``pattern`` with ``SCAN`` (never ``KEYS``), in batches.

        Tag counters (under ``tag_prefix``) are deleted. Every other key is a value, its lock
        or its marker: the value is invalidated as by :meth:`invalidate` (deleted, a new
        ``marker``), so a computation under way cannot store a value from before the clear,
        and a lock is left to expire (its holder's store is refused by the marker).
        Returns how many values and tag counters were deleted.
        """
        deleted = 0
        pending: dict[str, None] = {}  # ordered, without duplicates
        async with asyncio.timeout(max(self.timeout * 100, 30.0)):
            async for raw in self.client.scan_iter(match=pattern, count=batch):
                key = raw.decode() if isinstance(raw, bytes) else str(raw)
                if key.startswith(tag_prefix):
                    deleted += await self._run(self.client.delete(key))
                    continue
                for suffix in (":lock", ":inv"):
                    if key.endswith(suffix):
                        key = key[: -len(suffix)]
                pending[key] = None
                if len(pending) >= batch:
                    deleted += await self._invalidate_each(pending, marker, marker_ttl)
                    pending = {}
            if pending:
                deleted += await self._invalidate_each(pending, marker, marker_ttl)
        return deleted

    async def _invalidate_each(self, keys: Iterable[str], marker: str, marker_ttl: float) -> int:
        px = max(1, int(marker_ttl * 1000))
        args = [marker, px, "", ""]
        if self._cluster:  # keys of a batch span slots
            calls = (self._invalidate(keys=[k, marker_key(k)], args=args) for k in keys)
            return sum(await asyncio.gather(*calls))
        pipe = self.client.pipeline(transaction=False)
        for key in keys:  # queued on the pipeline (redis-py's Script loads it if need be)
            await self._invalidate(keys=[key, marker_key(key)], args=args, client=pipe)
        return sum(await pipe.execute())

    async def ping(self) -> None:
        """One ``PING``: whether the backend answers (raises if not)."""
        await self._run(self.client.ping())

    async def publish(self, channel: str, message: str) -> None:
        """Tell the other processes (their L1s) about an invalidation."""
        await self._run(self.client.publish(channel, message))
