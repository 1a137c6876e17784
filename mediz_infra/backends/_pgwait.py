"""Acquire deadlines: one timer for every caller waiting on a busy pool, not one each.

``asyncio.timeout`` per acquire costs a timer pushed onto the loop's heap and cancelled again on
every wait, which under load (every acquire waits) is a measurable share of a short query. Here
the waiters share one timer, armed for the earliest deadline; deadlines that fall within
``TICK`` of each other are handled by the same wake-up, so a caller may time out up to ``TICK``
late, never early.
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadlines"]

TICK = 0.05


class Deadlines:
    """Cancels waiting tasks whose deadline passed; :meth:`expired` tells them apart."""

    __slots__ = ("_due", "_expired", "_handle", "_loop", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._when = float("inf")

    def add(self, task: asyncio.Task[object], budget: float) -> None:
        """Cancel ``task`` once ``budget`` seconds have passed, unless :meth:`discard` first."""
        deadline = self._loop.time() + budget
        self._due[task] = deadline
        if deadline < self._when - TICK or self._handle is None:
            self._arm(deadline)

    def discard(self, task: asyncio.Task[object]) -> None:
        """The wait ended (either way): forget ``task``."""
        self._due.pop(task, None)
        self._expired.discard(task)

    def expired(self, task: asyncio.Task[object]) -> bool:
        """True if this object cancelled ``task`` (its deadline passed)."""
        return task in self._expired

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._when = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._when = float("inf")
        now = self._loop.time()
        earliest = float("inf")
        for task, deadline in list(self._due.items()):
            if deadline <= now + 0.001:
                del self._due[task]
                if not task.done():
                    self._expired.add(task)
                    task.cancel()
            else:
                earliest = min(earliest, deadline)
        if earliest != float("inf"):
            self._arm(max(earliest, now + TICK))
