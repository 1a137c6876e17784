"""One cached value as stored: a small header, then the serialised payload.

On Redis an entry is one string: ``m1|<fresh_until_ms>|<compute_ms>|<tag versions>|<payload>``.
``fresh_until`` (wall-clock milliseconds) is when the value turns stale; the key's own TTL is
``ttl + stale_ttl``, so a stale value can still be served while one refresher recomputes it.
``compute_ms`` is how long the function took, for probabilistic early refresh. The tag versions
are those current when the value was computed; a read that sees other versions treats the entry
as gone (see :mod:`mediz_infra.cache.tags`). Parsing is one ``bytes.split``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["MAGIC", "Entry", "pack", "unpack"]

MAGIC = b"m1"


@dataclass(slots=True)
class Entry:
    """A decoded header plus the payload (and, in-process, a copier of the decoded value).

    Attributes:
        fresh_until: wall-clock seconds after which the value is stale.
        compute: how long computing it took, in seconds.
        tags: the tag versions it was computed under, joined (``b"3,0"``).
        payload: the serialised value.
        copier: in-process stores only: returns a fresh copy of the decoded value.
        expires: in-process stores only: ``time.time()`` deadline of the entry (wall clock,
            like ``fresh_until``, so a hit reads one clock).
    """

    fresh_until: float
    compute: float
    tags: bytes
    payload: bytes
    copier: Callable[[], Any] = lambda: None
    expires: float = 0.0


def pack(payload: bytes, fresh_until: float, compute: float, tags: bytes) -> bytes:
    """The bytes stored in Redis for one value."""
    return b"m1|%d|%d|%s|" % (int(fresh_until * 1000), int(compute * 1000), tags) + payload


def unpack(raw: bytes) -> Entry | None:
    """Parse stored bytes; ``None`` for something this version did not write."""
    parts = raw.split(b"|", 4)
    if len(parts) != 5 or parts[0] != MAGIC:
        return None
    try:
        return Entry(int(parts[1]) / 1000, int(parts[2]) / 1000, parts[3], parts[4])
    except ValueError:
        return None
