"""Deadlines for hot paths: one timer for every waiting task, not one ``asyncio.timeout`` each.

``asyncio.timeout`` pushes a timer onto the loop's heap and cancels it again on every call: a
measurable share of a short query or a rate-limit decision when every request pays it. Here the
tasks of one :class:`Deadlines` share one timer, armed for the earliest deadline; deadlines that
fall within ``tick`` of each other are handled by the same wake-up, so a task may be cancelled up
to ``tick`` late, never early. Used by the Postgres pool (waiting acquires) and the rate limiter
(store calls).

Usage::

    task = deadlines.enter(budget)
    try:
        return await work()
    except asyncio.CancelledError:
        if deadlines.expired(task):   # ours: the deadline passed
            raise TimeoutError from None
        raise                         # anyone else's cancel propagates
    finally:
        deadlines.leave(task)
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadlines"]


class Deadlines:
    """Cancels entered tasks whose deadline passed; :meth:`expired` tells them apart.

    Args:
        timeout: the default budget of :meth:`enter`, in seconds.
        tick: how late a deadline may fire at most when several are close together.
    """

    __slots__ = ("_due", "_expired", "_handle", "_loop", "_when", "tick", "timeout")

    def __init__(self, timeout: float | None = None, *, tick: float = 0.05) -> None:
        self.timeout = timeout
        self.tick = tick
        self._due: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._when = float("inf")

    def enter(self, budget: float | None = None) -> asyncio.Task[object]:
        """Start the clock for the current task (``budget`` or the default timeout)."""
        loop = asyncio.get_running_loop()
        task: asyncio.Task[object] | None = asyncio.current_task(loop)
        seconds = self.timeout if budget is None else budget
        if task is None or seconds is None:
            raise RuntimeError("Deadlines.enter() needs a running task and a budget")
        if loop is not self._loop:  # a new event loop (tests): forget the old one's timer
            self._loop, self._handle, self._when = loop, None, float("inf")
        deadline = loop.time() + seconds
        self._due[task] = deadline
        if self._handle is None or deadline < self._when - self.tick:
            self._arm(deadline)
        return task

    def leave(self, task: asyncio.Task[object]) -> None:
        """The work ended, either way: forget ``task``."""
        self._due.pop(task, None)
        self._expired.discard(task)

    def expired(self, task: asyncio.Task[object]) -> bool:
        """True when this deadline cancelled ``task`` and nothing else did.

        The deadline's cancellation is withdrawn either way; ``False`` while another
        cancellation (the caller's own) is pending, which must then propagate.
        """
        if task in self._expired:
            self._expired.discard(task)
            return task.uncancel() == 0
        return False

    def _arm(self, when: float) -> None:
        assert self._loop is not None
        if self._handle is not None:
            self._handle.cancel()
        self._when = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None
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
            self._arm(max(earliest, now + self.tick))
