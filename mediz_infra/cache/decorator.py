"""``@cache(...)``: the per-call path of a cached async function or method.

Everything costly is done once, when the function is decorated: the key builder is compiled
(:mod:`~mediz_infra.cache.keys`), the tag counters' keys named, the serializer given the return
annotation. A call is then one key build and one lookup:

- ``memory://``: a dict lookup and a cheap copy, no await;
- Redis: the L1 if there is one, else one ``GET``; after a miss, one ``EVALSHA`` of
  ``cache_read.lua`` (the value, or on a miss the lock and the invalidation marker in the same
  round trip) until a read hits; ``MGET`` with tag counters. Merged with any identical call
  already in flight in this process.

Below the class, in the order a call meets them: a miss (:func:`miss`, :func:`settle`: the
cross-process lock or the wait for its holder), the computation and its store
(:func:`_compute`), and the background refresh of a stale value (:func:`refresh`). Every Redis
failure fails open: it is counted, starts the cache's back-off, and the caller gets the
function's own value. The only detours are the store (:mod:`~mediz_infra.cache.store`, one
round trip each) and the serializer.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import math
import random
import time
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from redis.exceptions import NoScriptError

from ..backends import BACKEND_ERRORS, Outage
from ..errors import ConfigError
from .entry import MAGIC, Entry, pack, unpack
from .keys import KeyBuilder
from .local import LocalStore
from .lock import Flight, LeaderGone, LockPolicy, new_token
from .serializers import CacheValueRejected, Serializer, frozen_copier
from .stats import CacheStats
from .store import LOCK_HELD, LOCK_STORED, LOCKED, MARKER_TTL, RemoteStore, lock_key
from .tags import join_versions

_rng = random.Random()  # ours: the app's global `random` state is left alone

__all__ = ["Began", "CacheOwner", "CachedFunction", "complain", "compute", "miss", "refresh"]

logger = logging.getLogger("mediz_infra.cache")

R = TypeVar("R")


class CacheOwner(Protocol):
    """What a cached function uses of its :class:`~mediz_infra.cache.Cache` (the only one).

    Named here so this module needs nothing from ``cache.py``, which imports it.
    """

    namespace: str
    serializer: Serializer
    timeout: float
    max_size: int
    lock: LockPolicy
    local: LocalStore | None
    l1: LocalStore | None
    store: RemoteStore | None
    outage: Outage
    local_tags: dict[str, int]

    def tag_keys(self, tags: Iterable[str]) -> tuple[str, ...]: ...

    def l1_ready(self) -> bool: ...

    def failed(self, error: BaseException, doing: str) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None: ...

    async def invalidate(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool: ...


_MISS: Any = object()
"""What :meth:`CachedFunction._hit` returns for bytes it cannot use (``None`` is a value)."""


def _share(
    flight: Flight, value: Any, make: Callable[[], Any] | None, fn: CachedFunction[Any], raw: Any
) -> None:
    """Hand the followers copies, frozen before the leader can touch the value.

    A value that cannot be frozen is decoded again for each follower: from ``make`` after a
    computation, from the stored bytes ``raw`` after a hit.
    """
    try:
        flight.finish(frozen_copier(value))
        return
    except TypeError:
        pass
    if make is None and isinstance(raw, bytes):
        make = functools.partial(fn.serializer.loads, raw.split(b"|", 4)[-1])
    flight.finish(make or (lambda: value))


async def _no_script(*args: Any) -> Any:
    raise AssertionError("no Redis read script on this store")  # never called: _get is None


def _return_type(fn: Callable[..., Any]) -> Any:
    try:
        return typing.get_type_hints(fn).get("return")
    except Exception:
        return None


class CachedFunction(Generic[R]):
    """A cached async function; made by ``@cache(...)``, called like the function it wraps.

    Attributes:
        cache: the :class:`~mediz_infra.cache.Cache` it belongs to.
        statistics: this function's :class:`~mediz_infra.cache.stats.CacheStats`.
        tags: its tag names.
    """

    def __init__(
        self,
        cache: CacheOwner,
        fn: Callable[..., Awaitable[R]],
        *,
        ttl: float,
        key: str | None,
        tags: tuple[str, ...],
        stale_ttl: float,
        early_refresh: float | None,
        cache_none: bool,
        serializer: Serializer | None,
        lock: bool | Literal["auto"],
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise ConfigError("fn", f"{fn!r} is not an async function; @cache wraps async ones")
        functools.update_wrapper(self, fn)
        self.cache = cache
        self.fn = fn
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.early_refresh = early_refresh
        self.cache_none = cache_none
        self.lock_mode = lock
        #: whether a miss takes the cross-process lock (``lock=True`` or ``"auto"``)
        self.locks = lock is not False
        chosen: Any = serializer or cache.serializer
        with_type = getattr(chosen, "with_return_type", None)
        self.serializer: Serializer = with_type(_return_type(fn)) if with_type else chosen
        self.keys = KeyBuilder(fn, cache.namespace, key)
        fast = self.keys.fast_format
        self._format: str | None = fast[0] if fast else None
        self._nargs = fast[1] if fast else -1
        self._local_data = cache.local.data if cache.local is not None else None
        self._local_store = cache.local
        store = cache.store
        self._get: Callable[[str], Awaitable[Any]] | None = None
        self._evalsha: Callable[..., Awaitable[Any]] = _no_script
        self._read_sha = ""
        self._px = max(1, int(cache.lock.ttl * 1000))
        #: the last read of this function missed: read by script (a miss in one round trip)
        #: until one hits, then by plain GET again (a hit at the cost of a raw GET)
        self._missing = False
        if store is not None and store.bounded and not tags:
            self._get = store.client.get
            self._evalsha = store.client.evalsha
            self._read_sha = store.read_sha
        self.tags = tags
        self.tag_keys = cache.tag_keys(tags)
        self.statistics = CacheStats()
        self.inflight: dict[str, Flight] = {}
        self.refreshing: set[str] = set()
        self.last_complaint = -1e18
        self._tag_generation = -1
        self._tag_versions = b""

    def __repr__(self) -> str:
        return f"<cached {self.fn.__module__}.{self.fn.__qualname__} ttl={self.ttl}>"

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        # a decorated method: bind like a function does, so self is the first argument
        return self if obj is None else types.MethodType(self, obj)

    def key_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The cache key of one call (``self`` included in ``args`` for a method)."""
        return self.keys(args, kwargs)

    async def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the value of this call: ``await fn.invalidate(10)``."""
        return await self.cache.invalidate(self, *args, **kwargs)

    def local_versions(self) -> bytes:
        """Memory backend: this function's current tag versions, recomputed only after a bump."""
        generation = self._local_store.tag_generation if self._local_store is not None else 0
        if self._tag_generation != generation:
            tags = self.cache.local_tags
            self._tag_versions = join_versions([tags.get(t, 0) for t in self.tags])
            self._tag_generation = generation
        return self._tag_versions

    async def __call__(self, *args: Any, **kwargs: Any) -> R:
        # the hot path, inlined: one key build, one dict lookup, one clock read, one copy
        if self._format is not None and not kwargs and len(args) == self._nargs:
            key = self._format.format(*args)
        else:
            try:
                key = self.keys(args, kwargs)
            except TypeError as exc:
                complain(self, f"cannot build a key, calling uncached: {exc}")
                return await self.fn(*args, **kwargs)
        data = self._local_data
        if data is None:
            # Redis, inlined too (no coroutine layer of our own between the caller and the GET)
            cache = self.cache
            l1 = cache.l1
            generation = 0  # the L1's, before the read: see remember
            if l1 is not None and cache.l1_ready():
                l1_entry = l1.peek(key)
                if l1_entry is not None:
                    self.statistics.hits += 1
                    self.statistics.l1_hits += 1
                    cached: R = l1_entry.copier()
                    return cached
                generation = l1.generation
            outage = cache.outage
            if outage.until and outage.down():
                self.statistics.bypassed += 1
                return await self.fn(*args, **kwargs)
            inflight = self.inflight
            flight = inflight.get(key)
            if flight is not None:
                return await self._join(flight, args, kwargs)
            flight = inflight[key] = Flight()
            get = self._get
            make: Callable[[], Any] | None = None
            raw: Any = None
            tags_now = b""
            token = ""
            at = 0.0
            try:
                try:
                    if get is None:  # tags, or a client the cache must bound itself
                        assert cache.store is not None
                        raw, versions = await cache.store.get(key, self.tag_keys)
                        tags_now = join_versions(versions) if versions else b""
                    elif not self._missing:  # a plain GET: a hit costs what a raw GET costs
                        raw = await get(key)
                    else:  # cache_read.lua: the value, or the lock and the marker on a miss
                        token = new_token() if self.locks else ""
                        at = time.monotonic()
                        try:  # (the lock and marker keys: see store.lock_key, marker_key)
                            raw = await self._evalsha(
                                self._read_sha, 3, key, key + ":lock", key + ":inv", token, self._px
                            )
                        except NoScriptError:  # a restarted or flushed server: load it again
                            assert cache.store is not None
                            raw = await cache.store.read(key, token, cache.lock.ttl)
                except BACKEND_ERRORS as exc:
                    cache.failed(exc, "read")
                    got = await self.fn(*args, **kwargs)
                else:
                    if isinstance(raw, bytes):
                        self._missing = False
                        got = self._hit(key, raw, tags_now, args, kwargs, generation)
                        if got is _MISS:
                            got, make = await miss(self, key, args, kwargs, tags_now, stored=True)
                    elif raw is None:  # a GET missed: lock and marker by script, this time
                        self._missing = get is not None  # and until one of its reads hits
                        got, make = await miss(self, key, args, kwargs, tags_now, stored=False)
                    else:
                        state, marker = int(raw[0]), raw[1]
                        raw = None
                        got, make = await settle(
                            self, key, args, kwargs, b"", Began(token, marker, at), state
                        )
            except BaseException as exc:
                flight.fail(exc)
                raise
            finally:
                if inflight.get(key) is flight:  # not dropped by an invalidation
                    del inflight[key]
            if flight.waiters:
                _share(flight, got, make, self, raw)
            read: R = got
            return read
        entry = data.get(key)
        now = time.time()
        if (
            entry is not None
            and entry.expires > now
            and (not self.tag_keys or entry.tags == self.local_versions())
        ):
            data.move_to_end(key)
            if entry.fresh_until > now:
                self.statistics.hits += 1
                if self.early_refresh is not None:
                    self._maybe_refresh_early(entry, key, args, kwargs)
                value: R = entry.copier()
                return value
            self.statistics.stale += 1
            self.refresh_later(key, args, kwargs, entry.fresh_until)
            stale: R = entry.copier()
            return stale
        return await self._lead_or_join(key, args, kwargs)

    async def _join(self, flight: Flight, args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        self.statistics.merged += 1
        try:
            joined: R = await flight.join()
        except LeaderGone:  # the leader was cancelled, not us: start over
            return await self(*args, **kwargs)
        return joined

    async def _lead_or_join(self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        """Memory backend miss: one computation per key, followers get copies."""
        flight = self.inflight.get(key)
        if flight is not None:
            return await self._join(flight, args, kwargs)
        flight = self.inflight[key] = Flight()
        try:
            self.statistics.misses += 1
            value, make = await compute(self, key, args, kwargs, self.local_versions())
        except BaseException as exc:
            flight.fail(exc)
            raise
        finally:
            if self.inflight.get(key) is flight:  # not dropped by an invalidation
                del self.inflight[key]
        if flight.waiters:
            flight.finish(make)
        return value  # type: ignore[no-any-return]

    def _hit(
        self,
        key: str,
        raw: bytes,
        tags_now: bytes,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        generation: int,
    ) -> Any:
        """The value of a usable stored entry (fresh, or stale with a refresh started).

        ``generation`` is the L1's, taken before the read (a value read before an invalidation
        is not put in the L1 after it).

        :data:`_MISS` when ``raw`` is not usable. The header is parsed here rather than by
        :func:`~mediz_infra.cache.entry.unpack` (same checks), so a plain hit builds no
        :class:`Entry`.
        """
        parts = raw.split(b"|", 4)
        if len(parts) != 5 or parts[0] != MAGIC or parts[3] != tags_now:
            return _MISS
        try:
            fresh_until = int(parts[1]) / 1000
            compute = int(parts[2]) / 1000
        except ValueError:
            return _MISS
        try:
            value = self.serializer.loads(parts[4])
        except (CacheValueRejected, ValueError, TypeError, EOFError) as exc:
            self._rejected(exc)
            return _MISS
        now = time.time()
        if fresh_until > now:
            self.statistics.hits += 1
            early = self.early_refresh is not None
            cache = self.cache
            to_l1 = cache.l1 is not None and cache.l1_ready()
            if early or to_l1:
                entry = Entry(fresh_until, compute, parts[3], parts[4])
                if early:
                    self._maybe_refresh_early(entry, key, args, kwargs)
                if to_l1:
                    remember(self, key, entry, value, fresh_until - now, generation)
        else:
            self.statistics.stale += 1
            self.refresh_later(key, args, kwargs, fresh_until)
        return value

    def _rejected(self, exc: BaseException) -> None:
        self.statistics.rejected += 1
        complain(self, f"stored value rejected, recomputing: {exc}")

    def decode(self, raw: bytes, tags_now: bytes) -> tuple[Entry, Any] | None:
        """The entry and its value if ``raw`` is usable under the current tag versions."""
        entry = unpack(raw)
        if entry is None or entry.tags != tags_now:
            return None
        try:
            return entry, self.serializer.loads(entry.payload)
        except (CacheValueRejected, ValueError, TypeError, EOFError) as exc:
            self._rejected(exc)
            return None

    def _maybe_refresh_early(
        self, entry: Entry, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        # XFetch (Vattani et al.): refresh with a chance growing as expiry nears
        assert self.early_refresh is not None
        gap = -entry.compute * self.early_refresh * math.log(1.0 - _rng.random())
        if time.time() + gap >= entry.fresh_until:
            self.refresh_later(key, args, kwargs, entry.fresh_until)

    def refresh_later(
        self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any], seen: float
    ) -> None:
        """Start one background refresh of ``key`` unless this process already runs one.

        ``seen`` is the fresh-until of the value that calls for it (see
        :func:`~mediz_infra.cache.refresh`).
        """
        if key in self.refreshing:
            return
        self.refreshing.add(key)
        self.cache.spawn(refresh(self, key, args, kwargs, seen))


# ---------------------------------------------------------------- a miss: lock, compute, store

_COMPLAIN_EVERY = 60.0  # seconds between two log lines about one function's values
_Args = tuple[Any, ...]
_Result = tuple[Any, Callable[[], Any]]


def complain(fn: CachedFunction[Any], message: str) -> None:
    """Log an error about ``fn``'s values, at most once a minute per function."""
    now = time.monotonic()
    if now - fn.last_complaint < _COMPLAIN_EVERY:
        return
    fn.last_complaint = now
    logger.error("cache: %s.%s: %s", fn.fn.__module__, fn.fn.__qualname__, message)


def _encode(fn: CachedFunction[Any], value: Any) -> bytes | None:
    try:
        payload = fn.serializer.dumps(value)
    except (TypeError, ValueError) as exc:
        fn.statistics.unstorable += 1
        complain(
            fn,
            f"return value not cached: {exc}. Return JSON-able data (annotate the return type "
            "to get models back), or give this function a SignedPickleSerializer",
        )
        return None
    if len(payload) > fn.cache.max_size:
        fn.statistics.unstorable += 1
        complain(
            fn,
            f"return value not cached: {len(payload)} bytes is over max_size={fn.cache.max_size}",
        )
        return None
    return payload


def remember(
    fn: CachedFunction[Any], key: str, entry: Entry, value: Any, ttl: float, generation: int
) -> None:
    """Put a fresh value in the L1 (frozen now, before the caller can touch it).

    ``generation`` is the L1's :attr:`~mediz_infra.cache.local.LocalStore.generation` taken
    before the value was read or computed: if an invalidation arrived since, it is not kept.
    """
    l1 = fn.cache.l1
    if l1 is None or ttl <= 0 or l1.generation != generation:
        return
    try:
        copier = frozen_copier(value)
    except TypeError:
        return
    l1.put(key, Entry(entry.fresh_until, entry.compute, entry.tags, b"", copier), ttl)


async def compute(
    fn: CachedFunction[Any], key: str, args: _Args, kwargs: dict[str, Any], tags_now: bytes
) -> _Result:
    """Memory backend: run the function and store its value.

    Returns (value for the caller, maker for others). ``tags_now`` are the tag versions read
    *before* computing, so an invalidation that lands while the function runs leaves this
    value already outdated.
    """
    value, make, _ = await _compute(fn, key, args, kwargs, tags_now, None)
    return value, make


@dataclass(slots=True)
class Began:
    """A Redis computation's start: its lock token (``""``: none) and the marker it read.

    ``at`` is ``time.monotonic()`` before the marker was read: a computation that ran longer
    than the marker lives is not stored (see :data:`~mediz_infra.cache.store.MARKER_TTL`).
    """

    token: str
    marker: bytes
    at: float


def marker_ttl(fn: CachedFunction[Any]) -> float:
    """How long an invalidation's marker lives: at least the lock's TTL."""
    return max(fn.cache.lock.ttl, MARKER_TTL)


async def _compute(
    fn: CachedFunction[Any],
    key: str,
    args: _Args,
    kwargs: dict[str, Any],
    tags_now: bytes,
    began: Began | None,
) -> tuple[Any, Callable[[], Any], bool]:
    """:func:`compute`; on Redis, stores and releases the lock of ``began`` in one round trip.

    The third item says whether the lock was settled here. An invalidation that lands while
    the function runs keeps its value out of the in-process stores (their generation moved)
    and out of Redis (it changed the key's marker, which the store script checks).
    """
    cache = fn.cache
    local = cache.local if cache.local is not None else cache.l1
    generation = local.generation if local is not None else 0
    started = time.perf_counter()
    value = await fn.fn(*args, **kwargs)
    took = time.perf_counter() - started
    if value is None and not fn.cache_none:
        return None, lambda: None, False
    payload = _encode(fn, value)
    if payload is None:
        return value, lambda: value, False
    try:
        decoded = fn.serializer.loads(payload)
        copier = frozen_copier(decoded) if fn.cache.local is not None else None
    except Exception as exc:
        fn.statistics.unstorable += 1
        complain(fn, f"return value not cached: it does not survive a round trip: {exc}")
        return value, lambda: value, False
    fresh_until = time.time() + fn.ttl
    if cache.local is not None:
        assert copier is not None
        entry = Entry(fresh_until, took, tags_now, b"", copier)
        cache.local.put_unless_invalidated(key, entry, fn.ttl + fn.stale_ttl, generation)
        return copier(), copier, False
    store = cache.store
    assert store is not None
    assert began is not None
    make = functools.partial(fn.serializer.loads, payload)
    if time.monotonic() - began.at + cache.timeout >= marker_ttl(fn):
        # an invalidation during this computation may have left a marker that expired since
        fn.statistics.discarded += 1
        complain(
            fn,
            "value not cached: its computation outlived the invalidation marker "
            f"({marker_ttl(fn):g} s); raise LockPolicy.ttl above the slowest computation",
        )
        return decoded, make, False
    raw = pack(payload, fresh_until, took, tags_now)
    try:
        stored = await store.store(key, raw, fn.ttl + fn.stale_ttl, began.token, began.marker)
    except BACKEND_ERRORS as exc:  # settled all the same: the lock expires by itself
        cache.failed(exc, "write")
        return decoded, make, True
    if not stored:  # invalidated while computing, or another caller's lock: not kept
        fn.statistics.discarded += 1
    elif cache.l1 is not None and cache.l1_ready():
        entry = Entry(fresh_until, took, tags_now, b"")
        remember(fn, key, entry, decoded, fn.ttl, generation)
    return decoded, make, True


async def _uncached(fn: CachedFunction[Any], args: _Args, kwargs: dict[str, Any]) -> _Result:
    value = await fn.fn(*args, **kwargs)
    return value, lambda: value


async def _locked(
    fn: CachedFunction[Any],
    key: str,
    began: Began,
    args: _Args,
    kwargs: dict[str, Any],
    tags_now: bytes,
) -> _Result:
    """Compute (under ``began``'s lock, if any), then store and release (or just release)."""
    settled = False
    try:
        value, make, settled = await _compute(fn, key, args, kwargs, tags_now, began)
        return value, make
    finally:
        if not settled and began.token:
            # shielded: a cancelled caller must still release, or everyone waits for the PX;
            # and awaited to the end, so close() never shuts the client under a release
            release = asyncio.ensure_future(_unlock(fn, lock_key(key), began.token))
            try:
                await asyncio.shield(release)
            except asyncio.CancelledError:
                await release
                raise


async def _unlock(fn: CachedFunction[Any], lock: str, token: str) -> None:
    store = fn.cache.store
    assert store is not None
    try:
        await store.unlock(lock, token)
    except BACKEND_ERRORS as exc:  # the lock expires by itself
        fn.cache.failed(exc, "unlock")


async def miss(
    fn: CachedFunction[Any],
    key: str,
    args: _Args,
    kwargs: dict[str, Any],
    tags_now: bytes,
    *,
    stored: bool,
) -> _Result:
    """Nothing usable stored: compute under the cluster-wide lock, or wait for its holder.

    ``stored`` says a value is there but unusable (other tag versions, failed to decode), so
    taking the lock must not be refused because of it. A miss that takes no lock still reads
    the key's invalidation marker in the same script, so its value is refused too if the key
    is invalidated while it computes.
    """
    cache = fn.cache
    store = cache.store
    assert store is not None
    token = new_token() if fn.locks else ""
    at = time.monotonic()
    try:
        state, marker = await store.begin(key, token, cache.lock.ttl, "1" if stored else "0")
    except BACKEND_ERRORS as exc:
        cache.failed(exc, "lock")
        return await _uncached(fn, args, kwargs)
    return await settle(fn, key, args, kwargs, tags_now, Began(token, marker, at), state)


async def settle(
    fn: CachedFunction[Any],
    key: str,
    args: _Args,
    kwargs: dict[str, Any],
    tags_now: bytes,
    began: Began,
    state: int,
) -> _Result:
    """Go on from a begun miss (``state`` from ``cache_lock.lua`` or ``cache_read.lua``).

    Computes if the lock is ours (or none was asked for); otherwise polls for the holder's
    value, taking the lock over if it goes without one, and computes without it after
    ``LockPolicy.wait``.
    """
    cache = fn.cache
    store = cache.store
    assert store is not None
    stats = fn.statistics
    policy = cache.lock
    token, marker, at = began.token, began.marker, began.at
    if state == LOCKED:
        stats.misses += 1
        return await _locked(fn, key, began, args, kwargs, tags_now)
    if state == LOCK_HELD:
        stats.lock_waits += 1
    deadline = time.monotonic() + policy.wait
    next_delay = policy.delays()
    read_now = state == LOCK_STORED  # a holder just stored it: read before sleeping
    while (left := deadline - time.monotonic()) > 0:
        if not read_now:
            await asyncio.sleep(min(next_delay(), left))
        read_now = False
        try:
            raw, versions = await store.get(key, fn.tag_keys)
            tags_now = join_versions(versions) if versions else b""
            hit = fn.decode(raw, tags_now) if raw is not None else None
            if hit is not None:
                entry, value = hit
                if entry.fresh_until > time.time():
                    stats.hits += 1
                else:  # stored long ago (a tiny ttl): served stale, and refreshed
                    stats.stale += 1
                    fn.refresh_later(key, args, kwargs, entry.fresh_until)
                return value, functools.partial(fn.serializer.loads, entry.payload)
            at = time.monotonic()
            stop = "1" if raw is not None else "0"
            state, marker = await store.begin(key, token, policy.ttl, stop)
        except BACKEND_ERRORS as exc:
            cache.failed(exc, "lock wait")
            return await _uncached(fn, args, kwargs)
        if state == LOCKED:  # the holder finished without storing, or died
            stats.misses += 1
            return await _locked(fn, key, Began(token, marker, at), args, kwargs, tags_now)
        read_now = state == LOCK_STORED
    stats.misses += 1  # waited long enough: compute without the lock
    return await _locked(fn, key, Began("", marker, at), args, kwargs, tags_now)


async def refresh(
    fn: CachedFunction[Any], key: str, args: _Args, kwargs: dict[str, Any], seen: float
) -> None:
    """Background recompute of a stale (or nearly stale) value; one per key cluster-wide.

    ``seen`` is the fresh-until of the value that called for it: if a fresher one is stored by
    the time the lock is taken, another process has refreshed it already and this one stops.
    """
    cache = fn.cache
    try:
        if cache.local is not None:
            fn.statistics.refreshes += 1
            await compute(fn, key, args, kwargs, fn.local_versions())
            return
        store = cache.store
        assert store is not None
        token = new_token()
        at = time.monotonic()
        try:
            state, marker = await store.begin(key, token, cache.lock.ttl, str(round(seen * 1000)))
            if state != LOCKED:
                return  # another process is refreshing it, or has
            versions = await store.tag_versions(fn.tag_keys) if fn.tag_keys else ()
        except BACKEND_ERRORS as exc:
            cache.failed(exc, "refresh")
            return
        fn.statistics.refreshes += 1
        tags_now = join_versions(versions) if versions else b""
        await _locked(fn, key, Began(token, marker, at), args, kwargs, tags_now)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("cache: background refresh of %s failed", fn.fn.__qualname__)
    finally:
        fn.refreshing.discard(key)
