"""MemoryRedis commands on keys whatever their type: DEL, EXISTS and the TTL family."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from ._memory_codec import as_millis, encode
from ._memory_store import StoreView

if TYPE_CHECKING:
    from redis.typing import ExpiryT, KeyT

__all__ = ["KeyCommands"]


class KeyCommands(StoreView):
    """DEL, EXISTS, EXPIRE, PEXPIRE, TTL, PTTL and PERSIST on the store's clock."""

    async def delete(self, *names: KeyT) -> int:
        removed = 0
        for name in names:
            key = encode(name)
            if self._lookup(key) is not None:
                del self._store.data[key]
                self._store.expires.pop(key, None)
                removed += 1
        if removed:
            self._written(b"")
        return removed

    async def exists(self, *names: KeyT) -> int:
        return sum(self._lookup(encode(name)) is not None for name in names)

    async def _expire(
        self, name: KeyT, seconds: float, nx: bool, xx: bool, gt: bool, lt: bool
    ) -> bool:
        key = encode(name)
        if self._lookup(key) is None:
            return False
        current = self._remaining(key)
        if (nx and current is not None) or (xx and current is None):
            return False
        if (gt and (current is None or seconds <= current)) or (
            lt and current is not None and seconds >= current
        ):
            return False
        if seconds <= 0:
            del self._store.data[key]
            self._store.expires.pop(key, None)
        else:
            self._set_deadline(key, seconds)
        self._written(key)
        return True

    async def expire(
        self,
        name: KeyT,
        time: ExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> bool:
        seconds = int(time.total_seconds()) if isinstance(time, timedelta) else int(time)
        return await self._expire(name, seconds, nx, xx, gt, lt)

    async def pexpire(
        self,
        name: KeyT,
        time: ExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> bool:
        return await self._expire(name, int(as_millis(time)) / 1000, nx, xx, gt, lt)

    async def pttl(self, name: KeyT) -> int:
        key = encode(name)
        if self._lookup(key) is None:
            return -2
        remaining = self._remaining(key)
        return -1 if remaining is None else round(remaining * 1000)

    async def ttl(self, name: KeyT) -> int:
        millis = await self.pttl(name)
        return millis if millis < 0 else (millis + 500) // 1000

    async def persist(self, name: KeyT) -> bool:
        key = encode(name)
        if self._lookup(key) is None or key not in self._store.expires:
            return False
        del self._store.expires[key]
        return True
