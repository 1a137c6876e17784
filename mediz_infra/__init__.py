"""mediz-infra: production infrastructure for ASGI (Starlette) apps.

Nothing here connects, reads the environment or starts a task at import time, and nothing is
imported until it is used: ``import mediz_infra`` loads no component, and each name below loads
only its own module on first access (PEP 562 ``__getattr__``). So ``import mediz_infra.ratelimit``
costs the rate limiter and Redis client, not asyncpg, pydantic-settings or the cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__

# Seen by mypy and IDEs only; at run time the same names come from __getattr__ below.
if TYPE_CHECKING:
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
    from .db import AdvisorReport, IndexAdvisor, Statement, Suggestion, Thresholds, load_sql_file
    from .errors import (
        BackendTimeout,
        BackendUnavailable,
        BulkheadFull,
        CallTimeout,
        CircuitOpen,
        ConfigError,
        InfraError,
        PoolClosed,
        PoolExhausted,
        UpstreamError,
    )
    from .guard import AdminGuard
    from .health import (
        Check,
        CheckResult,
        CheckRunner,
        HealthRouter,
        Observation,
        pool_check,
        redis_check,
        value_check,
    )
    from .infra import Infra
    from .metrics import (
        GaugeSource,
        MemoryMetricsStore,
        MetricsMiddleware,
        MetricsReader,
        MetricsStore,
        Recorder,
        RedisMetricsStore,
        Retention,
        metrics_routes,
        metrics_store,
    )
    from .problems import install_problem_handlers, problem_handlers, problem_response
    from .queue import (
        Backoff,
        Broker,
        Job,
        JobCall,
        JobFailed,
        JobInfo,
        JobRecord,
        JobStatus,
        Lease,
        MemoryBroker,
        Queue,
        RedisBroker,
        Task,
        Worker,
        WorkerStats,
    )
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
    from .resilience import (
        Bulkhead,
        CircuitBreaker,
        CountWindow,
        Retry,
        RetryBudget,
        Timeout,
        TimeWindow,
        resilient,
        timeout,
    )
    from .validation import (
        ResponseValidationError,
        ValidatedEndpoint,
        ValidationLimits,
        openapi_document,
        openapi_route,
        validate,
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
    # db
    "AdvisorReport",
    "IndexAdvisor",
    "Statement",
    "Suggestion",
    "Thresholds",
    "load_sql_file",
    # errors
    "BackendTimeout",
    "BackendUnavailable",
    "BulkheadFull",
    "CallTimeout",
    "CircuitOpen",
    "ConfigError",
    "InfraError",
    "PoolClosed",
    "PoolExhausted",
    "UpstreamError",
    # guard
    "AdminGuard",
    # health
    "Check",
    "CheckResult",
    "CheckRunner",
    "HealthRouter",
    "Observation",
    "pool_check",
    "redis_check",
    "value_check",
    # infra
    "Infra",
    # metrics
    "GaugeSource",
    "MemoryMetricsStore",
    "MetricsMiddleware",
    "MetricsReader",
    "MetricsStore",
    "Recorder",
    "RedisMetricsStore",
    "Retention",
    "metrics_routes",
    "metrics_store",
    # problems
    "install_problem_handlers",
    "problem_handlers",
    "problem_response",
    # queue
    "Backoff",
    "Broker",
    "Job",
    "JobCall",
    "JobFailed",
    "JobInfo",
    "JobRecord",
    "JobStatus",
    "Lease",
    "MemoryBroker",
    "Queue",
    "RedisBroker",
    "Task",
    "Worker",
    "WorkerStats",
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
    # resilience
    "Bulkhead",
    "CircuitBreaker",
    "CountWindow",
    "Retry",
    "RetryBudget",
    "Timeout",
    "TimeWindow",
    "resilient",
    "timeout",
    # validation
    "ResponseValidationError",
    "ValidatedEndpoint",
    "ValidationLimits",
    "openapi_document",
    "openapi_route",
    "validate",
]

# Where each public name lives, by defining submodule (the groups of __all__). A name is
# imported on first access and then cached in this module's globals, so later lookups are plain
# attribute reads and __getattr__ runs once per name. tests/unit/test_imports.py checks that
# this table, __all__ and the TYPE_CHECKING imports name the same things.
_SOURCES: dict[str, tuple[str, ...]] = {
    ".backends": (
        "from_url",
        "PgBouncerSessionWarning",
        "PoolManager",
        "PoolStats",
        "RedisClient",
        "check_redis",
        "close_redis",
        "create_redis",
    ),
    ".cache": (
        "Cache",
        "CachedFunction",
        "CacheStats",
        "CacheValueRejected",
        "HttpCache",
        "JsonSerializer",
        "LockPolicy",
        "Serializer",
        "SignedPickleSerializer",
    ),
    ".config": ("Settings", "load_settings"),
    ".db": (
        "AdvisorReport",
        "IndexAdvisor",
        "Statement",
        "Suggestion",
        "Thresholds",
        "load_sql_file",
    ),
    ".errors": (
        "BackendTimeout",
        "BackendUnavailable",
        "BulkheadFull",
        "CallTimeout",
        "CircuitOpen",
        "ConfigError",
        "InfraError",
        "PoolClosed",
        "PoolExhausted",
        "UpstreamError",
    ),
    ".guard": ("AdminGuard",),
    ".health": (
        "Check",
        "CheckResult",
        "CheckRunner",
        "HealthRouter",
        "Observation",
        "pool_check",
        "redis_check",
        "value_check",
    ),
    ".infra": ("Infra",),
    ".metrics": (
        "GaugeSource",
        "MemoryMetricsStore",
        "MetricsMiddleware",
        "MetricsReader",
        "MetricsStore",
        "Recorder",
        "RedisMetricsStore",
        "Retention",
        "metrics_routes",
        "metrics_store",
    ),
    ".problems": ("install_problem_handlers", "problem_handlers", "problem_response"),
    ".queue": (
        "Backoff",
        "Broker",
        "Job",
        "JobCall",
        "JobFailed",
        "JobInfo",
        "JobRecord",
        "JobStatus",
        "Lease",
        "MemoryBroker",
        "Queue",
        "RedisBroker",
        "Task",
        "Worker",
        "WorkerStats",
    ),
    ".ratelimit": (
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
    ),
    ".resilience": (
        "Bulkhead",
        "CircuitBreaker",
        "CountWindow",
        "Retry",
        "RetryBudget",
        "Timeout",
        "TimeWindow",
        "resilient",
        "timeout",
    ),
    ".validation": (
        "ResponseValidationError",
        "ValidatedEndpoint",
        "ValidationLimits",
        "openapi_document",
        "openapi_route",
        "validate",
    ),
}
_LAZY: dict[str, str] = {name: module for module, names in _SOURCES.items() for name in names}


# Hidden from type checkers: they see the TYPE_CHECKING imports instead, and a visible
# module __getattr__ would make every misspelt attribute of the package type-check as Any.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__)
