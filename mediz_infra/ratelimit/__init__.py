"""Rate limiting: middleware rules, a route decorator, and ``acquire()`` for internal callers.

Exact across processes on Redis (one script, one round trip per decision), honest headers
(IETF ``RateLimit`` / ``RateLimit-Policy``, ``Retry-After``), identity that trusts proxy headers
only from proxies you name, and a declared direction when the store is down. See
``docs/ratelimit.md``.
"""

from __future__ import annotations

from .decision import Decision, LimitState, RateLimitExceeded
from .decorator import rate_limit
from .identity import ClientIdentifier, by_api_key, by_header, by_ip, by_user, composite
from .limiter import RateLimiter
from .limits_store import LimitsStore
from .memory_store import MemoryStore
from .middleware import RateLimitMiddleware
from .redis_store import RedisStore
from .rules import Limit, Rule, Strategy, parse_limits
from .store import LimiterStore

__all__ = [
    # decision
    "Decision",
    "LimitState",
    "RateLimitExceeded",
    # decorator
    "rate_limit",
    # identity
    "ClientIdentifier",
    "by_api_key",
    "by_header",
    "by_ip",
    "by_user",
    "composite",
    # limiter
    "RateLimiter",
    # stores
    "LimiterStore",
    "LimitsStore",
    "MemoryStore",
    "RedisStore",
    # middleware
    "RateLimitMiddleware",
    # rules
    "Limit",
    "Rule",
    "Strategy",
    "parse_limits",
]
