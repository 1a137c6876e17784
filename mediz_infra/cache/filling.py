"""Filling the cache: the miss path, the cross-process lock wait, and background refreshes.

Functions over a :class:`~mediz_infra.cache.decorator.CachedFunction` (kept apart from the hot
path in ``decorator.py``). Every Redis failure here fails open: it is counted, starts the
cache's back-off, and the caller gets the function's own value.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..backends import BACKEND_ERRORS
from .entry import Entry, pack
from .lock import new_token
from .serializers import frozen_copier
from .store import LOCK_HELD, LOCK_STORED, LOCKED, MARKER_TTL, lock_key
from .tags import join_versions

if TYPE_CHECKING:
    from .decorator import CachedFunction

__all__ = [
    "BACKEND_ERRORS",
    "Began",
    "complain",
    "compute",
    "marker_ttl",
    "miss",
    "refresh",
    "remember",
    "settle",
]

logger = logging.getLogger("mediz_infra.cache")

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
