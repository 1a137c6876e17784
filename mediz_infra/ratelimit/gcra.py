"""GCRA (generic cell rate algorithm): pure maths over one stored number, the TAT.

A limit of ``amount`` per ``window`` emits one unit every ``T = window / amount``; a client may
run ``burst`` units ahead of that schedule (``burst`` defaults to ``amount``). The only state
is the *theoretical arrival time* (TAT) of the next unit, so one key holds one limit, the
retry-after is exact (no window edge to wait for), and a burst refills smoothly instead of all
at once. ``mediz_infra/_lua/ratelimit.lua`` runs the same arithmetic on Redis; the memory store
calls :func:`gcra` directly. All times are integer microseconds.
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["GcraResult", "gcra"]


class GcraResult(NamedTuple):
    """One GCRA decision.

    Attributes:
        allowed: the request fits.
        tat: the TAT to store when allowed (unchanged state when denied).
        remaining: units a client could still send now (after this request when allowed).
        reset: microseconds until the full burst is available again.
        retry: microseconds until this request would fit (0 when allowed).
    """

    allowed: bool
    tat: int
    remaining: int
    reset: int
    retry: int


def gcra(
    stored_tat: int | None, now: int, amount: int, window: int, burst: int, cost: int
) -> GcraResult:
    """Decide one request of ``cost`` units against ``amount`` per ``window`` µs.

    Args:
        stored_tat: the TAT stored by the previous allowed request, None for a new key.
        now: the current time in µs (the server's clock on Redis).
        amount: units per window (> 0).
        window: the window in µs (> 0).
        burst: units that may be sent back to back (> 0; usually ``amount``).
        cost: units this request takes (> 0). A cost above ``burst`` never fits.

    Returns:
        The decision; store ``tat`` with a TTL of ``tat - now`` only when ``allowed``.
    """
    interval = window / amount
    tolerance = burst * interval
    tat = now if stored_tat is None or stored_tat < now else stored_tat
    new_tat = tat + cost * interval
    allow_at = new_tat - tolerance
    if allow_at > now:
        remaining = max(0, math.floor((now - (tat - tolerance)) / interval))
        return GcraResult(False, tat, remaining, math.ceil(tat - now), math.ceil(allow_at - now))
    remaining = max(0, math.floor((now - (new_tat - tolerance)) / interval))
    stored = math.ceil(new_tat)
    return GcraResult(True, stored, remaining, stored - now, 0)
