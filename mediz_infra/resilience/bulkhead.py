"""The bulkhead: at most N calls at once, a bounded queue for the rest, a bounded wait.

A bulkhead keeps one slow upstream from taking every worker of the app: calls beyond
``max_concurrent`` wait in a FIFO queue of at most ``max_queued`` for at most ``queue_timeout``
seconds, and are refused with :class:`~mediz_infra.errors.BulkheadFull` otherwise. A free slot
is taken without awaiting anything; a released slot goes straight to the oldest waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import ParamSpec, TypeVar

from ..errors import BulkheadFull, ConfigError
from .stats import track

__all__ = ["Bulkhead"]

P = ParamSpec("P")
T = TypeVar("T")


class Bulkhead:
    """Limits how many calls run at once, and how many wait and for how long.

    Use ``async with bulkhead: ...``, ``await bulkhead.call(fn, *args)`` or ``@bulkhead``.

    Args:
        max_concurrent: calls running at once.
        max_queued: calls waiting for a slot (0: refuse at once when all slots are taken).
        queue_timeout: seconds a call waits for a slot before it is refused.
        name: shown in errors and telemetry.

    Raises:
        ConfigError: an argument is out of range (the message names it).
    """

    __slots__ = (
        "__weakref__",
        "_waiters",
        "active",
        "admitted",
        "max_concurrent",
        "max_queued",
        "name",
        "queue_timeout",
        "rejected",
    )

    telemetry_policy = "bulkhead"

    def __init__(
        self,
        max_concurrent: int,
        *,
        max_queued: int = 0,
        queue_timeout: float = 1.0,
        name: str = "default",
    ) -> None:
        for field, value in (("max_concurrent", max_concurrent), ("max_queued", max_queued)):
            low = 1 if field == "max_concurrent" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(field, f"must be an integer of at least {low}, got {value!r}")
        if (
            isinstance(queue_timeout, bool)
            or not isinstance(queue_timeout, int | float)
            or not math.isfinite(queue_timeout)
            or queue_timeout < 0
        ):
            raise ConfigError(
                "queue_timeout", f"must be a number of seconds of at least 0, got {queue_timeout!r}"
            )
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.queue_timeout = float(queue_timeout)
        self.name = name
        #: calls holding a slot
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        #: calls that got a slot, and calls refused (exported as ``mediz.resilience.calls``)
        self.admitted = self.rejected = 0
        track(self)

    def telemetry_counts(self) -> dict[str, int]:
        """Calls by outcome, for telemetry."""
        return {"admitted": self.admitted, "rejected": self.rejected}

    def _full(self, timeout: float) -> BulkheadFull:
        self.rejected += 1
        return BulkheadFull(
            self.name,
            max_concurrent=self.max_concurrent,
            max_queued=self.max_queued,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return (
            f"<Bulkhead {self.name!r} {self.active}/{self.max_concurrent} running, "
            f"{self.waiting} waiting>"
        )

    @property
    def waiting(self) -> int:
        """Calls queued for a slot."""
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self) -> None:
        """Take a slot, waiting in line if need be.

        Raises:
            BulkheadFull: the queue was full, or no slot came free within ``queue_timeout``.
        """
        if self.active < self.max_concurrent and not self._waiters:
            self.active += 1
            self.admitted += 1
            return
        if len(self._waiters) >= self.max_queued:
            raise self._full(0.0)
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.queue_timeout):
                await waiter
            self.admitted += 1
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                self.admitted += 1
                return  # the slot was handed over as the timer fired: keep it
            raise self._full(self.queue_timeout) from None
        except BaseException:
            # cancelled while waiting: if a slot was handed over meanwhile, pass it on
            if waiter.done() and not waiter.cancelled():
                self.release()
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):  # release() may have taken it out already
                self._waiters.remove(waiter)

    def release(self) -> None:
        """Give a slot back: to the oldest waiter if there is one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: active stays the same
                return
        self.active -= 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` holding a slot.

        Raises:
            BulkheadFull: no slot (see :meth:`acquire`).
        """
        await self.acquire()
        try:
            return await fn(*args, **kwargs)
        finally:
            self.release()

    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorate an async function so that every call holds a slot."""
        call = self.call

        @functools.wraps(fn)
        async def bounded(*args: P.args, **kwargs: P.kwargs) -> T:
            return await call(fn, *args, **kwargs)

        bounded.bulkhead = self  # type: ignore[attr-defined]
        return bounded
