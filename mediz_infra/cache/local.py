"""The in-process store: the whole ``memory://`` backend, and the optional L1 in front of Redis.

An ``OrderedDict`` used as an LRU of :class:`~mediz_infra.cache.entry.Entry` objects holding a
*copier* of the decoded value (see :func:`~mediz_infra.cache.serializers.frozen_copier`): a hit is
one dict lookup, one clock read and one cheap copy, and no caller can mutate the stored value.

``memory://name`` stores are shared per process by name, so two
``Cache("memory://app")`` objects see one store; ``memory://`` alone is private to its Cache.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import ClassVar

from .entry import Entry

__all__ = ["LocalStore"]


class LocalStore:
    """A bounded LRU of entries with per-entry deadlines (``time.time``).

    Args:
        maxsize: entries kept; the least recently used goes first.
        max_ttl: an upper bound on any entry's life here (the L1's "short TTL"), or ``None``.
    """

    _shared: ClassVar[dict[str, LocalStore]] = {}

    __slots__ = ("data", "generation", "max_ttl", "maxsize", "tag_generation", "tags")

    def __init__(self, maxsize: int = 10_000, max_ttl: float | None = None) -> None:
        self.maxsize = maxsize
        self.max_ttl = max_ttl
        self.data: OrderedDict[str, Entry] = OrderedDict()  # read directly on the hot path
        #: the ``memory://`` backend's tag versions, per cache prefix (shared like ``data``, so
        #: every Cache on one named store sees one invalidation, as on a shared Redis)
        self.tags: dict[str, dict[str, int]] = {}
        #: bumped on every tag change, so functions can cache their joined versions
        self.tag_generation = 0
        #: bumped by every deletion (an invalidation): a value read or computed before it must
        #: not be put back afterwards (see :meth:`put_unless_invalidated`)
        self.generation = 0

    @classmethod
    def shared(cls, name: str) -> LocalStore:
        """The process-wide store called ``name`` (created on first use)."""
        store = cls._shared.get(name)
        if store is None:
            store = cls._shared[name] = cls()
        return store

    def __len__(self) -> int:
        return len(self.data)

    def peek(self, key: str) -> Entry | None:
        """The live entry for ``key`` (stale or not), or ``None``; refreshes its LRU position."""
        entry = self.data.get(key)
        if entry is None:
            return None
        if entry.expires <= time.time():
            del self.data[key]
            return None
        self.data.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry, ttl: float) -> None:
        """Store ``entry`` for ``ttl`` seconds (capped by ``max_ttl``), evicting the oldest."""
        if self.max_ttl is not None:
            ttl = min(ttl, self.max_ttl)
        if ttl <= 0:
            return
        entry.expires = time.time() + ttl
        data = self.data
        data[key] = entry
        data.move_to_end(key)
        while len(data) > self.maxsize:
            data.popitem(last=False)

    def put_unless_invalidated(self, key: str, entry: Entry, ttl: float, generation: int) -> bool:
        """:meth:`put`, unless something was deleted since ``generation`` was read.

        A reader takes :attr:`generation` before it reads or computes a value; if an
        invalidation lands meanwhile, the value may predate it and is not kept (the caller
        still returns it). Any deletion counts, not only this key's: invalidations are rare
        next to reads, and the cost is one skipped fill.
        """
        if generation != self.generation:
            return False
        self.put(key, entry, ttl)
        return True

    def delete(self, key: str) -> bool:
        """Drop one key; whether it was there."""
        self.generation += 1
        return self.data.pop(key, None) is not None

    def delete_prefix(self, prefix: str) -> int:
        """Drop every key starting with ``prefix``; how many."""
        self.generation += 1
        doomed = [k for k in self.data if k.startswith(prefix)]
        for k in doomed:
            del self.data[k]
        return len(doomed)

    def clear(self) -> None:
        """Drop everything."""
        self.generation += 1
        self.data.clear()
