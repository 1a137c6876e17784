"""The Redis counter store: one ``EVALSHA`` per decision, on the app's own client.

It takes the client :func:`~mediz_infra.backends.create_redis` built (standalone, Sentinel or
Cluster), so the rate limiter shares the app's one bounded pool and its retry policy. Every key
of a decision shares one hash tag, so the script runs unchanged on Cluster. The script runs
through :class:`~mediz_infra.backends.redis.LuaScript`, which answers ``NOSCRIPT`` (after
``SCRIPT FLUSH``, a restart or a failover) by sending the script once more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from ..backends.redis import LuaScript

__all__ = ["SCRIPT", "SCRIPT_SHA", "RedisStore"]

SCRIPT = files("mediz_infra").joinpath("_lua/ratelimit.lua").read_text(encoding="utf-8")
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()


class RedisStore:
    """Counters on Redis, decided by ``mediz_infra/_lua/ratelimit.lua``.

    Args:
        client: a ``redis.asyncio`` ``Redis`` or ``RedisCluster`` (from ``create_redis``).
        owned: close the client in :meth:`aclose` (set when the store built it from a URL).
    """

    def __init__(self, client: Any, *, owned: bool = False) -> None:
        self.client = client
        self._owned = owned
        self._script = LuaScript(client, SCRIPT)

    async def decide(self, keys: Sequence[str], args: Sequence[str | int]) -> list[int]:
        """See :class:`~mediz_infra.ratelimit.store.LimiterStore`; raises redis-py's errors."""
        reply = await self._script(keys, args)
        return [int(x) for x in reply.split()]

    async def aclose(self) -> None:
        """Close the client when this store owns it."""
        if self._owned:
            await self.client.aclose()
