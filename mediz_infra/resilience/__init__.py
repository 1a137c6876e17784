"""Resilience for calls to other services: a circuit breaker, a bulkhead and timeouts.

Each policy is a small value used on its own (``await breaker.call(fn)``, ``@bulkhead``,
``@timeout(2.0)``). Nothing here does I/O of its own or starts a task at import.

See ``docs/resilience.md`` for the policies, their defaults and examples.
"""

from __future__ import annotations

from ..errors import BulkheadFull, CallTimeout, CircuitOpen, UpstreamError
from .breaker import BreakerListener, CircuitBreaker, State
from .bulkhead import Bulkhead
from .timeout import Timeout, timeout
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
    # resilience.timeout
    "Timeout",
    "timeout",
    # resilience.windows
    "CountWindow",
    "TimeWindow",
    "Window",
]
