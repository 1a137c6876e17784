"""Where the counts of every process meet: the store protocol, its memory and Redis stores.

A store knows two operations: add a batch of counter increments (hash field ``+= n``, each key
with its TTL) and read hashes back. Everything else (which keys, what they mean, the quantiles)
is the schema's (:mod:`.keys`) and the reader's (:mod:`.snapshot`), so the memory store used by
the demo and unit tests and the Redis store shared by all processes run the same code above them
and pass one contract suite.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..backends import Outage, redis_probe
from ..backends.redis import RedisClient, create_redis
from ..errors import ConfigError
from .keys import KeySchema

__all__ = [
    "Increments",
    "MemoryMetricsStore",
    "MetricsStore",
    "RedisMetricsStore",
    "Retention",
    "metrics_store",
]

log = logging.getLogger("mediz_infra.metrics")

Increments = dict[str, dict[str, int]]
"""``{key: {field: amount}}``: what one flush adds."""


class Retention:
    """How long each kind of key lives (seconds).

    Args:
        seconds: per-second buckets (the live charts read the last minute or two).
        minutes: per-minute buckets (the hour chart and the route table).
        total: the running totals behind ``/metrics``; refreshed by every flush.
    """

    __slots__ = ("minutes", "seconds", "total")

    def __init__(
        self, *, seconds: int = 180, minutes: int = 2 * 3600, total: int = 7 * 86400
    ) -> None:
        for name, value in (("seconds", seconds), ("minutes", minutes), ("total", total)):
            if value < 1:
                raise ConfigError(f"retention.{name}", f"expected seconds >= 1, got {value!r}")
        self.seconds = seconds
        self.minutes = minutes
        self.total = total

    def ttl(self, key: str) -> int:
        kind = key.rsplit("}", 1)[-1][1:2]
        if kind == "s":
            return self.seconds
        if kind == "m":
            return self.minutes
        return self.total


@runtime_checkable
class MetricsStore(Protocol):
    """What the recorder writes to and the reader reads from.

    Attributes:
        schema: the key names.
        retention: the TTL of each kind of key.
        outage: the store's shared back-off (see :class:`~mediz_infra.backends.Outage`).
    """

    schema: KeySchema
    retention: Retention
    outage: Outage

    async def apply(self, increments: Increments) -> None:
        """Add every amount to its field, atomically, and (re)set each key's TTL.

        Raises:
            One of :data:`~mediz_infra.backends.BACKEND_ERRORS` when the backend fails.
        """
        ...

    async def read(self, keys: Sequence[str]) -> list[dict[str, int]]:
        """The hashes at ``keys`` (``{}`` for a missing one), in order."""
        ...

    async def aclose(self) -> None:
        """Release what the store owns."""
        ...


class MemoryMetricsStore:
    """The in-process store: one process only (the demo, unit tests, a single worker).

    Args:
        prefix: the key prefix (as the Redis store's, so key names read the same).
        retention: the TTLs.
        clock: ``time.monotonic``-like seconds for the TTLs; injectable for tests.
    """

    def __init__(
        self,
        *,
        prefix: str = "mediz",
        retention: Retention | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.schema = KeySchema(prefix)
        self.retention = retention or Retention()
        self.outage = Outage("metrics memory store", log_every=None)
        self._clock = clock
        self._hashes: dict[str, dict[str, int]] = {}
        self._expires: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<MemoryMetricsStore prefix={self.schema.prefix!r} keys={len(self._hashes)}>"

    async def apply(self, increments: Increments) -> None:
        now = self._clock()
        self._expire(now)
        for key, fields in increments.items():
            target = self._hashes.setdefault(key, {})
            for field, amount in fields.items():
                target[field] = target.get(field, 0) + amount
            self._expires[key] = now + self.retention.ttl(key)

    async def read(self, keys: Sequence[str]) -> list[dict[str, int]]:
        self._expire(self._clock())
        return [dict(self._hashes.get(key, {})) for key in keys]

    def _expire(self, now: float) -> None:
        for key in [k for k, at in self._expires.items() if at <= now]:
            del self._expires[key]
            self._hashes.pop(key, None)

    async def aclose(self) -> None:
        self._hashes.clear()
        self._expires.clear()


class RedisMetricsStore:
    """The store shared by every process: hashes on Redis, one ``MULTI`` pipeline per flush.

    Args:
        client: the app's Redis client (``Redis`` or ``RedisCluster``, from ``create_redis``).
        prefix: the key prefix; every key shares the hash tag ``{<prefix>:metrics}``.
        retention: the TTLs.
        timeout: seconds a probe may take while the store is down.
        owned: close the client in :meth:`aclose` (set when the store built it from a URL).
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "mediz",
        retention: Retention | None = None,
        timeout: float = 0.5,
        owned: bool = False,
    ) -> None:
        self.client: Any = client
        self.schema = KeySchema(prefix)
        self.retention = retention or Retention()
        self.outage = Outage(
            f"metrics store {prefix!r}",
            probe=redis_probe(client, timeout),
            timeout=timeout,
            backoff=1.0,
            logger=log,
            degraded="keeping counts in process",
        )
        self._owned = owned

    def __repr__(self) -> str:
        return f"<RedisMetricsStore prefix={self.schema.prefix!r}>"

    async def apply(self, increments: Increments) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            for key, fields in increments.items():
                for field, amount in fields.items():
                    pipe.hincrby(key, field, amount)
                pipe.expire(key, self.retention.ttl(key))
            await pipe.execute()

    async def read(self, keys: Sequence[str]) -> list[dict[str, int]]:
        if not keys:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            replies = await pipe.execute()
        return [{_text(k): int(v) for k, v in reply.items()} for reply in replies]

    async def aclose(self) -> None:
        await self.outage.aclose()
        if self._owned:
            await self.client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def metrics_store(
    storage: str | RedisClient | MetricsStore, *, prefix: str = "mediz", **options: Any
) -> MetricsStore:
    """A store from a URL (``memory://``, ``redis://...``), a Redis client, or a store as is.

    Raises:
        ConfigError: an unknown scheme or a malformed Redis URL (the message says which).
    """
    if isinstance(storage, str):
        if storage.partition("://")[0].lower() == "memory":
            return MemoryMetricsStore(prefix=prefix, **options)
        client = create_redis(storage, field_name="storage")
        return RedisMetricsStore(client, prefix=prefix, owned=True, **options)
    if isinstance(storage, MetricsStore):
        return storage
    return RedisMetricsStore(storage, prefix=prefix, **options)
