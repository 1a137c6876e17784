"""MemoryRedis commands on lists: pushes, pops, the blocking BLPOP/BRPOP, LLEN and LRANGE.

A blocked pop waits on a future the store keeps; every push wakes them all, and each retries.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._memory_codec import encode, key_list
from ._memory_store import ListValue, StoreView

if TYPE_CHECKING:
    from redis.typing import EncodableT, KeysT, KeyT

__all__ = ["ListCommands"]


class ListCommands(StoreView):
    """LPUSH, RPUSH, LPOP, RPOP, BLPOP, BRPOP, LLEN and LRANGE."""

    def _push(self, name: KeyT, values: tuple[EncodableT, ...], left: bool) -> int:
        key = encode(name)
        items = self._create(key, ListValue)
        encoded = (encode(v) for v in values)
        items.extendleft(encoded) if left else items.extend(encoded)
        self._written(key, items)
        self._store.wake()
        return len(items)

    async def lpush(self, name: KeyT, *values: EncodableT) -> int:
        return self._push(name, values, left=True)

    async def rpush(self, name: KeyT, *values: EncodableT) -> int:
        return self._push(name, values, left=False)

    def _pop(self, key: bytes, count: int | None, left: bool) -> bytes | str | list[Any] | None:
        items = self._get(key, ListValue)
        if items is None:
            return None
        take = items.popleft if left else items.pop
        if count is None:
            value = take()
            self._written(key, items)
            return self._out(value)
        popped = [self._out(take()) for _ in range(min(count, len(items)))]
        self._written(key, items)
        return popped

    async def lpop(self, name: KeyT, count: int | None = None) -> bytes | str | list[Any] | None:
        return self._pop(encode(name), count, left=True)

    async def rpop(self, name: KeyT, count: int | None = None) -> bytes | str | list[Any] | None:
        return self._pop(encode(name), count, left=False)

    async def _bpop(
        self, keys: KeysT, timeout: float | None, left: bool
    ) -> tuple[bytes | str, bytes | str] | None:
        names = key_list(keys)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        while True:
            for key in names:
                items = self._get(key, ListValue)
                if items:
                    value = items.popleft() if left else items.pop()
                    self._written(key, items)
                    return self._out(key), self._out(value)
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            self._store.waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                return None
            finally:
                if waiter in self._store.waiters:
                    self._store.waiters.remove(waiter)

    async def blpop(
        self, keys: KeysT, timeout: float | None = 0
    ) -> tuple[bytes | str, bytes | str] | None:
        return await self._bpop(keys, timeout, left=True)

    async def brpop(
        self, keys: KeysT, timeout: float | None = 0
    ) -> tuple[bytes | str, bytes | str] | None:
        return await self._bpop(keys, timeout, left=False)

    async def llen(self, name: KeyT) -> int:
        return len(self._get(encode(name), ListValue) or ())

    async def lrange(self, name: KeyT, start: int, end: int) -> list[bytes | str]:
        items = list(self._get(encode(name), ListValue) or ())
        size = len(items)
        first = max(start + size if start < 0 else start, 0)
        last = min(end + size if end < 0 else end, size - 1)
        return [self._out(v) for v in items[first : last + 1]]
