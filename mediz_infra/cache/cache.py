"""The :class:`Cache` facade: a backend, a policy, and the ``@cache(...)`` decorator factory.

One ``Cache`` per backend and prefix. It owns what its decorated functions share: the store
(in-process for ``memory://``, Redis otherwise), the optional L1, the fail-open back-off, the
background refresh tasks and the L1 invalidation listener. Nothing connects or starts at
construction; the listener starts on first use and everything stops in :meth:`Cache.close`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Literal, TypeVar

from redis.asyncio.cluster import RedisCluster

from .._urls import parse_url, redact
from ..backends import (
    BACKEND_ERRORS,
    Outage,
    RedisClient,
    close_redis,
    create_redis,
    redis_probe,
)
from ..errors import ConfigError
from . import stats as _stats
from .decorator import CachedFunction
from .l1feed import L1Feed, forget
from .local import LocalStore
from .lock import LockPolicy, new_token
from .serializers import JsonSerializer, Serializer
from .stats import CacheStats
from .store import MARKER_TTL, RemoteStore
from .tags import TAG_TTL, check_tags, tag_key
from .values import KeyValues

__all__ = ["BACKEND_ERRORS", "Cache"]

logger = logging.getLogger("mediz_infra.cache")


_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])


class Cache(KeyValues):
    """A cache on one backend; decorate async functions with it, or ``get``/``set`` by key.

    Args:
        url_or_client: ``memory://`` (private in-process store), ``memory://name`` (the
            process-wide store called ``name``), any ``redis://``-family URL (a client is built
            with ``timeout`` as its socket, connect and pool timeouts and no retries, so a dead
            server costs one short timeout before the back-off), or a client you built
            (``redis.asyncio.Redis`` or ``RedisCluster``; you close it).
        prefix: first part of every key; ``clear()`` deletes ``{prefix}:cache:*``.
        version: part of every value key; change it when a deploy changes what functions return.
        serializer: default :class:`~mediz_infra.cache.serializers.JsonSerializer`.
        timeout: seconds any one Redis operation may take.
        max_size: largest serialised value stored, in bytes (larger ones are served, not stored).
        l1_size: entries in the in-process L1 in front of Redis (0: no L1).
        l1_ttl: the longest an L1 entry lives, in seconds.
        backoff: seconds between two background probes of Redis while it is down (after an
            error or timeout calls skip Redis until a probe sees it answer again).
        lock: the cross-process stampede lock's timing.

    Raises:
        ConfigError: an option is out of range, the URL is not a Redis or memory URL, or an L1
            was asked for on Redis Cluster (the L1 needs pub/sub invalidation).
    """

    def __init__(
        self,
        url_or_client: str | RedisClient = "memory://",
        *,
        prefix: str = "mediz",
        version: str = "v1",
        serializer: Serializer | None = None,
        timeout: float = 0.25,
        max_size: int = 1 << 20,
        l1_size: int = 0,
        l1_ttl: float = 5.0,
        backoff: float = 0.05,
        lock: LockPolicy | None = None,
    ) -> None:
        for name, value in (("timeout", timeout), ("backoff", backoff), ("l1_ttl", l1_ttl)):
            if value <= 0:
                raise ConfigError(name, f"must be positive, got {value}")
        if max_size <= 0 or l1_size < 0:
            raise ConfigError("max_size/l1_size", "max_size must be positive, l1_size >= 0")
        if not prefix or ":" in prefix or "{" in prefix:
            raise ConfigError("prefix", f"{prefix!r}: non-empty, without ':' or '{{'")
        self.prefix = prefix
        self.version = version
        self.namespace = f"{prefix}:cache:{version}"
        self.serializer: Serializer = serializer or JsonSerializer()
        self.timeout = timeout
        self.max_size = max_size
        self.lock = lock or LockPolicy()
        self.channel = f"{prefix}:cache:invalidations"
        self._owned: Any = None
        self.local: LocalStore | None = None
        self.store: RemoteStore | None = None
        self.l1: LocalStore | None = None
        self._feed: L1Feed | None = None
        name = url_or_client if isinstance(url_or_client, str) else type(url_or_client).__name__
        if isinstance(url_or_client, str):
            parsed = parse_url(url_or_client, field_name="url")
            name = redact(url_or_client)
            if parsed.scheme == "memory":
                self.local = LocalStore.shared(parsed.host) if parsed.host else LocalStore()
            else:
                client = create_redis(
                    url_or_client,
                    timeout=timeout,
                    socket_timeout=timeout,
                    connect_timeout=timeout,
                    retries=0,
                )
                self._owned = client
                self.store = RemoteStore(client, timeout, bounded=True)
        else:
            self.store = RemoteStore(url_or_client, timeout, bounded=False)
        if self.store is not None and l1_size:
            if isinstance(self.store.client, RedisCluster):
                raise ConfigError("l1_size", "the L1 needs pub/sub invalidation: not on Cluster")
            self.l1 = LocalStore(maxsize=l1_size, max_ttl=l1_ttl)
        self.outage = Outage(
            f"cache {prefix!r} on {name}",
            probe=redis_probe(self.store.client, timeout) if self.store is not None else None,
            backoff=backoff,
            timeout=timeout,
            logger=logger,
            degraded="serving uncached",
            on_probe_failure=self._probe_failed,
        )
        if self.l1 is not None:
            assert self.store is not None
            self._feed = L1Feed(self.store.client, self.channel, self.l1, self.outage, self.failed)
        self.functions: list[CachedFunction[Any]] = []
        self._own_stats = CacheStats()
        # memory backend: tag versions in the (possibly shared) store; a generation lets
        # functions cache theirs
        self.local_tags: dict[str, int] = (
            self.local.tags.setdefault(prefix, {}) if self.local is not None else {}
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        _stats.track(self)

    def __repr__(self) -> str:
        return f"Cache({self.outage.name.split(' on ', 1)[1]!r}, prefix={self.prefix!r})"

    # ------------------------------------------------------------------ decorator

    def __call__(
        self,
        ttl: float,
        *,
        key: str | None = None,
        tags: Iterable[str] = (),
        stale_ttl: float = 0.0,
        early_refresh: float | None = None,
        cache_none: bool = False,
        serializer: Serializer | None = None,
        lock: bool | Literal["auto"] = "auto",
    ) -> Callable[[_F], CachedFunction[Any]]:
        """Decorate an async function or method so its results are cached.

        Args:
            ttl: seconds a value is fresh.
            key: a ``str.format`` template over the parameters (``"symptoms:popular:{limit}"``);
                default: module, qualified name and the normalised arguments.
            tags: names to invalidate this function's values by (``invalidate_tags``).
            stale_ttl: seconds after ``ttl`` during which the stale value is served while one
                refresher (cluster-wide) recomputes it in the background.
            early_refresh: ``beta`` of probabilistic early refresh (1.0 is typical): a fresh
                value is recomputed in the background slightly before it expires, with a
                chance growing as expiry nears and with how long the function takes.
            cache_none: store ``None`` results (by default they are recomputed every time).
            serializer: this function's serializer (default: the cache's).
            lock: take the cross-process lock on a miss: ``"auto"`` (the default) and
                ``True`` on every miss (the lock rides the round trip that reads the key's
                invalidation marker, so it costs nothing extra), ``False`` never (in-process
                merging only; misses in several processes each compute).

        Raises:
            ConfigError: bad ``ttl``/``stale_ttl``/``tags``/``key``, or a sync function.
        """
        if ttl <= 0 or stale_ttl < 0 or ttl + stale_ttl >= TAG_TTL:
            raise ConfigError("ttl", f"need 0 < ttl, 0 <= stale_ttl, ttl + stale_ttl < {TAG_TTL}")
        if lock not in (True, False, "auto"):
            raise ConfigError("lock", f'must be True, False or "auto", got {lock!r}')
        if early_refresh is not None and early_refresh <= 0:
            raise ConfigError("early_refresh", "beta must be positive (1.0 is typical)")
        checked = check_tags(tags)

        def decorate(fn: _F) -> CachedFunction[Any]:
            wrapped: CachedFunction[Any] = CachedFunction(
                self,
                fn,
                ttl=ttl,
                key=key,
                tags=checked,
                stale_ttl=stale_ttl,
                early_refresh=early_refresh,
                cache_none=cache_none,
                serializer=serializer,
                lock=lock,
            )
            self.functions.append(wrapped)
            return wrapped

        return decorate

    # ------------------------------------------------------------------ state

    @property
    def stats(self) -> CacheStats:
        """The counts of every function of this cache and of its values by key (a snapshot)."""
        total = CacheStats()
        total.add(self._own_stats)
        for fn in self.functions:
            total.add(fn.statistics)
        return total

    @property
    def tag_generation(self) -> int:
        """Memory backend: changes whenever a tag version changes (0 on Redis)."""
        return self.local.tag_generation if self.local is not None else 0

    def tag_keys(self, tags: Iterable[str]) -> tuple[str, ...]:
        """The Redis keys of ``tags``' version counters."""
        return tuple(tag_key(self.prefix, t) for t in tags)

    def l1_ready(self) -> bool:
        """Whether the L1 may be used now (its invalidation feed is connected)."""
        return self._feed is not None and self._feed.ready()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        """Run ``coro`` in the background, owned by this cache (cancelled by :meth:`close`).

        Returns the task, or ``None`` when the cache is closed (``coro`` is closed unrun).
        """
        if self._closed:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def failed(self, error: BaseException, doing: str) -> None:
        """Count a backend failure and start the back-off."""
        self._own_stats.errors += 1
        self.outage.trip(error, doing)

    def _probe_failed(self, error: BaseException) -> None:
        self._own_stats.errors += 1

    # ------------------------------------------------------------------ invalidation

    async def invalidate(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Drop the value ``fn(*args, **kwargs)`` would return from the cache.

        ``fn`` is the decorated function (or a bound method of a decorated method: pass the
        arguments without ``self``). Returns ``False`` if Redis could not be reached (logged
        and counted; the value then lives until its TTL).

        Raises:
            ConfigError: ``fn`` is not a function decorated by this cache.
        """
        target: Any = fn
        if isinstance(fn, types.MethodType):
            target, args = fn.__func__, (fn.__self__, *args)
        if not isinstance(target, CachedFunction) or target.cache is not self:
            raise ConfigError("fn", f"{fn!r} is not a function decorated by this cache")
        key = target.key_for(args, kwargs)
        target.inflight.pop(key, None)  # later calls must not join a computation begun before
        # a new marker for the key: a computation under way read the old one, and its store is
        # refused, so it cannot write back a value that may predate the cause of this call
        marker, ttl = new_token(), max(self.lock.ttl, MARKER_TTL)
        message = f"k {key}"
        channel = self._publish_channel()
        return await self._drop(
            lambda store: store.invalidate(key, marker, ttl, channel, message), message, key=key
        )

    def _publish_channel(self) -> str:
        """Where invalidations are published for the L1s ("" on Cluster, which has none).

        Every invalidation is published, whether this Cache has an L1 or not: other processes'
        Caches may.
        """
        assert self.store is not None or self.local is not None
        if self.store is None or isinstance(self.store.client, RedisCluster):
            return ""
        return self.channel

    async def invalidate_tags(self, *tags: str) -> bool:
        """Invalidate every value computed under any of ``tags``, in every process.

        One ``INCR`` per tag (see :mod:`mediz_infra.cache.tags`). Returns ``False`` if Redis
        could not be reached (logged and counted).
        """
        checked = check_tags(tags)
        self._forget_flights(set(checked))
        if self.local is not None:
            for tag in checked:
                self.local_tags[tag] = self.local_tags.get(tag, 0) + 1
            self.local.tag_generation += 1
            return True
        keys = self.tag_keys(checked)
        message, channel = "t " + " ".join(checked), self._publish_channel()
        return await self._drop(lambda store: store.bump(keys, channel, message), message)

    async def clear(self) -> int:
        """Delete every value and tag counter under ``{prefix}:cache:``, with SCAN.

        Each value found (or its lock or marker) is invalidated as by :meth:`invalidate`, so a
        computation under way does not write back a value from before the clear; locks are
        left to expire. Returns how many values and tag counters were deleted (-1 if Redis
        could not be reached).
        """
        self._forget_flights(None)
        if self.local is not None:
            count = self.local.delete_prefix(f"{self.prefix}:cache:")
            self.local_tags.clear()
            self.local.tag_generation += 1
            return count
        deleted = -1

        marker, ttl = new_token(), max(self.lock.ttl, MARKER_TTL)
        channel = self._publish_channel()

        async def delete(store: RemoteStore) -> None:
            nonlocal deleted
            tags = tag_key(self.prefix, "")[: -len("{}")]
            deleted = await store.clear_matching(f"{self.prefix}:cache:*", tags, marker, ttl)
            if channel:
                await store.publish(channel, "c")

        await self._drop(delete, "c")
        return deleted

    def _forget_flights(self, tags: set[str] | None) -> None:
        """Later calls must not join computations begun before an invalidation (``None``: all).

        Callers already joined keep waiting for theirs; the leaders finish as usual.
        """
        for fn in self.functions:
            if tags is None or tags.intersection(fn.tags):
                fn.inflight.clear()

    async def _drop(
        self, action: Callable[[RemoteStore], Awaitable[Any]], message: str, key: str | None = None
    ) -> bool:
        if self.local is not None:
            if key is not None:
                self.local.delete(key)
            return True
        assert self.store is not None  # one of local/store is always set
        if self._closed:
            return False
        if self.l1 is not None:
            self._forget(message)
        try:
            await action(self.store)
        except BACKEND_ERRORS as exc:
            self.failed(exc, "invalidation")
            return False
        if self.l1 is not None:
            # again: a read that began before the deletion and ended after the first forget
            # may have put the old value back meanwhile
            self._forget(message)
        return True

    def _forget(self, message: str) -> None:
        assert self.l1 is not None
        forget(self.l1, message)

    # ------------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        """Cancel background refreshes and the listener, and close a client this cache built.

        Decorated functions keep working after close, uncached on Redis (they run directly).
        """
        self._closed = True
        self.outage.until = float("inf")  # decorated functions skip Redis from now on
        await self.outage.aclose()
        if self._feed is not None:
            await self._feed.aclose()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._owned is not None:
            client: Any = self._owned
            self._owned = None
            await close_redis(client)

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @staticmethod
    def now() -> float:
        """Wall-clock seconds (freshness is compared across processes)."""
        return time.time()
