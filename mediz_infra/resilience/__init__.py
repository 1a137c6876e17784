"""Resilience for calls to other services: retries, a circuit breaker, a bulkhead, timeouts.

Each policy is a small value used on its own (``await breaker.call(fn)``, ``@bulkhead``,
``@timeout(2.0)``, ``@Retry(...)``) or composed by :func:`resilient` in one documented order.
Nothing here does I/O of its own or starts a task at import.

See ``docs/resilience.md`` for the policies, their defaults and examples.
"""

from __future__ import annotations

from ..errors import BulkheadFull, CallTimeout, CircuitOpen, UpstreamError
from .breaker import BreakerListener, CircuitBreaker, State
from .bulkhead import Bulkhead
from .composition import Fallback, resilient
from .retry import RETRYABLE_STATUSES, Retry, RetryBudget, retryable
from .timeouts import Timeout, timeout
from .windows import CountWindow, TimeWindow, Window

__all__ = [
    # errors
    "BulkheadFull",
    "CallTimeout",
    "CircuitOpen",
    "UpstreamError",
    # resilience.breaker
    "BreakerListener",
    "CircuitBreaker",
    "State",
    # resilience.bulkhead
    "Bulkhead",
    # resilience.composition
    "Fallback",
    "resilient",
    # resilience.retry
    "RETRYABLE_STATUSES",
    "Retry",
    "RetryBudget",
    "retryable",
    # resilience.timeouts
    "Timeout",
    "timeout",
    # resilience.windows
    "CountWindow",
    "TimeWindow",
    "Window",
]
