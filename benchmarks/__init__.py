"""Benchmarks of mediz-infra against its peers: ``python -m benchmarks [names]``.

Each benchmark is a module of this package exposing ``BENCHMARK`` (a
:class:`benchmarks._runner.Benchmark`); :data:`REGISTRY` names them. Modules are imported only
when run, so listing them needs none of the peers installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks._runner import Benchmark

__all__ = ["REGISTRY", "load"]

#: Benchmark name -> (module, one-line description), in default run order.
REGISTRY: dict[str, tuple[str, str]] = {
    "pool": (
        "benchmarks.pool",
        "Postgres pools: PoolManager vs asyncpg, psycopg_pool, SQLAlchemy; direct and "
        "through PgBouncer",
    ),
    "cache": (
        "benchmarks.cache",
        "@cache: mediz-infra vs cashews and aiocache; memory, Redis, stampede, Redis refused",
    ),
    "ratelimit": (
        "benchmarks.ratelimit",
        "rate limiting: RateLimitMiddleware vs slowapi, raw limits and one raw EVALSHA; "
        "memory and Redis",
    ),
    "resilience": (
        "benchmarks.resilience",
        "circuit breaker, bulkhead, timeout: success overhead and refusals vs aiobreaker, "
        "purgatory, pybreaker, tenacity",
    ),
    "metrics": (
        "benchmarks.metrics",
        "MetricsMiddleware (Redis store) vs starlette-exporter, prometheus-fastapi-instrumentator "
        "and opentelemetry-instrumentation-asgi with an SDK meter provider",
    ),
    "redis": (
        "benchmarks.redis_client",
        "the Redis client from create_redis vs redis-py's default and blocking pools",
    ),
    "queue": (
        "benchmarks.queue",
        "job queue: enqueue, drain (c=10, 100) and pickup latency vs arq, saq and bullmq",
    ),
    "validation": (
        "benchmarks.validation",
        "@validate vs FastAPI: per-request overhead of validating the same body, query and "
        "response models",
    ),
    "backup": (
        "benchmarks.backup",
        "mediz-infra backup run/restore vs pg_dump | zstd, pg_dump | aws s3 cp and pg_restore; "
        "peak RSS",
    ),
}


def load(name: str) -> Benchmark:
    """Import the named benchmark's module and return its ``BENCHMARK``.

    Raises:
        KeyError: ``name`` is not registered (the message lists the known names).
    """
    if name not in REGISTRY:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(REGISTRY)}")
    module = importlib.import_module(REGISTRY[name][0])
    bench: Benchmark = module.BENCHMARK
    return bench
