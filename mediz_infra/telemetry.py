"""Telemetry through opentelemetry-api only: every instrument name and unit is declared here once.

The library records with the API; the application picks an SDK and exporters (or none, in which
case every record is a no-op). Components get their meter with :func:`get_meter` and name their
instruments with the constants below, so a dashboard query never guesses a name.
"""

from __future__ import annotations

from opentelemetry import metrics, trace

from ._version import __version__

__all__ = [
    "BACKUP_AGE",
    "BACKUP_VERIFIED",
    "CACHE_ERRORS",
    "CACHE_LOCK_WAITS",
    "CACHE_REQUESTS",
    "DB_POOL_ACQUIRE_WAIT",
    "DB_POOL_CONNECTIONS",
    "DB_POOL_ERRORS",
    "DB_POOL_WAITING",
    "DB_REPLICA_LAG",
    "HTTP_SERVER_ACTIVE_REQUESTS",
    "HTTP_SERVER_REQUEST_DURATION",
    "INSTRUMENTATION_NAME",
    "QUEUE_JOBS",
    "QUEUE_JOB_DURATION",
    "QUEUE_JOB_WAIT",
    "RATELIMIT_ACQUIRE_WAIT",
    "RATELIMIT_BACKEND_ERRORS",
    "RATELIMIT_DECISIONS",
    "REDIS_ERRORS",
    "RESILIENCE_BACKEND_FALLBACKS",
    "RESILIENCE_BREAKER_STATE",
    "RESILIENCE_CALLS",
    "RESILIENCE_RETRIES",
    "RESILIENCE_TRANSITIONS",
    "get_meter",
    "get_tracer",
]

INSTRUMENTATION_NAME = "mediz_infra"

# name: (unit, description)
DB_POOL_CONNECTIONS = "mediz.db.pool.connections"
"""Observable gauge, ``{connection}``; attribute ``state`` = size | idle | in_use; ``pool``."""
DB_POOL_WAITING = "mediz.db.pool.waiting"
"""Observable gauge, ``{request}``: callers waiting for a connection; attribute ``pool``."""
DB_POOL_ACQUIRE_WAIT = "mediz.db.pool.acquire.wait"
"""Histogram, ``s``: time from acquire() to a usable connection; attribute ``pool``."""
DB_POOL_ERRORS = "mediz.db.pool.errors"
"""Counter, ``{error}``; attribute ``kind`` = exhausted | unavailable | stale | recycled."""
DB_REPLICA_LAG = "mediz.db.replica.lag"
"""Observable gauge, ``s``: a read replica's replay lag, as last sampled; attribute ``pool``."""
REDIS_ERRORS = "mediz.redis.errors"
"""Counter, ``{error}``; attribute ``kind`` = connection | timeout | readonly | exhausted."""

# db.backup
BACKUP_AGE = "mediz.backup.age"
"""Observable gauge, ``s``: age of a store's newest backup and newest verified one, as last
read by ``BackupFreshness``; attributes ``store`` (redacted URL), ``backup`` = newest |
verified."""
BACKUP_VERIFIED = "mediz.backup.verified"
"""Observable gauge, ``1``: 1 when the newest backup is verified ok, else 0; attribute
``store``."""

# ratelimit
RATELIMIT_DECISIONS = "mediz.ratelimit.decisions"
"""Counter, ``{request}``; attributes ``rule``, ``outcome`` = allowed | limited | dry_run."""
RATELIMIT_BACKEND_ERRORS = "mediz.ratelimit.backend_errors"
"""Counter, ``{error}``; attributes ``rule``, ``policy`` = open | closed, ``kind`` = timeout |
connection."""
RATELIMIT_ACQUIRE_WAIT = "mediz.ratelimit.acquire.wait"
"""Histogram, ``s``: time ``RateLimiter.acquire()`` waited for capacity; attribute ``rule``."""

# cache
CACHE_REQUESTS = "mediz.cache.requests"
"""Observable counter, ``{request}``; attributes ``cache`` (prefix), ``result`` = hit | stale |
miss | bypass."""
CACHE_ERRORS = "mediz.cache.errors"
"""Observable counter, ``{error}``; attributes ``cache``, ``kind`` = backend | rejected |
unstorable."""
CACHE_LOCK_WAITS = "mediz.cache.lock.waits"
"""Observable counter, ``{wait}``: callers that waited for another process's computation."""

# queue
QUEUE_JOBS = "mediz.queue.jobs"
"""Counter, ``{job}``; attributes ``queue``, ``task``, ``event`` = enqueued | started |
completed | failed | retried | dead | released | lease_lost."""
QUEUE_JOB_WAIT = "mediz.queue.job.wait"
"""Histogram, ``s``: from enqueue to a job's first start (a ``_delay`` included); ``queue``,
``task``."""
QUEUE_JOB_DURATION = "mediz.queue.job.duration"
"""Histogram, ``s``: one attempt's run time; attributes ``queue``, ``task``, ``outcome`` =
completed | failed."""

# metrics (names from the OpenTelemetry HTTP semantic conventions)
HTTP_SERVER_REQUEST_DURATION = "http.server.request.duration"
"""Histogram, ``s``; attributes ``http.route``, ``http.request.method``,
``http.response.status_code``."""
HTTP_SERVER_ACTIVE_REQUESTS = "http.server.active_requests"
"""UpDownCounter, ``{request}``; attributes ``http.request.method``, ``url.scheme``."""
# resilience
RESILIENCE_CALLS = "mediz.resilience.calls"
"""Observable counter, ``{call}``; attributes ``policy`` = breaker | bulkhead, ``name``,
``outcome`` = success | failure | ignored | rejected (breaker), admitted | rejected (bulkhead)."""
RESILIENCE_BREAKER_STATE = "mediz.resilience.breaker.state"
"""Observable gauge, ``1``: 0 closed, 1 half-open, 2 open; attribute ``name``."""
RESILIENCE_TRANSITIONS = "mediz.resilience.breaker.transitions"
"""Counter, ``{transition}``; attributes ``name``, ``from``, ``to``, ``source`` = local |
shared. Also an event ``mediz.resilience.breaker.transition`` on the current span."""
RESILIENCE_RETRIES = "mediz.resilience.retries"
"""Counter, ``{decision}``: one per failed attempt of a call; attributes ``name``,
``decision`` = retried | attempts | deadline | budget | retry_after | not_retryable. Retries
are also events ``mediz.resilience.retry`` on the current span."""
RESILIENCE_BACKEND_FALLBACKS = "mediz.resilience.backend_fallbacks"
"""Counter, ``{fallback}``: a shared breaker used its local state because Redis failed or was
down; attributes ``name``, ``op`` (the script operation, or ``listener``)."""


def get_meter(component: str) -> metrics.Meter:
    """The meter a component records with (from the global MeterProvider, no-op without one)."""
    return metrics.get_meter(f"{INSTRUMENTATION_NAME}.{component}", __version__)


def get_tracer(component: str) -> trace.Tracer:
    """The tracer a component traces with (from the global TracerProvider)."""
    return trace.get_tracer(f"{INSTRUMENTATION_NAME}.{component}", __version__)
