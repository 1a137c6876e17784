"""Values by key: ``await cache.get(key)``, ``set``, ``delete``, beside the decorator.

For what is not the result of one function call: a flag, the last report's summary, a token
fetched by hand. The values share the cache's backend, serializer, ``max_size``, timeouts and
fail-open behaviour, and live under ``{prefix}:cache:{version}:kv:{<key>}``, a segment no
decorated function's key can take, so ``clear()`` removes them too. They are never put in the L1:
nothing tells other processes' L1s about a ``set``.

Fail-open as everywhere in the cache: when Redis errors or is skipped during a back-off, ``get``
returns the default, ``set`` and ``delete`` return ``False``, each failure counted and logged
without flooding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..backends import BACKEND_ERRORS
from ..errors import ConfigError
from .entry import Entry, pack, unpack
from .serializers import CacheValueRejected, Serializer, frozen_copier

if TYPE_CHECKING:
    from ..backends import Outage
    from .local import LocalStore
    from .stats import CacheStats
    from .store import RemoteStore

__all__ = ["KeyValues"]


class KeyValues:
    """The ``get``/``set``/``delete`` half of :class:`~mediz_infra.cache.Cache` (a mixin)."""

    namespace: str
    serializer: Serializer
    max_size: int
    local: LocalStore | None
    store: RemoteStore | None
    outage: Outage
    _own_stats: CacheStats
    failed: Callable[[BaseException, str], None]

    def value_key(self, key: str) -> str:
        """Where ``key`` is stored.

        Raises:
            ConfigError: ``key`` is not a non-empty string.
        """
        if not isinstance(key, str) or not key:
            raise ConfigError("key", f"expected a non-empty string, got {key!r}")
        return f"{self.namespace}:kv:{{{key}}}"

    def _reachable(self) -> bool:
        outage = self.outage
        if outage.until and outage.down():
            self._own_stats.bypassed += 1
            return False
        return True

    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` (your own copy), or ``default``.

        ``default`` also when Redis cannot be reached, or the stored bytes no longer decode
        (counted in ``stats.rejected``).
        """
        stored = self.value_key(key)
        stats = self._own_stats
        if self.local is not None:
            entry = self.local.peek(stored)
            if entry is None:
                stats.misses += 1
                return default
            stats.hits += 1
            return entry.copier()
        assert self.store is not None
        if not self._reachable():
            return default
        try:
            raw, _ = await self.store.get(stored, ())
        except BACKEND_ERRORS as exc:
            self.failed(exc, "get")
            return default
        entry = unpack(raw) if raw is not None else None
        if entry is None:
            stats.misses += 1
            return default
        try:
            value = self.serializer.loads(entry.payload)
        except (CacheValueRejected, ValueError, TypeError, EOFError):
            stats.rejected += 1
            stats.misses += 1
            return default
        stats.hits += 1
        return value

    async def set(self, key: str, value: Any, ttl: float) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds; whether it was stored.

        Raises:
            ConfigError: ``ttl`` is not positive, or ``key`` is not a non-empty string.
            TypeError: the serializer cannot encode ``value`` (a bug in the caller, unlike a
                backend failure, so it is raised, not swallowed).
        """
        if not ttl > 0:
            raise ConfigError("ttl", f"must be positive, got {ttl!r}")
        stored = self.value_key(key)
        payload = self.serializer.dumps(value)
        if len(payload) > self.max_size:
            self._own_stats.unstorable += 1
            return False
        expires = time.time() + ttl
        if self.local is not None:
            copier = frozen_copier(self.serializer.loads(payload))
            self.local.put(stored, Entry(expires, 0.0, b"", b"", copier), ttl)
            return True
        assert self.store is not None
        if not self._reachable():
            return False
        try:
            await self.store.set(stored, pack(payload, expires, 0.0, b""), ttl)
        except BACKEND_ERRORS as exc:
            self.failed(exc, "set")
            return False
        return True

    async def delete(self, key: str) -> bool:
        """Drop ``key``; whether a value was there (``False`` too when Redis is unreachable)."""
        stored = self.value_key(key)
        if self.local is not None:  # not LocalStore.delete: this is no function invalidation
            return self.local.data.pop(stored, None) is not None
        assert self.store is not None
        if not self._reachable():
            return False
        try:
            return bool(await self.store.delete(stored))
        except BACKEND_ERRORS as exc:
            self.failed(exc, "delete")
            return False

