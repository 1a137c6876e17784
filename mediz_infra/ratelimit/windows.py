"""Window arithmetic for the fixed window, moving window and sliding-window counter.

The strategies carry ``limits``' names and meaning; these pure functions are the memory store's
path and the specification of ``mediz_infra/_lua/ratelimit.lua``, which does the same on Redis
in one script. A denied request consumes nothing. All times are integer microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["Outcome", "fixed_window", "moving_window", "sliding_window"]


class Outcome(NamedTuple):
    """One limit's verdict: ``remaining`` after the request when allowed, times in µs."""

    allowed: bool
    remaining: int
    reset: int
    retry: int


def fixed_window(count: int, ttl: int | None, amount: int, window: int, cost: int) -> Outcome:
    """A counter that starts its window at the first hit and expires with it.

    Args:
        count: hits in the live window (0 for none).
        ttl: µs the live window still lasts, None when there is none.
        amount: hits allowed per window.
        window: the window length in µs.
        cost: units this request takes.
    """
    if ttl is None or ttl <= 0:
        count, ttl = 0, window
    if count + cost > amount:
        return Outcome(False, max(0, amount - count), ttl, window if cost > amount else ttl)
    return Outcome(True, amount - count - cost, ttl, 0)


def moving_window(entries: Sequence[int], now: int, amount: int, window: int, cost: int) -> Outcome:
    """A log of hit times; a hit expires exactly ``window`` after it was made.

    Args:
        entries: the hit times still inside the window (``> now - window``), oldest first.
        now: the current time.
        amount: hits allowed in any window.
        window: the window length in µs.
        cost: units this request takes (one entry each).
    """
    count = len(entries)
    reset = entries[0] + window - now if count else window
    if count + cost > amount:
        retry = window if cost > amount else entries[count + cost - amount - 1] + window - now
        return Outcome(False, max(0, amount - count), reset, retry)
    return Outcome(True, amount - count - cost, reset, 0)


def sliding_window(
    index: int, current: int, previous: int, now: int, amount: int, window: int, cost: int
) -> tuple[Outcome, int, int, int]:
    """Two aligned fixed windows; the previous one weighs by the share of it still covered.

    Args:
        index: the window number stored (``now // window`` when written), -1 for none.
        current: hits stored for window ``index``.
        previous: hits stored for window ``index - 1``.
        now: the current time.
        amount: hits allowed per window.
        window: the window length in µs.
        cost: units this request takes.

    Returns:
        The outcome and the state to store when allowed: (window number, current, previous).
    """
    live = now // window
    elapsed = now - live * window
    if index == live:
        cur, prev = current, previous
    elif index == live - 1:
        cur, prev = 0, current
    else:
        cur, prev = 0, 0
    weighted = prev * (window - elapsed) / window + cur
    if weighted + cost > amount:
        need = amount - cost
        if cost > amount:
            retry = window
        elif cur <= need:  # the previous window's share fades enough within this window
            retry = math.ceil(window - (need - cur) * window / prev - elapsed)
        else:  # only the next window can fit it, once this one's hits fade in turn
            retry = math.ceil(window - elapsed + window - need * window / cur)
        remaining = max(0, math.floor(amount - weighted))
        return Outcome(False, remaining, window - elapsed, max(1, retry)), live, cur, prev
    remaining = max(0, math.floor(amount - weighted - cost))
    return Outcome(True, remaining, window - elapsed, 0), live, cur + cost, prev
