"""Resilience for calls to other services: retries, a circuit breaker, a bulkhead, timeouts.

Each policy is a small value used on its own (``await breaker.call(fn)``, ``@bulkhead``,
``@timeout(2.0)``, ``@Retry(...)``) or composed by :func:`resilient` in one documented order.
Nothing here does I/O of its own or starts a task at import. :func:`post_json` (the
``http`` extra) imports httpx on first access only (PEP 562).

See ``docs/resilience.md`` for the policies, their defaults and examples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from ..errors import BulkheadFull, CallTimeout, CircuitOpen, UpstreamError
from .breaker import BreakerListener, CircuitBreaker, State
from .bulkhead import Bulkhead
from .composition import Fallback, resilient
from .hedge import Hedge
from .retry import RETRYABLE_STATUSES, Retry, RetryBudget, retryable
from .timeouts import Timeout, timeout
from .windows import CountWindow, TimeWindow, Window

if TYPE_CHECKING:  # at run time __getattr__ below imports them (and httpx) on first use
    from .http import parse_retry_after, post_json

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
    # resilience.hedge
    "Hedge",
    # resilience.http (the http extra)
    "parse_retry_after",
    "post_json",
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

_LAZY = {"parse_retry_after": ".http", "post_json": ".http"}

# post_json and its module (and httpx) are imported on first access
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__)
