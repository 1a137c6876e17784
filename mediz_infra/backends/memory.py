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

import asyncio
import functools
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from redis.exceptions import DataError, ResponseError

if TYPE_CHECKING:
    from redis.typing import AnyKeyT, EncodableT, ExpiryT, KeysT, KeyT, ZScoreBoundT

__all__ = ["MemoryRedis"]

_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
_NOT_INT = "value is not an integer or out of range"
_INT64 = (-(2**63), 2**63 - 1)
_PURGE_EVERY = 1000  # writes between sweeps of expired keys nobody reads again


class _Hash(dict[bytes, bytes]):
    pass


class _Set(set[bytes]):
    pass


class _ZSet(dict[bytes, float]):
    pass


class _List(deque[bytes]):
    pass


_Value = bytes | _Hash | _Set | _ZSet | _List
_Members = set[bytes | str]  # named here: inside the class, `set` is the SET command
_C = TypeVar("_C", bytes, _Hash, _Set, _ZSet, _List)
_TYPE_NAMES: dict[type, str] = {
    bytes: "string",
    _Hash: "hash",
    _Set: "set",
    _ZSet: "zset",
    _List: "list",
}


class _Store:
    """The keyspace one or more :class:`MemoryRedis` views share."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.data: dict[bytes, _Value] = {}
        self.expires: dict[bytes, float] = {}  # key -> deadline on `clock`
        self.clock = clock
        self.writes = 0
        self.waiters: list[asyncio.Future[None]] = []  # BLPOP/BRPOP callers

    def wake(self) -> None:
        for fut in self.waiters:
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_result(None)
        self.waiters.clear()


def _encode(value: object) -> bytes:
    """Encode like redis-py's Encoder: bytes as is, str as UTF-8, numbers by repr, bool refused."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):  # before int: bool is an int
        raise DataError(
            "Invalid input of type: 'bool'. Convert to a bytes, string, int or float first."
        )
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise DataError(
        f"Invalid input of type: {type(value).__name__!r}. "
        "Convert to a bytes, string, int or float first."
    )


def _to_int(raw: bytes, message: str = _NOT_INT) -> int:
    try:
        number = int(raw)
    except ValueError:
        raise ResponseError(message) from None
    if str(number).encode() != raw or not _INT64[0] <= number <= _INT64[1]:
        raise ResponseError(message)
    return number


def _seconds(value: ExpiryT) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _millis(value: ExpiryT) -> float:
    return value.total_seconds() * 1000 if isinstance(value, timedelta) else float(value)


def _score(value: object) -> float:
    raw = _encode(value).decode().strip().lower()
    try:
        score = float(raw)
    except ValueError:
        raise ResponseError("value is not a valid float") from None
    if math.isnan(score):
        raise ResponseError("value is not a valid float")
    return score


def _bound(value: ZScoreBoundT) -> tuple[float, bool]:
    """A ZRANGEBYSCORE bound as (score, exclusive)."""
    raw = _encode(value).decode().strip()
    exclusive = raw.startswith("(")
    return _score(raw[1:] if exclusive else raw), exclusive


def _keys(keys: KeysT) -> list[bytes]:
    if isinstance(keys, bytes | str | memoryview):
        return [_encode(keys)]
    return [_encode(k) for k in keys]


@functools.lru_cache(maxsize=256)
def _glob(pattern: bytes) -> re.Pattern[bytes]:
    """Translate a Redis glob (``*``, ``?``, ``[a-z]``, ``[^x]``, ``\\x``) into a regex."""
    out: list[bytes] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        elif c == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i : i + 1]))
        elif c == b"[" and b"]" in pattern[i + 1 :]:
            j = i + 1
            negate = pattern[j : j + 1] == b"^"
            j += negate
            parts: list[bytes] = []
            while pattern[j : j + 1] != b"]":
                ch = pattern[j : j + 1]
                if ch == b"\\" and j + 1 < n:
                    j += 1
                    ch = pattern[j : j + 1]
                if pattern[j + 1 : j + 2] == b"-" and pattern[j + 2 : j + 3] not in (b"]", b""):
                    lo, hi = sorted((ch, pattern[j + 2 : j + 3]))
                    parts.append(re.escape(lo) + b"-" + re.escape(hi))
                    j += 3
                    continue
                parts.append(re.escape(ch))
                j += 1
            body = b"".join(parts)
            out.append((b"[^" if negate else b"[") + body + b"]" if body else b"(?!)")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(b"".join(out), re.DOTALL)


class MemoryRedis:
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

    _shared: ClassVar[dict[str, _Store]] = {}

    def __init__(
        self,
        *,
        decode_responses: bool = False,
        clock: Callable[[], float] = time.monotonic,
        _store: _Store | None = None,
        _name: str | None = None,
    ) -> None:
        self._store = _store if _store is not None else _Store(clock)
        self._name = _name
        self.decode_responses = decode_responses

    @classmethod
    def shared(cls, name: str, *, decode_responses: bool = False) -> MemoryRedis:
        """A client on the process-wide store called ``name`` (created on first use)."""
        store = cls._shared.get(name)
        if store is None:
            store = cls._shared[name] = _Store(time.monotonic)
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

    # -- internals ------------------------------------------------------------------------

    def _out(self, raw: bytes) -> bytes | str:
        return raw.decode() if self.decode_responses else raw

    def _lookup(self, key: bytes) -> _Value | None:
        store = self._store
        value = store.data.get(key)
        if value is not None and key in store.expires and store.expires[key] <= store.clock():
            del store.data[key], store.expires[key]
            return None
        return value

    def _get(self, key: bytes, kind: type[_C]) -> _C | None:
        value = self._lookup(key)
        if value is None:
            return None
        if type(value) is not kind:
            raise ResponseError(_WRONGTYPE)
        return value

    def _create(self, key: bytes, kind: type[_C]) -> _C:
        value = self._get(key, kind)
        if value is None:
            value = kind()
            self._store.data[key] = value
        return value

    def _written(self, key: bytes, container: _Value | None = None) -> None:
        """Drop an emptied container (Redis deletes empty collections) and sweep now and then."""
        store = self._store
        if container is not None and not container:
            store.data.pop(key, None)
            store.expires.pop(key, None)
        store.writes += 1
        if store.writes % _PURGE_EVERY == 0:
            now = store.clock()
            for name in [k for k, deadline in store.expires.items() if deadline <= now]:
                store.data.pop(name, None)
                del store.expires[name]

    def _set_deadline(self, key: bytes, seconds: float) -> None:
        self._store.expires[key] = self._store.clock() + seconds

    def _remaining(self, key: bytes) -> float | None:
        """Seconds to live; None without expiry. The key must exist."""
        deadline = self._store.expires.get(key)
        return None if deadline is None else max(0.0, deadline - self._store.clock())

    # -- strings and keys ---------------------------------------------------------------

    async def get(self, name: KeyT) -> bytes | str | None:
        value = self._get(_encode(name), bytes)
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
        key, raw = _encode(name), _encode(value)
        if nx and xx:
            raise DataError("``nx`` and ``xx`` are mutually exclusive.")
        if (ex is not None and px is not None) or (keepttl and (ex is not None or px is not None)):
            raise DataError("``ex``, ``px`` and ``keepttl`` are mutually exclusive.")
        ttl = _seconds(ex) if ex is not None else _millis(px) / 1000 if px is not None else None
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
        names = [*_keys(keys), *(_encode(a) for a in args)]
        out: list[bytes | str | None] = []
        for key in names:
            value = self._lookup(key)
            out.append(self._out(value) if isinstance(value, bytes) else None)
        return out

    async def delete(self, *names: KeyT) -> int:
        removed = 0
        for name in names:
            key = _encode(name)
            if self._lookup(key) is not None:
                del self._store.data[key]
                self._store.expires.pop(key, None)
                removed += 1
        if removed:
            self._written(b"")
        return removed

    async def exists(self, *names: KeyT) -> int:
        return sum(self._lookup(_encode(name)) is not None for name in names)

    async def incrby(self, name: KeyT, amount: int = 1) -> int:
        key = _encode(name)
        current = self._get(key, bytes)
        number = (0 if current is None else _to_int(current)) + amount
        if not _INT64[0] <= number <= _INT64[1]:
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

    async def _expire(
        self, name: KeyT, seconds: float, nx: bool, xx: bool, gt: bool, lt: bool
    ) -> bool:
        key = _encode(name)
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
        return await self._expire(name, int(_millis(time)) / 1000, nx, xx, gt, lt)

    async def pttl(self, name: KeyT) -> int:
        key = _encode(name)
        if self._lookup(key) is None:
            return -2
        remaining = self._remaining(key)
        return -1 if remaining is None else round(remaining * 1000)

    async def ttl(self, name: KeyT) -> int:
        millis = await self.pttl(name)
        return millis if millis < 0 else (millis + 500) // 1000

    async def persist(self, name: KeyT) -> bool:
        key = _encode(name)
        if self._lookup(key) is None or key not in self._store.expires:
            return False
        del self._store.expires[key]
        return True

    # -- hashes -------------------------------------------------------------------------

    async def hget(self, name: KeyT, key: EncodableT) -> bytes | str | None:
        fields = self._get(_encode(name), _Hash)
        value = None if fields is None else fields.get(_encode(key))
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
            pairs.append((_encode(key), _encode(value)))
        pairs.extend((_encode(k), _encode(v)) for k, v in (mapping or {}).items())
        if not pairs:
            raise DataError("'hset' with no key value pairs")
        hkey = _encode(name)
        fields = self._create(hkey, _Hash)
        added = 0
        for field, raw in pairs:
            added += field not in fields
            fields[field] = raw
        self._written(hkey)
        return added

    async def hgetall(self, name: KeyT) -> dict[bytes | str, bytes | str]:
        fields: Mapping[bytes, bytes] = self._get(_encode(name), _Hash) or {}
        return {self._out(k): self._out(v) for k, v in fields.items()}

    async def hdel(self, name: KeyT, *keys: EncodableT) -> int:
        hkey = _encode(name)
        fields = self._get(hkey, _Hash)
        if fields is None:
            return 0
        removed = sum(fields.pop(_encode(k), None) is not None for k in keys)
        self._written(hkey, fields)
        return removed

    async def hincrby(self, name: KeyT, key: EncodableT, amount: int = 1) -> int:
        hkey, field = _encode(name), _encode(key)
        fields = self._create(hkey, _Hash)
        current = fields.get(field)
        base = 0 if current is None else _to_int(current, "hash value is not an integer")
        number = base + amount
        if not _INT64[0] <= number <= _INT64[1]:
            raise ResponseError("increment or decrement would overflow")
        fields[field] = str(number).encode()
        self._written(hkey)
        return number

    # -- sets ---------------------------------------------------------------------------

    async def sadd(self, name: KeyT, *values: EncodableT) -> int:
        key = _encode(name)
        members = self._create(key, _Set)
        before = len(members)
        members.update(_encode(v) for v in values)
        self._written(key, members)
        return len(members) - before

    async def srem(self, name: KeyT, *values: EncodableT) -> int:
        key = _encode(name)
        members = self._get(key, _Set)
        if members is None:
            return 0
        before = len(members)
        members.difference_update(_encode(v) for v in values)
        self._written(key, members)
        return before - len(members)

    async def smembers(self, name: KeyT) -> _Members:
        return {self._out(m) for m in self._get(_encode(name), _Set) or ()}

    async def sismember(self, name: KeyT, value: str) -> Literal[0, 1]:
        members = self._get(_encode(name), _Set)
        return 1 if members is not None and _encode(value) in members else 0

    async def scard(self, name: KeyT) -> int:
        return len(self._get(_encode(name), _Set) or ())

    # -- sorted sets --------------------------------------------------------------------

    async def zadd(
        self,
        name: KeyT,
        mapping: Mapping[AnyKeyT, EncodableT],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> int | float | None:
        if nx and xx:
            raise DataError("ZADD allows either 'nx' or 'xx', not both")
        if nx + gt + lt > 1:
            raise DataError("Only one of 'nx', 'lt', or 'gr' may be defined.")
        if incr and len(mapping) != 1:
            raise DataError("ZADD option 'incr' only works with a single element/score pair")
        key = _encode(name)
        scores = self._get(key, _ZSet)
        if scores is None:
            if xx:
                return None if incr else 0
            scores = _ZSet()
        changed = added = 0
        result: float | None = None
        for member, raw_score in mapping.items():
            field, score = _encode(member), _score(raw_score)
            old = scores.get(field)
            if incr:
                score += 0.0 if old is None else old
            if (nx and old is not None) or (xx and old is None):
                continue
            if old is not None and ((gt and score <= old) or (lt and score >= old)):
                continue
            result = score
            if old is None:
                added += 1
            elif old != score:
                changed += 1
            scores[field] = score
        if scores:
            self._store.data[key] = scores
        self._written(key, scores)
        if incr:
            return result
        return added + changed if ch else added

    def _sorted(self, name: KeyT) -> list[tuple[bytes, float]]:
        scores: Mapping[bytes, float] = self._get(_encode(name), _ZSet) or {}
        return sorted(scores.items(), key=lambda item: (item[1], item[0]))

    def _zreply(
        self, items: Iterable[tuple[bytes, float]], withscores: bool, cast: Callable[[Any], Any]
    ) -> list[Any]:
        if withscores:
            return [(self._out(m), cast(s)) for m, s in items]
        return [self._out(m) for m, _ in items]

    async def zrange(
        self,
        name: KeyT,
        start: int,
        end: int,
        desc: bool = False,
        withscores: bool = False,
        score_cast_func: type | Callable[..., Any] = float,
    ) -> list[Any]:
        items = self._sorted(name)
        if desc:
            items.reverse()
        size = len(items)
        first = max(start + size if start < 0 else start, 0)
        last = min(end + size if end < 0 else end, size - 1)
        return self._zreply(items[first : last + 1], withscores, score_cast_func)

    async def zrangebyscore(
        self,
        name: KeyT,
        min: ZScoreBoundT,
        max: ZScoreBoundT,
        start: int | None = None,
        num: int | None = None,
        withscores: bool = False,
        score_cast_func: type | Callable[..., Any] = float,
    ) -> list[Any]:
        if (start is None) != (num is None):
            raise DataError("``start`` and ``num`` must both be specified")
        (low, low_open), (high, high_open) = _bound(min), _bound(max)
        items = [
            (m, s)
            for m, s in self._sorted(name)
            if (s > low if low_open else s >= low) and (s < high if high_open else s <= high)
        ]
        if start is not None and num is not None:
            items = items[start:] if num < 0 else items[start : start + num]
        return self._zreply(items, withscores, score_cast_func)

    async def zremrangebyscore(self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT) -> int:
        key = _encode(name)
        doomed = await self.zrangebyscore(name, min, max)
        scores = self._get(key, _ZSet)
        if scores is None:
            return 0
        for member in doomed:
            del scores[_encode(member)]
        self._written(key, scores)
        return len(doomed)

    async def zrem(self, name: KeyT, *values: EncodableT) -> int:
        key = _encode(name)
        scores = self._get(key, _ZSet)
        if scores is None:
            return 0
        removed = sum(scores.pop(_encode(v), None) is not None for v in values)
        self._written(key, scores)
        return removed

    async def zcard(self, name: KeyT) -> int:
        return len(self._get(_encode(name), _ZSet) or ())

    async def zscore(self, name: KeyT, value: EncodableT) -> float | None:
        scores = self._get(_encode(name), _ZSet)
        return None if scores is None else scores.get(_encode(value))

    # -- lists --------------------------------------------------------------------------

    def _push(self, name: KeyT, values: tuple[EncodableT, ...], left: bool) -> int:
        key = _encode(name)
        items = self._create(key, _List)
        encoded = (_encode(v) for v in values)
        items.extendleft(encoded) if left else items.extend(encoded)
        self._written(key, items)
        self._store.wake()
        return len(items)

    async def lpush(self, name: KeyT, *values: EncodableT) -> int:
        return self._push(name, values, left=True)

    async def rpush(self, name: KeyT, *values: EncodableT) -> int:
        return self._push(name, values, left=False)

    def _pop(self, key: bytes, count: int | None, left: bool) -> bytes | str | list[Any] | None:
        items = self._get(key, _List)
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
        return self._pop(_encode(name), count, left=True)

    async def rpop(self, name: KeyT, count: int | None = None) -> bytes | str | list[Any] | None:
        return self._pop(_encode(name), count, left=False)

    async def _bpop(
        self, keys: KeysT, timeout: float | None, left: bool
    ) -> tuple[bytes | str, bytes | str] | None:
        names = _keys(keys)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        while True:
            for key in names:
                items = self._get(key, _List)
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
        return len(self._get(_encode(name), _List) or ())

    async def lrange(self, name: KeyT, start: int, end: int) -> list[bytes | str]:
        items = list(self._get(_encode(name), _List) or ())
        size = len(items)
        first = max(start + size if start < 0 else start, 0)
        last = min(end + size if end < 0 else end, size - 1)
        return [self._out(v) for v in items[first : last + 1]]

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
        pattern = _glob(_encode(match)) if match is not None else None
        for key in list(self._store.data):
            value = self._lookup(key)
            if value is None or (pattern is not None and not pattern.fullmatch(key)):
                continue
            if _type is not None and _TYPE_NAMES[type(value)] != _type.lower():
                continue
            yield self._out(key)

    async def publish(self, channel: KeyT, message: EncodableT, **kwargs: Any) -> int:
        """Accept and drop the message: the memory backend has no subscribers. Returns 0."""
        _encode(channel), _encode(message)
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
        patterns = [_glob(_encode(p)) for p in (pattern, *args)]
        return {k: v for k, v in settings.items() if any(p.fullmatch(k.encode()) for p in patterns)}

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Nothing to release; the keys stay (a shared store outlives its clients)."""

    async def close(self, close_connection_pool: bool | None = None) -> None:
        """Alias of :meth:`aclose`."""
