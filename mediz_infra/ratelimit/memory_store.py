"""The in-process counter store: the Lua script's arithmetic in Python, for one process.

Used for ``memory://`` URLs (``memory://name``: one store per name in the process). The arithmetic
is the Lua script's, written once more because an in-process store needs it; the contract suite
runs both. A decision is synchronous, so it is atomic within the event loop; counters are not shared
between processes: use Redis for that. Expired entries are swept every few thousand writes, so
memory stays proportional to the clients active within the longest window.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from .gcra import gcra
from .windows import Outcome, fixed_window, moving_window, sliding_window

__all__ = ["MemoryStore"]

_SWEEP_EVERY = 4096


def _ms(us: int) -> int:
    return 0 if us <= 0 else math.ceil(us / 1000)


def _ticks_ms(ticks: int, tick: int) -> int:
    """Whole milliseconds (rounded up) in ``ticks`` of ``tick`` ns, exactly."""
    return 0 if ticks <= 0 else -(-ticks * tick // 1_000_000)


class MemoryStore:
    """Counters in a dict, same contract as the Redis store.

    Args:
        clock: seconds; tests pass a fake one to roll windows without sleeping.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        # key -> [expires_at_us, state]; state: int (fixed count / GCRA TAT in ticks),
        # list[int] (moving-window log), or [window number, current, previous] (sliding)
        self._data: dict[str, list[Any]] = {}
        self._writes = 0

    def __len__(self) -> int:
        return len(self._data)

    async def decide(self, keys: Sequence[str], args: Sequence[str | int]) -> list[int]:
        """See :class:`~mediz_infra.ratelimit.store.LimiterStore`."""
        return self.decide_now(keys, args)

    def decide_now(self, keys: Sequence[str], args: Sequence[str | int]) -> list[int]:
        """The decision, synchronously (atomic within the event loop)."""
        limits = tuple(
            (int(args[2 + 3 * i]), int(args[3 + 3 * i]), int(args[4 + 3 * i]))
            for i in range(len(keys))
        )
        return self.decide_parsed(keys, str(args[0]), int(args[1]), limits)

    def decide_parsed(
        self,
        keys: Sequence[str],
        code: str,
        cost: int,
        limits: Sequence[tuple[int, int, int]],
    ) -> list[int]:
        """:meth:`decide_now` with the arguments already parsed: ``(amount, window_us, burst)``
        per key, ``(interval, tick_ns, burst)`` for GCRA (the limiter keeps them parsed per
        rule, so a decision converts nothing)."""
        clock = self.clock
        now_ns = time.time_ns() if clock is time.time else int(clock() * 1_000_000_000)
        now = now_ns // 1000
        data = self._data
        out = [1]
        writes: list[tuple[str, int, Any]] = []
        held: dict[int, int] = {}  # GCRA: limit index -> its reset if nothing is consumed
        for key, (amount, window, burst) in zip(keys, limits, strict=True):
            entry = data.get(key)
            if entry is not None and entry[0] <= now:
                del data[key]
                entry = None
            verdict: Outcome
            if code == "f":
                count = entry[1] if entry else 0
                verdict = fixed_window(
                    count, entry[0] - now if entry else None, amount, window, cost
                )
                write: Any = (count + cost, entry[0] if entry else now + window)
            elif code == "m":
                log: list[int] = entry[1] if entry else []
                del log[: bisect.bisect_right(log, now - window)]
                verdict = moving_window(log, now, amount, window, cost)
                write = log
            elif code == "s":
                index, cur, prev = entry[1] if entry else (-1, 0, 0)
                verdict, live, new_cur, prev = sliding_window(
                    index, cur, prev, now, amount, window, cost
                )
                write = ([live, new_cur, prev], now + 2 * window)
            else:  # (amount, window, burst) is (interval, tick, burst) here: see gcra.emission
                interval, tick = amount, window
                now_t = now_ns // tick
                debt = max(0, entry[1] - now_t) if entry else 0  # the state: a TAT in ticks
                g = gcra(debt, interval, burst, cost)
                held[len(writes)] = _ticks_ms(debt, tick)
                tat = now_t + g.debt
                write = (tat, -(-tat * tick // 1000))  # expires when the TAT passes
                verdict = Outcome(
                    g.allowed, g.remaining, _ticks_ms(g.reset, tick), _ticks_ms(g.retry, tick)
                )
            if code == "g":  # already in ms
                out.extend((verdict.remaining, verdict.reset, verdict.retry))
            else:
                out.extend((verdict.remaining, _ms(verdict.reset), _ms(verdict.retry)))
            if not verdict.allowed:
                out[0] = 0
            writes.append((key, window, write))
        if out[0]:
            for key, window, write in writes:
                if code == "m":
                    write.extend([now] * cost)
                    data[key] = [now + window, write]
                else:
                    data[key] = [write[1], write[0]]
            self._writes += 1
            if self._writes % _SWEEP_EVERY == 0:
                self.sweep(now)
        else:  # nothing is consumed: a limit that would have allowed still has its units
            for i in range(len(keys)):
                if out[3 + 3 * i] == 0:
                    out[1 + 3 * i] += cost
                    if i in held:  # and its reset stays the previous TAT's
                        out[2 + 3 * i] = held[i]
        return out

    def sweep(self, now_us: int | None = None) -> int:
        """Forget expired counters now; returns how many were dropped."""
        now = int(self.clock() * 1_000_000) if now_us is None else now_us
        dead = [k for k, entry in self._data.items() if entry[0] <= now]
        for key in dead:
            del self._data[key]
        return len(dead)

    async def aclose(self) -> None:
        """Nothing to release."""
