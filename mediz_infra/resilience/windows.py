"""The sliding windows a circuit breaker judges recent calls by: pure arithmetic, no I/O.

A window policy (:class:`CountWindow`, :class:`TimeWindow`) is a small frozen value the user
picks; :meth:`~CountWindow.tally` makes the mutable tally one breaker keeps. A tally records each
call's outcome as *ok*, *failed* and/or *slow* and answers ``(calls, failures, slow)`` over the
window. Times come from the caller (the breaker's clock), so the arithmetic is testable without
sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from ..errors import ConfigError

__all__ = ["CountWindow", "Tally", "TimeWindow", "Window"]

FAILED = 1
SLOW = 2


class Tally(Protocol):
    """The mutable record of one window (see :meth:`CountWindow.tally`)."""

    def add(self, now: float, outcome: int) -> None:
        """Record one call: ``outcome`` is 0 (ok), or ``FAILED | SLOW`` bits."""

    def totals(self, now: float) -> tuple[int, int, int]:
        """``(calls, failures, slow calls)`` inside the window at ``now``."""

    def clear(self) -> None:
        """Forget every call."""


class Window(Protocol):
    """A window policy: makes the tally a breaker keeps."""

    def tally(self) -> Tally:
        """A fresh, empty tally."""


@dataclass(frozen=True, slots=True)
class CountWindow:
    """The last ``size`` calls, whenever they happened.

    Use it when traffic is steady; at low traffic a count window remembers failures for as long
    as no new calls come, so a :class:`TimeWindow` forgets an old incident sooner.

    Raises:
        ConfigError: ``size`` is below 1 (field ``window.size``).
    """

    size: int = 100

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ConfigError("window.size", f"must be an integer of at least 1, got {self.size!r}")

    def tally(self) -> CountTally:
        return CountTally(self.size)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The calls of the last ``seconds``, kept in ``buckets`` slices (the window slides a slice
    at a time, so a call is forgotten between ``seconds - seconds/buckets`` and ``seconds``
    after it ended).

    Raises:
        ConfigError: ``seconds`` is not a positive finite number (field ``window.seconds``) or
            ``buckets`` is below 1 (field ``window.buckets``).
    """

    seconds: float = 60.0
    buckets: int = 10

    def __post_init__(self) -> None:
        if (
            isinstance(self.seconds, bool)
            or not isinstance(self.seconds, int | float)
            or not math.isfinite(self.seconds)
            or self.seconds <= 0
        ):
            raise ConfigError(
                "window.seconds", f"must be a positive number of seconds, got {self.seconds!r}"
            )
        if isinstance(self.buckets, bool) or not isinstance(self.buckets, int) or self.buckets < 1:
            raise ConfigError(
                "window.buckets", f"must be an integer of at least 1, got {self.buckets!r}"
            )

    def tally(self) -> TimeTally:
        return TimeTally(self.seconds, self.buckets)


class CountTally:
    """A ring of the last ``size`` outcomes with running totals.

    While the ring holds no failed or slow call, a success only bumps a counter: where it sits
    in the ring cannot matter until a bad outcome arrives (the breaker's hot path).
    """

    __slots__ = ("bad", "calls", "failures", "pos", "ring", "size", "slow")

    def __init__(self, size: int) -> None:
        self.size = size
        self.ring = bytearray(size)
        self.pos = 0
        self.calls = 0  # recorded so far, capped at size when read
        self.bad = 0  # entries of the ring that are not plain successes
        self.failures = 0
        self.slow = 0

    def add(self, now: float, outcome: int) -> None:
        self.calls += 1
        if not self.bad and not outcome:
            return
        ring, pos = self.ring, self.pos
        old = ring[pos]
        if old:
            self.bad -= 1
            self.failures -= old & FAILED
            self.slow -= (old & SLOW) >> 1
        if outcome:
            self.bad += 1
            self.failures += outcome & FAILED
            self.slow += (outcome & SLOW) >> 1
        ring[pos] = outcome
        self.pos = pos + 1 if pos + 1 < self.size else 0

    def totals(self, now: float) -> tuple[int, int, int]:
        return min(self.calls, self.size), self.failures, self.slow

    def clear(self) -> None:
        self.ring = bytearray(self.size)
        self.pos = self.calls = self.bad = self.failures = self.slow = 0


class TimeTally:
    """Per-slice counts of calls, failures and slow calls, with running totals."""

    __slots__ = ("current", "failures", "n", "slices", "slow", "total", "width")

    def __init__(self, seconds: float, buckets: int) -> None:
        self.n = buckets
        self.width = seconds / buckets
        # each slice: [calls, failures, slow]
        self.slices = [[0, 0, 0] for _ in range(buckets)]
        self.current = -1  # index (time // width) of the newest slice
        self.total = [0, 0, 0]

    def _roll(self, now: float) -> list[int]:
        index = int(now // self.width)
        if index != self.current:
            if index < self.current:  # a clock that went back: count it in the newest slice
                index = self.current
            else:
                total = self.total
                for step in range(self.current + 1, min(index, self.current + self.n) + 1):
                    old = self.slices[step % self.n]
                    total[0] -= old[0]
                    total[1] -= old[1]
                    total[2] -= old[2]
                    old[0] = old[1] = old[2] = 0
                self.current = index
        return self.slices[index % self.n]

    def add(self, now: float, outcome: int) -> None:
        bucket = self._roll(now)
        total = self.total
        bucket[0] += 1
        total[0] += 1
        if outcome:
            failed, slow = outcome & FAILED, (outcome & SLOW) >> 1
            bucket[1] += failed
            bucket[2] += slow
            total[1] += failed
            total[2] += slow

    def totals(self, now: float) -> tuple[int, int, int]:
        self._roll(now)
        calls, failures, slow = self.total
        return calls, failures, slow

    def clear(self) -> None:
        self.slices = [[0, 0, 0] for _ in range(self.n)]
        self.total = [0, 0, 0]
