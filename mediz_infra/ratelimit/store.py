"""Where counters live: the store protocol and the factory from a URL or a client.

A store answers one question, :meth:`LimiterStore.decide`, for every limit of a rule at once,
with the same arguments the Lua script takes, so the Redis and memory paths cannot drift apart
(one contract suite runs on both). ``redis://``, ``rediss://``, ``unix://``,
``redis+sentinel://`` and ``redis+cluster://`` URLs go through
:func:`mediz_infra.backends.create_redis` (one pool shared with the rest of the app when you
pass the client you already have); ``memory://`` is a private in-process store and
``memory://name`` the process-wide one called ``name``. Any other
``limits`` storage (``async+memcached://``, a ``limits.aio`` storage object) goes through
:class:`~mediz_infra.ratelimit.limits_store.LimitsStore`, with ``limits``' own strategies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import limits.aio.storage

from .._urls import parse_url
from ..backends.redis import RedisClient, create_redis
from .limits_store import LimitsStore
from .memory_store import MemoryStore
from .redis_store import RedisStore

__all__ = ["LimiterStore", "store_for"]


@runtime_checkable
class LimiterStore(Protocol):
    """A counter store: one atomic decision for every limit of a rule.

    ``args`` is ``(strategy code, cost, amount_1, window_us_1, 0, ...)`` (for GCRA
    ``(..., interval_1, tick_ns_1, burst_1, ...)``, see :func:`.gcra.emission`) and the reply
    ``[allowed, remaining_1, reset_ms_1, retry_ms_1, ...]``, exactly as in
    ``mediz_infra/_lua/ratelimit.lua``.
    """

    async def decide(self, keys: Sequence[str], args: Sequence[str | int]) -> list[int]:
        """Check every limit, write them all only when all allow, and report each one."""
        ...

    async def aclose(self) -> None:
        """Release connections this store owns (none when it was handed a client)."""
        ...


_named_memory_stores: dict[str, MemoryStore] = {}


def store_for(
    storage: str | RedisClient | LimiterStore | limits.aio.storage.Storage,
    *,
    field_name: str = "storage",
) -> tuple[LimiterStore, bool]:
    """The store for a URL, a client from :func:`~mediz_infra.backends.create_redis`, or a store.

    Returns:
        The store, and whether the caller owns it (built from a URL: close it when done).

    Raises:
        ConfigError: the URL is malformed or its scheme unknown.
    """
    if isinstance(storage, limits.aio.storage.Storage):
        return LimitsStore(storage), False
    if isinstance(storage, str) and storage.startswith("async+"):
        return LimitsStore(storage), False
    if isinstance(storage, str):
        parsed = parse_url(storage, field_name=field_name)
        if parsed.scheme == "memory":
            if not parsed.host:
                return MemoryStore(), False
            found = _named_memory_stores.get(parsed.host)
            if found is None:
                found = _named_memory_stores[parsed.host] = MemoryStore()
            return found, False
        return RedisStore(create_redis(storage, field_name=field_name), owned=True), True
    if isinstance(storage, LimiterStore):
        return storage, False
    return RedisStore(storage), False
