"""The contracts backends share: what a component may call on a key-value client.

:class:`KeyValueClient` is the subset of ``redis.asyncio.Redis`` that mediz-infra's components use.
Both ``redis.asyncio.Redis`` and :class:`~mediz_infra.backends.memory.MemoryRedis` satisfy it
(mypy checks both at the bottom of this module), so a component typed against it runs unchanged
on a real server or in memory. Argument and return types are redis-py's own, so values may be
``bytes`` or ``str`` (``decode_responses``).

Not in the protocol: Lua scripts, pipelines, pub/sub and streams. A component that needs them
takes a ``redis.asyncio.Redis`` (or checks for one) and says so in its docs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.typing import AnyKeyT, EncodableT, ExpiryT, KeysT, KeyT, ZScoreBoundT

    from .memory import MemoryRedis

__all__ = ["KeyValueClient"]

_Members = set[bytes | str]  # named here: inside the class, `set` is the SET command


class KeyValueClient(Protocol):
    """The Redis commands components may use; redis-py's signatures, trimmed to what we use.

    Every method returns an awaitable, as on ``redis.asyncio.Redis``. Options a method does
    not list here (``SET ... EXAT``, ``ZRANGE ... BYLEX``) may exist on the real client but are
    not part of the contract and are not implemented in memory.
    """

    # strings and keys
    def get(self, name: KeyT) -> Awaitable[bytes | str | None]: ...

    def set(
        self,
        name: KeyT,
        value: EncodableT,
        ex: ExpiryT | None = None,
        px: ExpiryT | None = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
    ) -> Awaitable[bool | str | bytes | None]: ...

    def mget(self, keys: KeysT, *args: EncodableT) -> Awaitable[list[bytes | str | None]]: ...

    def delete(self, *names: KeyT) -> Awaitable[int]: ...

    def exists(self, *names: KeyT) -> Awaitable[int]: ...

    def incr(self, name: KeyT, amount: int = 1) -> Awaitable[int]: ...

    def incrby(self, name: KeyT, amount: int = 1) -> Awaitable[int]: ...

    def decr(self, name: KeyT, amount: int = 1) -> Awaitable[int]: ...

    def decrby(self, name: KeyT, amount: int = 1) -> Awaitable[int]: ...

    def expire(
        self,
        name: KeyT,
        time: ExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Awaitable[bool]: ...

    def pexpire(
        self,
        name: KeyT,
        time: ExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Awaitable[bool]: ...

    def ttl(self, name: KeyT) -> Awaitable[int]: ...

    def pttl(self, name: KeyT) -> Awaitable[int]: ...

    def persist(self, name: KeyT) -> Awaitable[bool]: ...

    # hashes
    def hget(self, name: KeyT, key: EncodableT) -> Awaitable[bytes | str | None]: ...

    def hset(
        self,
        name: KeyT,
        key: EncodableT | None = None,
        value: EncodableT | None = None,
        mapping: Mapping[EncodableT, EncodableT] | None = None,
    ) -> Awaitable[int]: ...

    def hgetall(self, name: KeyT) -> Awaitable[dict[bytes | str, bytes | str]]: ...

    def hdel(self, name: KeyT, *keys: EncodableT) -> Awaitable[int]: ...

    def hincrby(self, name: KeyT, key: EncodableT, amount: int = 1) -> Awaitable[int]: ...

    # sets
    def sadd(self, name: KeyT, *values: EncodableT) -> Awaitable[int]: ...

    def srem(self, name: KeyT, *values: EncodableT) -> Awaitable[int]: ...

    def smembers(self, name: KeyT) -> Awaitable[_Members]: ...

    def sismember(self, name: KeyT, value: str) -> Awaitable[int]: ...

    def scard(self, name: KeyT) -> Awaitable[int]: ...

    # sorted sets
    def zadd(
        self,
        name: KeyT,
        mapping: Mapping[AnyKeyT, EncodableT],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Awaitable[int | float | None]: ...

    def zrem(self, name: KeyT, *values: EncodableT) -> Awaitable[int]: ...

    def zrange(
        self, name: KeyT, start: int, end: int, desc: bool = False, withscores: bool = False
    ) -> Awaitable[list[Any]]: ...

    def zrangebyscore(
        self,
        name: KeyT,
        min: ZScoreBoundT,
        max: ZScoreBoundT,
        start: int | None = None,
        num: int | None = None,
        withscores: bool = False,
    ) -> Awaitable[list[Any]]: ...

    def zremrangebyscore(
        self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT
    ) -> Awaitable[int]: ...

    def zcard(self, name: KeyT) -> Awaitable[int]: ...

    def zscore(self, name: KeyT, value: EncodableT) -> Awaitable[float | None]: ...

    # lists
    def lpush(self, name: KeyT, *values: EncodableT) -> Awaitable[int]: ...

    def rpush(self, name: KeyT, *values: EncodableT) -> Awaitable[int]: ...

    def lpop(
        self, name: KeyT, count: int | None = None
    ) -> Awaitable[bytes | str | list[bytes | str] | None]: ...

    def rpop(
        self, name: KeyT, count: int | None = None
    ) -> Awaitable[bytes | str | list[bytes | str] | None]: ...

    def blpop(
        self, keys: KeysT, timeout: float | None = 0
    ) -> Awaitable[tuple[bytes | str, bytes | str] | list[bytes | str] | None]: ...

    def brpop(
        self, keys: KeysT, timeout: float | None = 0
    ) -> Awaitable[tuple[bytes | str, bytes | str] | list[bytes | str] | None]: ...

    def llen(self, name: KeyT) -> Awaitable[int]: ...

    def lrange(self, name: KeyT, start: int, end: int) -> Awaitable[list[bytes | str]]: ...

    # keyspace and server
    def scan_iter(
        self, match: KeyT | None = None, count: int | None = None, _type: str | None = None
    ) -> AsyncIterator[Any]: ...

    def publish(self, channel: KeyT, message: EncodableT) -> Awaitable[int]: ...

    def ping(self) -> Awaitable[bool]: ...

    def flushdb(self, asynchronous: bool = False) -> Awaitable[bool]: ...

    def info(self, section: str | None = None) -> Awaitable[dict[str, Any]]: ...

    def config_get(self, pattern: KeyT = "*") -> Awaitable[dict[str | None, str | None]]: ...

    def aclose(self) -> Awaitable[None]: ...


if TYPE_CHECKING:  # keep the protocol honest: mypy fails here if either client drifts from it

    def _redis_conforms(client: Redis) -> KeyValueClient:
        return client

    def _memory_conforms(client: MemoryRedis) -> KeyValueClient:
        return client
