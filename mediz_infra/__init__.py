"""mediz-infra: production infrastructure for ASGI (Starlette) apps.

Nothing here connects, reads the environment or starts a task at import time.
"""

from __future__ import annotations

from ._version import __version__
from .backends import (
    PgBouncerSessionWarning,
    PoolManager,
    PoolStats,
    RedisClient,
    check_redis,
    close_redis,
    create_redis,
    from_url,
)
from .cache import (
    Cache,
    CachedFunction,
    CacheStats,
    CacheValueRejected,
    HttpCache,
    JsonSerializer,
    LockPolicy,
    Serializer,
    SignedPickleSerializer,
)
from .config import Settings, load_settings
from .errors import (
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
    InfraError,
    PoolClosed,
    PoolExhausted,
)
from .infra import Infra
from .ratelimit import (
    ClientIdentifier,
    Decision,
    Limit,
    LimiterStore,
    LimitsStore,
    LimitState,
    MemoryStore,
    RateLimiter,
    RateLimitExceeded,
    RateLimitMiddleware,
    RedisStore,
    Rule,
    Strategy,
    by_api_key,
    by_header,
    by_ip,
    by_user,
    composite,
    parse_limits,
    rate_limit,
)

__all__ = [
    "__version__",
    # backends
    "from_url",
    "PgBouncerSessionWarning",
    "PoolManager",
    "PoolStats",
    "RedisClient",
    "check_redis",
    "close_redis",
    "create_redis",
    # cache
    "Cache",
    "CachedFunction",
    "CacheStats",
    "CacheValueRejected",
    "HttpCache",
    "JsonSerializer",
    "LockPolicy",
    "Serializer",
    "SignedPickleSerializer",
    # config
    "Settings",
    "load_settings",
    # errors
    "BackendTimeout",
    "BackendUnavailable",
    "ConfigError",
    "InfraError",
    "PoolClosed",
    "PoolExhausted",
    # infra
    "Infra",
    # ratelimit
    "ClientIdentifier",
    "Decision",
    "Limit",
    "LimiterStore",
    "LimitsStore",
    "LimitState",
    "MemoryStore",
    "RateLimiter",
    "RateLimitExceeded",
    "RateLimitMiddleware",
    "RedisStore",
    "Rule",
    "Strategy",
    "by_api_key",
    "by_header",
    "by_ip",
    "by_user",
    "composite",
    "parse_limits",
    "rate_limit",
]
