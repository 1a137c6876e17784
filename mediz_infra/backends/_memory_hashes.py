"""MemoryRedis commands on hashes: HGET, HSET, HGETALL, HDEL and HINCRBY."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from redis.exceptions import DataError, ResponseError

from ._memory_codec import INT64, encode, to_int
from ._memory_store import HashValue, StoreView

if TYPE_CHECKING:
    from redis.typing import EncodableT, KeyT

__all__ = ["HashCommands"]


class HashCommands(StoreView):
    """HGET, HSET, HGETALL, HDEL and HINCRBY."""

    async def hget(self, name: KeyT, key: EncodableT) -> bytes | str | None:
        fields = self._get(encode(name), HashValue)
        value = None if fields is None else fields.get(encode(key))
        return None if value is None else self._out(value)

    async def hset(
        self,
        name: KeyT,
        key: EncodableT | None = None,
        value: EncodableT | None = None,
        mapping: Mapping[EncodableT, EncodableT] | None = None,
    ) -> int:
        pairs: list[tuple[bytes, bytes]] = []
        if key is not None:
            pairs.append((encode(key), encode(value)))
        pairs.extend((encode(k), encode(v)) for k, v in (mapping or {}).items())
        if not pairs:
            raise DataError("'hset' with no key value pairs")
        hkey = encode(name)
        fields = self._create(hkey, HashValue)
        added = 0
        for field, raw in pairs:
            added += field not in fields
            fields[field] = raw
        self._written(hkey)
        return added

    async def hgetall(self, name: KeyT) -> dict[bytes | str, bytes | str]:
        fields: Mapping[bytes, bytes] = self._get(encode(name), HashValue) or {}
        return {self._out(k): self._out(v) for k, v in fields.items()}

    async def hdel(self, name: KeyT, *keys: EncodableT) -> int:
        hkey = encode(name)
        fields = self._get(hkey, HashValue)
        if fields is None:
            return 0
        removed = sum(fields.pop(encode(k), None) is not None for k in keys)
        self._written(hkey, fields)
        return removed

    async def hincrby(self, name: KeyT, key: EncodableT, amount: int = 1) -> int:
        hkey, field = encode(name), encode(key)
        fields = self._create(hkey, HashValue)
        current = fields.get(field)
        base = 0 if current is None else to_int(current, "hash value is not an integer")
        number = base + amount
        if not INT64[0] <= number <= INT64[1]:
            raise ResponseError("increment or decrement would overflow")
        fields[field] = str(number).encode()
        self._written(hkey)
        return number
