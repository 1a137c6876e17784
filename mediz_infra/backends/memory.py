"""An in-memory stand-in for ``redis.asyncio.Redis``, for tests, the demo and single-process apps.

:class:`MemoryRedis` implements the subset of the Redis client that mediz-infra's components use
(the :class:`~mediz_infra.backends.protocols.KeyValueClient` protocol) and passes the same contract
tests as a real server: values come back as ``bytes`` (or ``str`` with ``decode_responses=True``),
type errors are redis-py's ``ResponseError("WRONGTYPE ...")``, and keys expire lazily on a
monotonic clock that tests can replace.

``memory://name`` gives a view on one store shared by everything in the process that names it
(so an app's components, or a test and the app under test, see the same keys); ``memory://``
gives a fresh store. There are no locks: each method finishes without awaiting, so it is atomic
within the one event loop, like a command on a single-threaded server.

Not for: several processes (each has its own memory), Lua scripts, pub/sub delivery, or data
that must survive a restart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ._memory_codec import encode, glob_regex
from ._memory_hashes import HashCommands
from ._memory_keys import KeyCommands
from ._memory_lists import ListCommands
from ._memory_sets import SetCommands
from ._memory_store import TYPE_NAMES, Store
from ._memory_strings import StringCommands
from ._memory_zsets import SortedSetCommands

if TYPE_CHECKING:
    from redis.typing import EncodableT, KeyT

__all__ = ["MemoryRedis"]


class MemoryRedis(
    StringCommands, KeyCommands, HashCommands, SetCommands, SortedSetCommands, ListCommands
):
    """An in-memory, single-process stand-in for ``redis.asyncio.Redis``.

    Use it through ``create_redis("memory://name")`` (a shared named store) or
    ``create_redis("memory://")`` (a fresh one), or build one directly. Every method matches
    redis-py's name, arguments and return values for the commands listed in
    :class:`~mediz_infra.backends.protocols.KeyValueClient`.

    Args:
        decode_responses: return ``str`` instead of ``bytes``, like redis-py's option.
        clock: a monotonic clock in seconds used for expiry; tests may replace it (also later,
            through the ``clock`` attribute) to move time forward without sleeping.

    Raises:
        redis.exceptions.ResponseError: the same errors a server replies with (``WRONGTYPE``,
            not an integer, invalid expire time, syntax error).
        redis.exceptions.DataError: a value of a type redis-py refuses to encode (``bool``).
    """

    _shared: ClassVar[dict[str, Store]] = {}

    def __init__(
        self,
        *,
        decode_responses: bool = False,
        clock: Callable[[], float] = time.monotonic,
        _store: Store | None = None,
        _name: str | None = None,
    ) -> None:
        self._store = _store if _store is not None else Store(clock)
        self._name = _name
        self.decode_responses = decode_responses

    @classmethod
    def shared(cls, name: str, *, decode_responses: bool = False) -> MemoryRedis:
        """A client on the process-wide store called ``name`` (created on first use)."""
        store = cls._shared.get(name)
        if store is None:
            store = cls._shared[name] = Store(time.monotonic)
        return cls(decode_responses=decode_responses, _store=store, _name=name)

    @classmethod
    def drop_shared(cls, name: str | None = None) -> None:
        """Forget the shared store ``name`` (all of them with None); later users get a fresh one.

        Clients already holding the store keep it. Meant for test isolation.
        """
        if name is None:
            cls._shared.clear()
        else:
            cls._shared.pop(name, None)

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock (seconds) deciding expiry; shared by every view on the store."""
        return self._store.clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self._store.clock = value

    def __repr__(self) -> str:
        where = f"memory://{self._name}" if self._name else "memory://"
        return f"<MemoryRedis {where} keys={len(self._store.data)}>"

    # -- keyspace and server ------------------------------------------------------------

    async def scan_iter(
        self,
        match: KeyT | None = None,
        count: int | None = None,
        _type: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Yield every live key matching the Redis glob ``match`` (of type ``_type``).

        Works on a snapshot of the key names, so writing while iterating is safe; like SCAN, a
        key added meanwhile may or may not be seen.
        """
        pattern = glob_regex(encode(match)) if match is not None else None
        for key in list(self._store.data):
            value = self._lookup(key)
            if value is None or (pattern is not None and not pattern.fullmatch(key)):
                continue
            if _type is not None and TYPE_NAMES[type(value)] != _type.lower():
                continue
            yield self._out(key)

    async def publish(self, channel: KeyT, message: EncodableT, **kwargs: Any) -> int:
        """Accept and drop the message: the memory backend has no subscribers. Returns 0."""
        encode(channel), encode(message)
        return 0

    async def ping(self, **kwargs: Any) -> bool:
        return True

    async def flushdb(self, asynchronous: bool = False, **kwargs: Any) -> bool:
        self._store.data.clear()
        self._store.expires.clear()
        return True

    async def info(self, section: str | None = None, *args: str, **kwargs: Any) -> dict[str, Any]:
        """A few INFO fields, enough for health checks: version, mode, policy and key counts."""
        live = [k for k in list(self._store.data) if self._lookup(k) is not None]
        expiring = sum(k in self._store.expires for k in live)
        return {
            "redis_version": "memory",
            "redis_mode": "memory",
            "maxmemory_policy": "noeviction",
            "db0": {"keys": len(live), "expires": expiring, "avg_ttl": 0},
        }

    async def config_get(
        self, pattern: KeyT = "*", *args: KeyT, **kwargs: Any
    ) -> dict[str | None, str | None]:
        """The memory backend's settings: it never evicts (``maxmemory-policy noeviction``)."""
        settings = {"maxmemory": "0", "maxmemory-policy": "noeviction"}
        patterns = [glob_regex(encode(p)) for p in (pattern, *args)]
        return {k: v for k, v in settings.items() if any(p.fullmatch(k.encode()) for p in patterns)}

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Nothing to release; the keys stay (a shared store outlives its clients)."""

    async def close(self, close_connection_pool: bool | None = None) -> None:
        """Alias of :meth:`aclose`."""
