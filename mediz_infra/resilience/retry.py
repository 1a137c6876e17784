"""Retries with exponential back-off and full jitter, on tenacity, that know what to retry.

:class:`Retry` is a policy value: built once, used by any number of concurrent calls (each call
keeps its own attempt count, deadline and delays; the only shared state is the optional
:class:`RetryBudget`). The first attempt is a plain ``await``: tenacity's loop is built only
when that attempt failed with a retryable error, so a call that succeeds pays almost nothing.
From then on tenacity drives the attempts, with this module's stop and wait:

- **what is retried** (:func:`retryable`): connection errors, timeouts, an
  :class:`~mediz_infra.errors.UpstreamError` with status 429, 502, 503 or 504 (or none: the
  upstream was not reached), and httpx's transport errors; never another 4xx, never a
  :class:`~mediz_infra.errors.CircuitOpen` or :class:`~mediz_infra.errors.BulkheadFull` (the
  refusal is the point), never ``asyncio.CancelledError``.
- **how long to wait**: full jitter (tenacity's ``wait_random_exponential``: uniform between 0
  and ``min(max_wait, base * 2 ** (attempt - 1))``), or the upstream's ``Retry-After`` when the
  error carries one (an attribute ``retry_after`` in seconds), whichever is longer.
- **when to stop**: after ``attempts`` attempts; when the next wait would end past the
  ``deadline`` (the call then fails at once with the last error instead of sleeping in vain);
  when the budget refuses.
"""

from __future__ import annotations

import asyncio
import functools
import math
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from ..errors import BulkheadFull, CallTimeout, CircuitOpen, ConfigError, UpstreamError
from .stats import record_retry

__all__ = ["RETRYABLE_STATUSES", "Retry", "RetryBudget", "retryable"]

P = ParamSpec("P")
T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
"""HTTP statuses worth another attempt: the upstream said "later", not "no"."""


def retryable(error: BaseException) -> bool:
    """Whether ``error`` is worth another attempt (the default classification of :class:`Retry`).

    Yes: ``ConnectionError``, ``TimeoutError`` (so :class:`~mediz_infra.errors.CallTimeout`),
    :class:`~mediz_infra.errors.UpstreamError` without a status or with 429/502/503/504,
    ``httpx.TransportError`` and ``httpx.HTTPStatusError`` with one of those statuses. No:
    everything else, in particular other 4xx, :class:`~mediz_infra.errors.CircuitOpen`,
    :class:`~mediz_infra.errors.BulkheadFull` and cancellation.
    """
    if isinstance(error, CircuitOpen | BulkheadFull) or not isinstance(error, Exception):
        return False
    if isinstance(error, UpstreamError):
        return error.status is None or error.status in RETRYABLE_STATUSES
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    httpx = sys.modules.get("httpx")  # only if the app uses httpx: never imported here
    if httpx is not None:
        if isinstance(error, httpx.TransportError):
            return True
        if isinstance(error, httpx.HTTPStatusError):
            return error.response.status_code in RETRYABLE_STATUSES
    return False


def _positive(field: str, value: object, *, allow_zero: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        what = "at least 0" if allow_zero else "a positive number"
        raise ConfigError(field, f"must be {what}, got {value!r}")
    return float(value)


class RetryBudget:
    """Retries allowed as a share of recent calls, so an outage does not multiply traffic.

    With ``ratio=0.2`` over ``seconds=10``, retries may add at most 20 % to the calls of the
    last 10 s (plus ``minimum`` retries in every window, so a quiet app can still retry). Share
    one budget between the :class:`Retry` policies that call one upstream.

    Args:
        ratio: retries allowed per call of the window (0.2: one retry per five calls).
        seconds: the window.
        minimum: retries always allowed per window.
        clock: monotonic seconds.

    Raises:
        ConfigError: an argument is out of range (the message names it).
    """

    __slots__ = ("_calls", "_current", "_retries", "_width", "clock", "minimum", "ratio", "seconds")

    _SLICES = 10

    def __init__(
        self,
        ratio: float = 0.2,
        *,
        seconds: float = 10.0,
        minimum: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio = _positive("budget.ratio", ratio)
        self.seconds = _positive("budget.seconds", seconds)
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
            raise ConfigError(
                "budget.minimum", f"must be an integer of at least 0, got {minimum!r}"
            )
        self.minimum = minimum
        self.clock = clock
        self._width = self.seconds / self._SLICES
        self._calls = [0] * self._SLICES
        self._retries = [0] * self._SLICES
        self._current = -1

    def __repr__(self) -> str:
        calls, retries = self.totals()
        return f"<RetryBudget {self.ratio:g} over {self.seconds:g} s: {retries}/{calls}>"

    def _slot(self) -> int:
        index = int(self.clock() // self._width)
        if index != self._current:
            if index > self._current:
                for step in range(self._current + 1, min(index, self._current + self._SLICES) + 1):
                    self._calls[step % self._SLICES] = 0
                    self._retries[step % self._SLICES] = 0
                self._current = index
            else:  # the clock went back: count in the newest slice
                index = self._current
        return index % self._SLICES

    def totals(self) -> tuple[int, int]:
        """``(calls, retries)`` in the window."""
        self._slot()
        return sum(self._calls), sum(self._retries)

    def record_call(self) -> None:
        """One call started (its first attempt)."""
        self._calls[self._slot()] += 1

    def try_retry(self) -> bool:
        """Take one retry from the budget; ``False`` (and nothing taken) when it is spent."""
        slot = self._slot()
        if sum(self._retries) >= self.minimum + self.ratio * sum(self._calls):
            return False
        self._retries[slot] += 1
        return True


class _Attempts:
    """The state of one call: its start, deadline and the delay chosen for each attempt."""

    __slots__ = ("delays", "first_error", "policy", "start", "stopped_by")

    def __init__(self, policy: Retry, start: float, first_error: BaseException) -> None:
        self.policy = policy
        self.start = start
        self.first_error: BaseException | None = first_error
        self.delays: dict[int, float | None] = {}
        self.stopped_by = ""

    def remaining(self) -> float:
        deadline = self.policy.deadline
        if deadline is None:
            return math.inf
        return deadline - (self.policy.clock() - self.start)

    def delay(self, state: RetryCallState) -> float | None:
        """The wait before the next attempt, or ``None`` to stop (chosen once per attempt)."""
        number = state.attempt_number
        if number in self.delays:
            return self.delays[number]
        policy = self.policy
        delay: float | None
        if number >= policy.attempts:
            delay, self.stopped_by = None, "attempts"
        else:
            delay = float(policy.backoff(state))
            error = state.outcome.exception() if state.outcome is not None else None
            hint = getattr(error, "retry_after", None)
            if policy.honour_retry_after and isinstance(hint, int | float) and hint > 0:
                delay = max(delay, float(hint))
            if delay > policy.max_retry_after:
                delay, self.stopped_by = None, "retry_after"
            elif delay >= self.remaining():
                delay, self.stopped_by = None, "deadline"
            elif policy.budget is not None and not policy.budget.try_retry():
                delay, self.stopped_by = None, "budget"
        self.delays[number] = delay
        if state.outcome is not None and state.outcome.failed:
            error = state.outcome.exception()
            if error is not None:
                decision = "retried" if delay is not None else self.stopped_by
                record_retry(policy.name, number, decision, error, delay or 0.0)
        return delay

    def should_retry(self, error: BaseException) -> bool:
        """The policy's ``retry_on``, counting a refusal to retry."""
        if self.policy.retry_on(error):
            return True
        if isinstance(error, Exception):
            record_retry(self.policy.name, 0, "not_retryable", error, 0.0)
        return False

    def stop(self, state: RetryCallState) -> bool:
        return self.delay(state) is None

    def wait(self, state: RetryCallState) -> float:
        return self.delay(state) or 0.0


class Retry:
    """Retry a call with exponential back-off and full jitter, within a deadline.

    Use ``await policy.call(fn, *args)`` or decorate with ``@policy``. The same policy object
    serves any number of concurrent calls.

    Args:
        attempts: attempts in all (the first one included).
        base: the first back-off window in seconds (the n-th is ``base * 2 ** (n - 1)``).
        max_wait: the largest back-off window.
        attempt_timeout: seconds one attempt may take (it is cancelled and, as a
            :class:`~mediz_infra.errors.CallTimeout`, retried); ``None``: unbounded.
        deadline: seconds the whole call may take, waits included; no attempt runs past it
            and no wait is begun that would end past it. ``None``: unbounded.
        retry_on: decides what is retried (default :func:`retryable`).
        honour_retry_after: wait at least an error's ``retry_after`` seconds.
        max_retry_after: an upstream asking to wait longer than this (or than the deadline
            leaves) is not retried: the call fails at once with its error.
        budget: a :class:`RetryBudget` that retries must fit in.
        sleep: awaited with the seconds to wait (inject one in tests).
        clock: monotonic seconds, for the deadline (inject one in tests).
        name: shown in errors and telemetry.

    Raises:
        ConfigError: an argument is out of range (the message names it).
    """

    __slots__ = (
        "attempt_timeout",
        "attempts",
        "backoff",
        "base",
        "budget",
        "clock",
        "deadline",
        "honour_retry_after",
        "max_retry_after",
        "max_wait",
        "name",
        "retry_on",
        "sleep",
    )

    def __init__(
        self,
        attempts: int = 3,
        *,
        base: float = 0.1,
        max_wait: float = 5.0,
        attempt_timeout: float | None = None,
        deadline: float | None = None,
        retry_on: Callable[[BaseException], bool] = retryable,
        honour_retry_after: bool = True,
        max_retry_after: float = 60.0,
        budget: RetryBudget | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        name: str = "default",
    ) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError("attempts", f"must be an integer of at least 1, got {attempts!r}")
        self.attempts = attempts
        self.base = _positive("base", base)
        self.max_wait = _positive("max_wait", max_wait)
        self.attempt_timeout = (
            None if attempt_timeout is None else _positive("attempt_timeout", attempt_timeout)
        )
        self.deadline = None if deadline is None else _positive("deadline", deadline)
        if not callable(retry_on):
            raise ConfigError("retry_on", f"must be a function of the error, got {retry_on!r}")
        self.retry_on = retry_on
        self.honour_retry_after = honour_retry_after
        self.max_retry_after = _positive("max_retry_after", max_retry_after)
        if budget is not None and not isinstance(budget, RetryBudget):
            raise ConfigError("budget", f"must be a RetryBudget, got {budget!r}")
        self.budget = budget
        self.sleep = sleep
        self.clock = clock
        self.name = name
        self.backoff = wait_random_exponential(multiplier=self.base, max=self.max_wait)

    def __repr__(self) -> str:
        return f"<Retry {self.name!r} {self.attempts} attempts>"

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)``, again after each retryable failure while allowed.

        Raises:
            Exception: the last attempt's error, once no further attempt is allowed (the
                attempts are spent, the deadline or the budget stops it), or at once when the
                error is not retryable.
        """
        start = self.clock()
        if self.budget is not None:
            self.budget.record_call()
        try:
            if self.attempt_timeout is None and self.deadline is None:
                return await fn(*args, **kwargs)
            return await self._bounded(start, fn, args, kwargs)
        except BaseException as exc:
            if self.attempts == 1 or not self.retry_on(exc):
                if self.attempts > 1 and isinstance(exc, Exception):
                    record_retry(self.name, 1, "not_retryable", exc, 0.0)
                raise
            first = exc
        return await self._again(start, first, fn, args, kwargs)

    async def _again(
        self,
        start: float,
        first: BaseException,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        """Attempts 2 and later, driven by tenacity (attempt 1 replays the first error)."""
        state = _Attempts(self, start, first)

        async def attempt() -> T:
            error, state.first_error = state.first_error, None
            if error is not None:
                raise error
            if self.attempt_timeout is None and self.deadline is None:
                return await fn(*args, **kwargs)
            return await self._bounded(start, fn, args, kwargs)

        retrying = AsyncRetrying(
            sleep=self.sleep,
            stop=state.stop,
            wait=state.wait,
            retry=retry_if_exception(state.should_retry),
            reraise=True,
        )
        result: T = await retrying(attempt)
        return result

    async def _bounded(
        self,
        start: float,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        """One attempt under the attempt timeout and what is left of the deadline."""
        limit = self.attempt_timeout or math.inf
        if self.deadline is not None:
            limit = min(limit, self.deadline - (self.clock() - start))
            if limit <= 0:
                raise CallTimeout(f"{self.name} (deadline)", self.deadline)
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                return await fn(*args, **kwargs)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            if self.attempt_timeout is not None and limit >= self.attempt_timeout:
                raise CallTimeout(f"{self.name} (one attempt)", self.attempt_timeout) from exc
            total = self.deadline if self.deadline is not None else limit  # the deadline cut it
            raise CallTimeout(f"{self.name} (deadline, all attempts)", total) from exc

    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorate an async function so that every call is retried by this policy."""
        call = self.call

        @functools.wraps(fn)
        async def retried(*args: P.args, **kwargs: P.kwargs) -> T:
            return await call(fn, *args, **kwargs)

        retried.retry = self  # type: ignore[attr-defined]
        return retried
