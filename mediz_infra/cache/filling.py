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
from typing import TYPE_CHECKING, Any

from ..backends import BACKEND_ERRORS
from .entry import Entry, pack
from .lock import new_token
from .serializers import frozen_copier
from .store import LOCK_HELD, LOCK_STORED, LOCKED
from .tags import join_versions

if TYPE_CHECKING:
    from .decorator import CachedFunction

__all__ = ["BACKEND_ERRORS", "complain", "compute", "miss", "refresh", "remember"]

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
            f"return value not cached: {len(payload)} bytes is over max_size="
            f"{fn.cache.max_size}",
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
    """Run the function and store its value; returns (value for the caller, maker for others).

    ``tags_now`` are the tag versions read *before* computing, so an invalidation that lands
    while the function runs leaves this value already outdated.
    """
    value, make, _ = await _compute(fn, key, args, kwargs, tags_now, None)
    return value, make


async def _compute(
    fn: CachedFunction[Any],
    key: str,
    args: _Args,
    kwargs: dict[str, Any],
    tags_now: bytes,
    token: str | None,
) -> tuple[Any, Callable[[], Any], bool]:
    """:func:`compute`; with the lock's ``token``, stores and releases in one round trip.

    The third item says whether the lock was released here. An invalidation that lands while
    the function runs keeps its value out of the in-process stores (their generation moved)
    and, under the lock, out of Redis (invalidation leaves a marker in the lock key, which the
    store script refuses).
    """
    cache = fn.cache
    local = cache.local if cache.local is not None else cache.l1
    generation = local.generation if local is not None else 0
    started = time.perf_counter()
    value = await fn.fn(*args, **kwargs)
    took = time.perf_counter() - started
    fn.note_compute(took)
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
    raw = pack(payload, fresh_until, took, tags_now)
    released = False
    try:
        if token is None:
            await store.set(key, raw, fn.ttl + fn.stale_ttl)
            stored = True
        else:
            released = True  # released or not, the lock is settled: no second round trip
            ttl = fn.ttl + fn.stale_ttl
            stored = await store.store_and_unlock(key, raw, ttl, key + ":lock", token)
    except BACKEND_ERRORS as exc:
        cache.failed(exc, "write")
    else:
        if not stored:  # invalidated while computing, or another caller's lock: not kept
            fn.statistics.discarded += 1
        elif cache.l1 is not None and cache.l1_ready():
            entry = Entry(fresh_until, took, tags_now, b"")
            remember(fn, key, entry, decoded, fn.ttl, generation)
    return decoded, functools.partial(fn.serializer.loads, payload), released


async def _uncached(fn: CachedFunction[Any], args: _Args, kwargs: dict[str, Any]) -> _Result:
    value = await fn.fn(*args, **kwargs)
    return value, lambda: value


async def _locked(
    fn: CachedFunction[Any],
    key: str,
    token: str,
    args: _Args,
    kwargs: dict[str, Any],
    tags_now: bytes,
) -> _Result:
    """Compute under a held lock, then store and release (or just release)."""
    released = False
    try:
        value, make, released = await _compute(fn, key, args, kwargs, tags_now, token)
        return value, make
    finally:
        if not released:
            # shielded: a cancelled caller must still release, or everyone waits for the PX;
            # and awaited to the end, so close() never shuts the client under a release
            release = asyncio.ensure_future(_unlock(fn, key + ":lock", token))
            try:
                await asyncio.shield(release)
            except asyncio.CancelledError:
                await release
                raise


async def _unlock(fn: CachedFunction[Any], lock_key: str, token: str) -> None:
    store = fn.cache.store
    assert store is not None
    try:
        await store.unlock(lock_key, token)
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
    taking the lock must not be refused because of it.
    """
    cache = fn.cache
    store = cache.store
    assert store is not None
    stats = fn.statistics
    if not fn.wants_lock():
        stats.misses += 1
        return await compute(fn, key, args, kwargs, tags_now)
    policy = cache.lock
    token = new_token()
    lock_key = key + ":lock"
    try:
        state = await store.lock_unless_stored(key, lock_key, token, policy.ttl, force=stored)
    except BACKEND_ERRORS as exc:
        cache.failed(exc, "lock")
        return await _uncached(fn, args, kwargs)
    if state == LOCKED:
        stats.misses += 1
        return await _locked(fn, key, token, args, kwargs, tags_now)
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
                stats.hits += 1
                entry, value = hit
                return value, functools.partial(fn.serializer.loads, entry.payload)
            force = raw is not None
            state = await store.lock_unless_stored(key, lock_key, token, policy.ttl, force=force)
        except BACKEND_ERRORS as exc:
            cache.failed(exc, "lock wait")
            return await _uncached(fn, args, kwargs)
        if state == LOCKED:  # the holder finished without storing, or died
            stats.misses += 1
            return await _locked(fn, key, token, args, kwargs, tags_now)
        read_now = state == LOCK_STORED
    stats.misses += 1  # waited long enough: compute without the lock
    return await compute(fn, key, args, kwargs, tags_now)


async def refresh(fn: CachedFunction[Any], key: str, args: _Args, kwargs: dict[str, Any]) -> None:
    """Background recompute of a stale (or nearly stale) value; one per key cluster-wide."""
    cache = fn.cache
    try:
        if cache.local is not None:
            fn.statistics.refreshes += 1
            await compute(fn, key, args, kwargs, fn.local_versions())
            return
        store = cache.store
        assert store is not None
        token = new_token()
        try:
            if not await store.lock(key + ":lock", token, cache.lock.ttl):
                return  # another process is refreshing it
            versions = await store.tag_versions(fn.tag_keys) if fn.tag_keys else ()
        except BACKEND_ERRORS as exc:
            cache.failed(exc, "refresh")
            return
        fn.statistics.refreshes += 1
        await _locked(fn, key, token, args, kwargs, join_versions(versions) if versions else b"")
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("cache: background refresh of %s failed", fn.fn.__qualname__)
    finally:
        fn.refreshing.discard(key)
