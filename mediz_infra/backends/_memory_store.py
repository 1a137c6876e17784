"""The keyspace behind MemoryRedis: typed values, lazy expiry on a clock, blocked poppers.

A :class:`Store` holds the keys one or more views share (``memory://name``); :class:`StoreView`
is the base of every command group, with the primitives they share: look a key up (expiring it
when its deadline has passed on the store's clock), check its type (``WRONGTYPE``), create it,
and account for a write (an emptied collection is deleted, as on a server, and now and then the
expired keys nobody reads again are swept).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import ResponseError

__all__ = [
    "TYPE_NAMES",
    "HashValue",
    "ListValue",
    "SetValue",
    "Store",
    "StoreView",
    "Value",
    "ZSetValue",
]

_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
_PURGE_EVERY = 1000  # writes between sweeps of expired keys nobody reads again


class HashValue(dict[bytes, bytes]):
    pass


class SetValue(set[bytes]):
    pass


class ZSetValue(dict[bytes, float]):
    pass


class ListValue(deque[bytes]):
    pass


Value = bytes | HashValue | SetValue | ZSetValue | ListValue
_C = TypeVar("_C", bytes, HashValue, SetValue, ZSetValue, ListValue)
TYPE_NAMES: dict[type, str] = {
    bytes: "string",
    HashValue: "hash",
    SetValue: "set",
    ZSetValue: "zset",
    ListValue: "list",
}


class Store:
    """The keyspace one or more :class:`MemoryRedis` views share."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.data: dict[bytes, Value] = {}
        self.expires: dict[bytes, float] = {}  # key -> deadline on `clock`
        self.clock = clock
        self.writes = 0
        self.waiters: list[asyncio.Future[None]] = []  # BLPOP/BRPOP callers

    def wake(self) -> None:
        for fut in self.waiters:
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_result(None)
        self.waiters.clear()


class StoreView:
    """The base of every MemoryRedis command group: one store, seen decoded or not."""

    _store: Store
    decode_responses: bool

    def _out(self, raw: bytes) -> bytes | str:
        return raw.decode() if self.decode_responses else raw

    def _lookup(self, key: bytes) -> Value | None:
        store = self._store
        value = store.data.get(key)
        if value is not None and key in store.expires and store.expires[key] <= store.clock():
            del store.data[key], store.expires[key]
            return None
        return value

    def _get(self, key: bytes, kind: type[_C]) -> _C | None:
        value = self._lookup(key)
        if value is None:
            return None
        if type(value) is not kind:
            raise ResponseError(_WRONGTYPE)
        return value

    def _create(self, key: bytes, kind: type[_C]) -> _C:
        value = self._get(key, kind)
        if value is None:
            value = kind()
            self._store.data[key] = value
        return value

    def _written(self, key: bytes, container: Value | None = None) -> None:
        """Drop an emptied container (Redis deletes empty collections) and sweep now and then."""
        store = self._store
        if container is not None and not container:
            store.data.pop(key, None)
            store.expires.pop(key, None)
        store.writes += 1
        if store.writes % _PURGE_EVERY == 0:
            now = store.clock()
            for name in [k for k, deadline in store.expires.items() if deadline <= now]:
                store.data.pop(name, None)
                del store.expires[name]

    def _set_deadline(self, key: bytes, seconds: float) -> None:
        self._store.expires[key] = self._store.clock() + seconds

    def _remaining(self, key: bytes) -> float | None:
        """Seconds to live; None without expiry. The key must exist."""
        deadline = self._store.expires.get(key)
        return None if deadline is None else max(0.0, deadline - self._store.clock())
