"""``@resilient``: the policies composed in one fixed order, decided at decoration time.

From the outside in::

    fallback( bulkhead( retry( breaker( timeout( call ) ) ) ) )

Why this order:

- **timeout innermost**: it bounds one attempt, so a slow attempt is cancelled, counted by the
  breaker as a failure and retried like any other timeout.
- **breaker inside retry**: every attempt is judged by the breaker, so a retry storm against a
  dying upstream opens it; once open, its ``CircuitOpen`` stops the retry loop at once (a
  refusal is never retried) instead of sleeping between refusals.
- **retry inside bulkhead**: a call holds one slot for all its attempts, so retries never take
  more concurrency than the calls themselves; a full bulkhead refuses before any attempt, and
  the breaker never counts a refusal as the upstream's failure.
- **fallback outermost**: it answers whatever is left (the last error, a refusal of the breaker
  or of the bulkhead), never a cancellation.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from ..errors import ConfigError
from .breaker import CircuitBreaker
from .bulkhead import Bulkhead
from .retry import Retry
from .timeouts import Timeout

__all__ = ["Fallback", "resilient"]

P = ParamSpec("P")
T = TypeVar("T")

Fallback = Callable[..., Awaitable[Any]]
"""Awaited as ``fallback(error, *args, **kwargs)`` with the error and the call's arguments."""


def resilient(
    *,
    retry: Retry | None = None,
    breaker: CircuitBreaker | None = None,
    timeout: float | Timeout | None = None,
    bulkhead: Bulkhead | None = None,
    fallback: Fallback | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate an async function with the given policies, composed as the module says.

    Every argument is optional; the policies are shared objects (one breaker per upstream,
    say), so several functions may use the same breaker or bulkhead. The wrapper exposes them
    as ``.retry``, ``.breaker``, ``.timeout`` and ``.bulkhead``.

    Args:
        retry: a :class:`Retry` policy.
        breaker: a :class:`CircuitBreaker`.
        timeout: seconds (or a :class:`Timeout`) for each attempt.
        bulkhead: a :class:`Bulkhead`.
        fallback: awaited as ``fallback(error, *args, **kwargs)`` when the call fails in the
            end (any ``Exception``; not cancellation); its result is returned instead.

    Raises:
        ConfigError: an argument is of the wrong kind (the message names it).
    """
    for field, value, kind in (
        ("retry", retry, Retry),
        ("breaker", breaker, CircuitBreaker),
        ("bulkhead", bulkhead, Bulkhead),
    ):
        if value is not None and not isinstance(value, kind):
            raise ConfigError(field, f"must be a {kind.__name__}, got {value!r}")
    limit = timeout if timeout is None or isinstance(timeout, Timeout) else Timeout(timeout)
    if fallback is not None and not callable(fallback):
        raise ConfigError("fallback", f"must be an async function, got {fallback!r}")

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        call: Callable[..., Awaitable[T]] = fn
        if limit is not None:
            call = functools.partial(limit.call, call)
        if breaker is not None:
            call = functools.partial(breaker.call, call)
        if retry is not None:
            call = functools.partial(retry.call, call)
        if bulkhead is not None:
            call = functools.partial(bulkhead.call, call)
        inner = call

        if fallback is None:

            @functools.wraps(fn)
            async def protected(*args: P.args, **kwargs: P.kwargs) -> T:
                return await inner(*args, **kwargs)

        else:
            answer = fallback

            @functools.wraps(fn)
            async def protected(*args: P.args, **kwargs: P.kwargs) -> T:
                try:
                    return await inner(*args, **kwargs)
                except Exception as exc:
                    result: T = await answer(exc, *args, **kwargs)
                    return result

        protected.retry = retry  # type: ignore[attr-defined]
        protected.breaker = breaker  # type: ignore[attr-defined]
        protected.timeout = limit  # type: ignore[attr-defined]
        protected.bulkhead = bulkhead  # type: ignore[attr-defined]
        return protected

    return decorate
