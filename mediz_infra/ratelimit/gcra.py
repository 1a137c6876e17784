"""GCRA (generic cell rate algorithm): pure integer maths over one stored time, the TAT.

A limit of ``amount`` per ``window`` emits one unit every ``interval = window / amount``; a
client may run ``burst`` units ahead of that schedule (``burst`` defaults to ``amount``). The
only state is the *theoretical arrival time* (TAT) of the next unit, so one key holds one limit,
the retry-after is exact (no window edge to wait for), and a burst refills smoothly instead of
all at once. ``mediz_infra/_lua/ratelimit.lua`` runs the same arithmetic on Redis; the memory
store calls :func:`gcra` directly.

Everything is an integer number of *ticks*: nanoseconds, or microseconds for windows longer
than :data:`NS_WINDOW_LIMIT` seconds. Floating point would stop counting at high rates (an
interval of 60 ns vanishes next to a timestamp of 1.7e15 µs). Redis's Lua computes with doubles,
exact only below 2**53, so the script never handles an absolute time in ticks: the TAT is stored
as whole seconds plus ticks within that second, and the decision works on the *debt*
``max(0, TAT - now)``, which :func:`emission` bounds well below 2**53 for every limit it accepts.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["NS_WINDOW_LIMIT", "Emission", "GcraResult", "emission", "gcra"]

NS_WINDOW_LIMIT = 31 * 86_400
"""Windows up to this many seconds (31 days) count in nanoseconds, longer ones in microseconds."""

_EXACT = 2**53  # doubles (Redis's Lua numbers) hold every integer below this


class Emission(NamedTuple):
    """How one GCRA limit counts: the arguments the store takes for it.

    Attributes:
        interval: ticks between two units (``window / amount``, rounded to a whole tick).
        tick: nanoseconds per tick (1, or 1000 for windows over 31 days).
        burst: units that may be sent back to back.
    """

    interval: int
    tick: int
    burst: int


def emission(amount: int, window: int, burst: int) -> Emission:
    """The integer schedule of ``amount`` units per ``window`` seconds with ``burst``.

    Raises:
        ValueError: the interval cannot be counted exactly enough in whole ticks (the rounding
            would add or lose a whole unit over one window), or ``burst`` is so large that the
            debt could leave the range Redis's Lua computes exactly in. The message says why.
    """
    tick = 1 if window <= NS_WINDOW_LIMIT else 1000
    unit = "ns" if tick == 1 else "µs"
    span = window * (1_000_000_000 // tick)
    interval = (2 * span + amount) // (2 * amount)  # window / amount, rounded
    if interval < 1 or abs(interval * amount - span) >= interval:
        raise ValueError(
            f"one unit every {span / amount:.3g} {unit} cannot be counted in whole {unit} "
            "without gaining or losing a unit per window; use a longer window with a "
            "proportional amount, or the fixed-window strategy"
        )
    if 2 * burst * interval + 1_000_000_000 // tick >= _EXACT:
        raise ValueError(
            f"a burst of {burst} units spans {burst * interval * tick / 86_400e9:.0f} days, "
            "beyond what the Redis script counts exactly; lower the burst"
        )
    return Emission(interval, tick, burst)


class GcraResult(NamedTuple):
    """One GCRA decision, in ticks.

    Attributes:
        allowed: the request fits.
        debt: ``TAT - now`` to store when allowed (the current debt, unchanged, when denied).
        remaining: units a client could still send now (after this request when allowed).
        reset: ticks until the full burst is available again.
        retry: ticks until this request would fit (0 when allowed).
    """

    allowed: bool
    debt: int
    remaining: int
    reset: int
    retry: int


def gcra(debt: int, interval: int, burst: int, cost: int) -> GcraResult:
    """Decide one request of ``cost`` units.

    Args:
        debt: ``max(0, TAT - now)`` in ticks: 0 for a new key or one whose TAT has passed.
        interval: ticks between two units (> 0).
        burst: units that may be sent back to back (> 0).
        cost: units this request takes (> 0). A cost above ``burst`` never fits; its retry
            time is then the whole tolerance (``burst * interval``), as a window strategy
            answers a whole window.

    Returns:
        The decision; when ``allowed``, store ``now + debt`` as the TAT, for ``debt`` ticks.
    """
    tolerance = burst * interval
    remaining = max(0, (tolerance - debt) // interval)
    if cost > burst:
        return GcraResult(False, debt, remaining, debt, tolerance)
    new = debt + cost * interval
    if new > tolerance:
        return GcraResult(False, debt, remaining, debt, new - tolerance)
    return GcraResult(True, new, (tolerance - new) // interval, new, 0)
