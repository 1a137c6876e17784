"""Hedged calls: when an idempotent call is slow, start another; the first answer wins.

Tail latency often comes from one slow replica or one stalled connection, not from the upstream
as a whole: a second attempt started after ``delay`` (say, the call's 95th percentile) usually
answers first. The loser is cancelled. Use it only for idempotent calls (reads, or writes with
an idempotency key), and with a delay well above the median, or the upstream sees up to
``attempts`` times the traffic.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from ..errors import ConfigError

__all__ = ["Hedge"]

P = ParamSpec("P")
T = TypeVar("T")


class Hedge:
    """Start another attempt of a call whenever ``delay`` seconds pass without an answer.

    Use ``await Hedge(0.2).call(fn, *args)`` or ``@Hedge(0.2)``.

    Args:
        delay: seconds to wait for an answer before starting the next attempt.
        attempts: attempts in flight at most (the first included).

    An attempt that fails starts the next one at once (if any is left); the first success is
    returned and every other attempt is cancelled (and awaited). When every attempt failed,
    the first error is raised. Cancelling the caller cancels every attempt.

    Raises:
        ConfigError: an argument is out of range (the message names it).
    """

    __slots__ = ("attempts", "delay")

    def __init__(self, delay: float, *, attempts: int = 2) -> None:
        if (
            isinstance(delay, bool)
            or not isinstance(delay, int | float)
            or not math.isfinite(delay)
            or delay < 0
        ):
            raise ConfigError("delay", f"must be a number of seconds of at least 0, got {delay!r}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError("attempts", f"must be an integer of at least 1, got {attempts!r}")
        self.delay = float(delay)
        self.attempts = attempts

    def __repr__(self) -> str:
        return f"<Hedge after {self.delay:g} s, {self.attempts} attempts>"

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)``, hedged; the first successful answer.

        Raises:
            Exception: the first attempt's error, when every attempt failed.
        """
        started = 0
        pending: set[asyncio.Future[T]] = set()
        errors: list[BaseException] = []

        def launch() -> None:
            nonlocal started
            started += 1
            pending.add(asyncio.ensure_future(fn(*args, **kwargs)))

        launch()
        try:
            while True:
                wait = self.delay if started < self.attempts else None
                done, _ = await asyncio.wait(
                    pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:  # no answer within the delay: hedge
                    launch()
                    continue
                for task in done:
                    pending.discard(task)
                    if task.cancelled():
                        errors.append(asyncio.CancelledError())
                        continue
                    error = task.exception()
                    if error is None:
                        return task.result()
                    errors.append(error)
                if not pending:
                    if started < self.attempts:
                        launch()  # every attempt so far failed: try the next one now
                        continue
                    raise errors[0]
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorate an async function so that every call is hedged."""
        call = self.call

        @functools.wraps(fn)
        async def hedged(*args: P.args, **kwargs: P.kwargs) -> T:
            return await call(fn, *args, **kwargs)

        hedged.hedge = self  # type: ignore[attr-defined]
        return hedged
