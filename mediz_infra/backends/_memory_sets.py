"""MemoryRedis commands on sets: SADD, SREM, SMEMBERS, SISMEMBER and SCARD."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ._memory_codec import encode
from ._memory_store import SetValue, StoreView

if TYPE_CHECKING:
    from redis.typing import EncodableT, KeyT

__all__ = ["SetCommands"]


class SetCommands(StoreView):
    """SADD, SREM, SMEMBERS, SISMEMBER and SCARD."""

    async def sadd(self, name: KeyT, *values: EncodableT) -> int:
        key = encode(name)
        members = self._create(key, SetValue)
        before = len(members)
        members.update(encode(v) for v in values)
        self._written(key, members)
        return len(members) - before

    async def srem(self, name: KeyT, *values: EncodableT) -> int:
        key = encode(name)
        members = self._get(key, SetValue)
        if members is None:
            return 0
        before = len(members)
        members.difference_update(encode(v) for v in values)
        self._written(key, members)
        return before - len(members)

    async def smembers(self, name: KeyT) -> set[bytes | str]:
        return {self._out(m) for m in self._get(encode(name), SetValue) or ()}

    async def sismember(self, name: KeyT, value: str) -> Literal[0, 1]:
        members = self._get(encode(name), SetValue)
        return 1 if members is not None and encode(value) in members else 0

    async def scard(self, name: KeyT) -> int:
        return len(self._get(encode(name), SetValue) or ())
