"""MemoryRedis commands on string values: GET, SET (with its options), MGET and counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.exceptions import DataError, ResponseError

from ._memory_codec import INT64, as_millis, as_seconds, encode, key_list, to_int
from ._memory_store import StoreView

if TYPE_CHECKING:
    from redis.typing import EncodableT, ExpiryT, KeysT, KeyT

__all__ = ["StringCommands"]


class StringCommands(StoreView):
    """GET, SET, MGET and INCRBY/INCR/DECRBY/DECR."""

    async def get(self, name: KeyT) -> bytes | str | None:
        value = self._get(encode(name), bytes)
        return None if value is None else self._out(value)

    async def set(
        self,
        name: KeyT,
        value: EncodableT,
        ex: ExpiryT | None = None,
        px: ExpiryT | None = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
    ) -> bool | str | bytes | None:
        key, raw = encode(name), encode(value)
        if nx and xx:
            raise DataError("``nx`` and ``xx`` are mutually exclusive.")
        if (ex is not None and px is not None) or (keepttl and (ex is not None or px is not None)):
            raise DataError("``ex``, ``px`` and ``keepttl`` are mutually exclusive.")
        ttl = as_seconds(ex) if ex is not None else as_millis(px) / 1000 if px is not None else None
        if ttl is not None and ttl <= 0:
            raise ResponseError("invalid expire time in 'set' command")
        old = self._get(key, bytes) if get else self._lookup(key)
        reply = self._out(old) if get and isinstance(old, bytes) else None
        if (nx and old is not None) or (xx and old is None):
            return reply
        store = self._store
        store.data[key] = raw
        if ttl is not None:
            self._set_deadline(key, ttl)
        elif not keepttl:
            store.expires.pop(key, None)
        self._written(key)
        return reply if get else True

    async def mget(self, keys: KeysT, *args: EncodableT) -> list[bytes | str | None]:
        names = [*key_list(keys), *(encode(a) for a in args)]
        out: list[bytes | str | None] = []
        for key in names:
            value = self._lookup(key)
            out.append(self._out(value) if isinstance(value, bytes) else None)
        return out

    async def incrby(self, name: KeyT, amount: int = 1) -> int:
        key = encode(name)
        current = self._get(key, bytes)
        number = (0 if current is None else to_int(current)) + amount
        if not INT64[0] <= number <= INT64[1]:
            raise ResponseError("increment or decrement would overflow")
        self._store.data[key] = str(number).encode()
        self._written(key)
        return number

    async def incr(self, name: KeyT, amount: int = 1) -> int:
        return await self.incrby(name, amount)

    async def decrby(self, name: KeyT, amount: int = 1) -> int:
        return await self.incrby(name, -amount)

    async def decr(self, name: KeyT, amount: int = 1) -> int:
        return await self.incrby(name, -amount)
