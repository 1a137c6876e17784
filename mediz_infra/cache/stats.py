"""Counters of what the cache did, kept as plain integers and exported as observable counters.

The hot path only does ``stats.hits += 1``: no instrument call per request. OpenTelemetry reads
the numbers through callbacks registered once per process (:func:`track`), with attributes
``cache`` (the prefix) and ``result``/``kind``. The names are declared in
:mod:`mediz_infra.telemetry`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Protocol

from .. import telemetry

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation

__all__ = ["CacheStats", "track"]


@dataclass(slots=True)
class CacheStats:
    """What a cache (or one cached function) did since it was made.

    Attributes:
        hits: fresh values served (memory, L1 or Redis).
        l1_hits: the part of ``hits`` served by the in-process L1.
        misses: computations because nothing usable was stored.
        stale: stale values served while a refresh ran in the background.
        merged: calls that joined an identical call already in flight.
        lock_waits: callers that waited for another process's computation.
        refreshes: background refreshes run (stale-while-revalidate and early refresh).
        errors: Redis errors and timeouts (each followed by a short back-off).
        bypassed: calls that skipped Redis during a back-off (the function ran instead).
        rejected: stored values that failed to decode or verify (recomputed).
        unstorable: values not stored: unserialisable, or larger than ``max_size``.
        discarded: computed values not stored because the key was invalidated while they were
            computed (or the computation outlived its lock); the callers still got them.
    """

    hits: int = 0
    l1_hits: int = 0
    misses: int = 0
    stale: int = 0
    merged: int = 0
    lock_waits: int = 0
    refreshes: int = 0
    errors: int = 0
    bypassed: int = 0
    rejected: int = 0
    unstorable: int = 0
    discarded: int = 0

    @property
    def hit_ratio(self) -> float:
        """Hits (fresh or stale) over all lookups that reached the cache; 0.0 before any."""
        served = self.hits + self.stale
        total = served + self.misses
        return served / total if total else 0.0

    def add(self, other: CacheStats) -> None:
        """Add ``other``'s counts to these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, float]:
        """The counts and the hit ratio, for a JSON endpoint."""
        out: dict[str, float] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["hit_ratio"] = round(self.hit_ratio, 4)
        return out


class _Source(Protocol):
    """What :func:`track` needs from a cache: a name and its summed stats."""

    prefix: str

    @property
    def stats(self) -> CacheStats: ...


_tracked: weakref.WeakSet[_Source] = weakref.WeakSet()
_registered = False
_RESULTS = (("hit", "hits"), ("stale", "stale"), ("miss", "misses"), ("bypass", "bypassed"))
_ERRORS = (("backend", "errors"), ("rejected", "rejected"), ("unstorable", "unstorable"))


def _observe(pairs: Iterable[tuple[str, str]], label: str) -> Iterator[Observation]:
    from opentelemetry.metrics import Observation

    for source in list(_tracked):
        stats = source.stats
        for value, attr in pairs:
            yield Observation(getattr(stats, attr), {"cache": source.prefix, label: value})


def _requests(options: CallbackOptions) -> Iterable[Observation]:
    return list(_observe(_RESULTS, "result"))


def _errors(options: CallbackOptions) -> Iterable[Observation]:
    return list(_observe(_ERRORS, "kind"))


def _lock_waits(options: CallbackOptions) -> Iterable[Observation]:
    return list(_observe((("lock", "lock_waits"),), "kind"))


def track(source: _Source) -> None:
    """Export ``source``'s counters (instruments are created once per process)."""
    global _registered
    _tracked.add(source)
    if _registered:
        return
    _registered = True
    meter = telemetry.get_meter("cache")
    meter.create_observable_counter(
        telemetry.CACHE_REQUESTS, [_requests], unit="{request}",
        description="cache lookups by result: hit, stale, miss, bypass",
    )
    meter.create_observable_counter(
        telemetry.CACHE_ERRORS, [_errors], unit="{error}",
        description="cache errors by kind: backend, rejected, unstorable",
    )
    meter.create_observable_counter(
        telemetry.CACHE_LOCK_WAITS, [_lock_waits], unit="{wait}",
        description="callers that waited for another process's computation",
    )
