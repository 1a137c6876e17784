"""Where the counts of every process meet: the store protocol, its memory and Redis stores.

A store knows two operations: add a batch of counter increments (hash field ``+= n``, each key
with its TTL) and read hashes back. Everything else (which keys, what they mean, the quantiles)
is the schema's (:mod:`.keys`) and the reader's (:mod:`.snapshot`), so the memory store used by
the demo and unit tests and the Redis store shared by all processes run the same code above them
and pass one contract suite.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..backends import Outage, redis_probe
from ..backends.redis import RedisClient, create_redis
from ..errors import ConfigError
from .keys import KeySchema
from .tracking import ErrorEvent

__all__ = [
    "Increments",
    "MemoryMetricsStore",
    "MetricsStore",
    "RedisMetricsStore",
    "Retention",
    "group_errors",
    "metrics_store",
]

log = logging.getLogger("mediz_infra.metrics")

Increments = dict[str, dict[str, int]]
"""``{key: {field: amount}}``: what one flush adds."""

MAX_ERRORS = 200
"""Distinct error fingerprints kept; the least recently seen go first."""


def group_errors(events: Sequence[ErrorEvent]) -> dict[str, tuple[int, float, ErrorEvent]]:
    """``{fingerprint: (count, first seen, last event)}`` of a batch of events."""
    out: dict[str, tuple[int, float, ErrorEvent]] = {}
    for event in events:
        seen = out.get(event.fingerprint)
        if seen is None:
            out[event.fingerprint] = (1, event.time, event)
        else:
            count, first, last = seen
            out[event.fingerprint] = (
                count + 1, min(first, event.time), event if event.time >= last.time else last
            )  # fmt: skip
    return out


def _error_fields(event: ErrorEvent) -> dict[str, str]:
    return {
        "last_seen": repr(event.time),
        "type": event.type,
        "message": event.message,
        "location": event.location,
        "route": event.route,
        "traceback": event.traceback,
        "context": json.dumps(dict(event.context), separators=(",", ":")),
    }


def _error_row(fingerprint: str, fields: dict[str, str]) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "type": fields.get("type", ""),
        "message": fields.get("message", ""),
        "location": fields.get("location", ""),
        "route": fields.get("route", ""),
        "count": int(fields.get("count", 0)),
        "first_seen": float(fields.get("first_seen", 0)),
        "last_seen": float(fields.get("last_seen", 0)),
        "traceback": fields.get("traceback", ""),
        "context": _context(fields.get("context", "")),
    }


def _context(text: str) -> dict[str, str]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


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

    async def apply(self, increments: Increments, errors: Sequence[ErrorEvent] = ()) -> None:
        """Add every amount to its field and record ``errors``, atomically; (re)set TTLs.

        Raises:
            One of :data:`~mediz_infra.backends.BACKEND_ERRORS` when the backend fails.
        """
        ...

    async def read_errors(self, limit: int = 50) -> list[dict[str, Any]]:
        """The tracked errors, most recently seen first."""
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
        self._errors: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"<MemoryMetricsStore prefix={self.schema.prefix!r} keys={len(self._hashes)}>"

    async def apply(self, increments: Increments, errors: Sequence[ErrorEvent] = ()) -> None:
        now = self._clock()
        self._expire(now)
        for key, fields in increments.items():
            target = self._hashes.setdefault(key, {})
            for field, amount in fields.items():
                target[field] = target.get(field, 0) + amount
            self._expires[key] = now + self.retention.ttl(key)
        for fingerprint, (count, first, last) in group_errors(errors).items():
            row = self._errors.pop(fingerprint, None) or {"first_seen": repr(first), "count": "0"}
            row["count"] = str(int(row["count"]) + count)
            row.update(_error_fields(last))
            self._errors[fingerprint] = row  # re-inserted: the dict is ordered by last seen
        while len(self._errors) > MAX_ERRORS:
            del self._errors[next(iter(self._errors))]

    async def read_errors(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = [_error_row(fp, fields) for fp, fields in self._errors.items()]
        rows.sort(key=lambda r: -r["last_seen"])
        return rows[:limit]

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
        self._errors.clear()


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

    async def apply(self, increments: Increments, errors: Sequence[ErrorEvent] = ()) -> None:
        schema, ttl = self.schema, self.retention.total
        async with self.client.pipeline(transaction=True) as pipe:
            for key, fields in increments.items():
                for field, amount in fields.items():
                    pipe.hincrby(key, field, amount)
                pipe.expire(key, self.retention.ttl(key))
            grouped = group_errors(errors)
            for fingerprint, (count, first, last) in grouped.items():
                key = schema.error(fingerprint)
                pipe.hsetnx(key, "first_seen", repr(first))
                pipe.hincrby(key, "count", count)
                pipe.hset(key, mapping=_error_fields(last))
                pipe.expire(key, ttl)
                pipe.zadd(schema.errors, {fingerprint: last.time})
            if grouped:
                pipe.zremrangebyrank(schema.errors, 0, -(MAX_ERRORS + 1))
                pipe.expire(schema.errors, ttl)
            await pipe.execute()

    async def read_errors(self, limit: int = 50) -> list[dict[str, Any]]:
        fingerprints = [
            _text(f) for f in await self.client.zrevrange(self.schema.errors, 0, limit - 1)
        ]
        if not fingerprints:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for fingerprint in fingerprints:
                pipe.hgetall(self.schema.error(fingerprint))
            replies = await pipe.execute()
        return [
            _error_row(fp, {_text(k): _text(v) for k, v in reply.items()})
            for fp, reply in zip(fingerprints, replies, strict=True)
            if reply  # expired meanwhile
        ]

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
