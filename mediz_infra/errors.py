"""The errors mediz-infra raises.

Every error derives from :class:`InfraError` and from the builtin it refines, so
``except TimeoutError`` still catches a :class:`PoolExhausted`. Messages name the
cause and the fix.

Where driver errors go:

- The Postgres pool (:class:`~mediz_infra.backends.PoolManager`) translates at its boundary:
  failing to connect or acquire raises :class:`BackendUnavailable`, :class:`PoolExhausted` or
  :class:`PoolClosed`, ``from`` the driver's error. Errors of the queries you run on a
  connection are asyncpg's own (a unique violation is ``asyncpg.UniqueViolationError``).
- The Redis client :func:`~mediz_infra.backends.create_redis` returns is redis-py's own object,
  so the hot path is a plain redis-py call, and commands on it raise redis-py's errors, except
  a full pool (:class:`PoolExhausted`). :func:`~mediz_infra.backends.as_backend_error`
  translates one at your own boundary.
- Components (the cache, the rate limiter) never import a driver's exceptions: they catch the
  one tuple :data:`mediz_infra.backends.BACKEND_ERRORS` and follow their declared failure
  policy, so no driver error reaches a caller through them.

::

    InfraError                      root of everything the library raises
    ├── ConfigError (ValueError)    a setting, URL or argument is wrong; names the field
    ├── BackendUnavailable (ConnectionError)
    │                               a server cannot be reached or dropped the connection
    ├── BackendTimeout (TimeoutError)
    │                               a server did not answer within the configured timeout
    ├── PoolExhausted (TimeoutError)
    │                               no connection became free within the acquire timeout,
    │                               or the wait queue is full
    ├── RateLimitExceeded (TimeoutError)
    │                               RateLimiter.acquire() found no capacity within max_wait
    ├── PoolClosed (RuntimeError)   the pool was used before start() or after close()
    ├── CircuitOpen (RuntimeError)  a circuit breaker refused the call; carries retry_at
    ├── BulkheadFull (TimeoutError) a bulkhead had no slot within its queue timeout, or its
    │                               queue was full
    ├── CallTimeout (TimeoutError)  a call protected by a resilience timeout took too long
    ├── UpstreamError               an upstream HTTP service answered with an error status,
    │                               or could not be reached; carries status and an excerpt
    ├── ResponseValidationError (ValueError)
    │                               an @validate endpoint returned what its response
    │                               type refuses (a 500: the server's fault)
    ├── ObjectMissing (LookupError) an object store holds no object under that key
    └── BackupError (RuntimeError)  a backup, restore or prune step failed (pg_dump's exit,
        │                           a non-empty target, a version mismatch, a held lock)
        └── BackupCorrupt (ValueError)
                                    a stored backup fails its SHA-256 or its authentication
                                    (tampered, truncated, or the wrong key)
"""

from __future__ import annotations

__all__ = [
    "BackendTimeout",
    "BackendUnavailable",
    "BulkheadFull",
    "CallTimeout",
    "CircuitOpen",
    "ConfigError",
    "InfraError",
    "PoolClosed",
    "PoolExhausted",
    "RateLimitExceeded",
    "UpstreamError",
    "ResponseValidationError",
    "ObjectMissing",
    "BackupError",
    "BackupCorrupt",
]


class InfraError(Exception):
    """Root of every error raised by mediz-infra."""


class ConfigError(InfraError, ValueError):
    """A setting, backend URL or argument is invalid.

    Attributes:
        field: the setting or argument that was wrong (``"DATABASE_POOL_MAX"``,
            ``"url"``, ``"max_size"``).
        reason: what is wrong with it, without the field's name.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


class BackendUnavailable(InfraError, ConnectionError):
    """A backend server could not be reached or dropped the connection."""


class BackendTimeout(InfraError, TimeoutError):
    """A backend server did not answer within its timeout."""


class PoolExhausted(InfraError, TimeoutError):
    """No pooled connection became free in time, or too many callers were waiting.

    Attributes:
        size: the pool's maximum size.
        in_use: connections checked out when the wait ended.
        waiting: callers waiting when the wait ended (this one included).
        timeout: the acquire timeout in seconds.
    """

    def __init__(
        self, message: str, *, size: int, in_use: int, waiting: int, timeout: float
    ) -> None:
        self.size = size
        self.in_use = in_use
        self.waiting = waiting
        self.timeout = timeout
        super().__init__(message)


class PoolClosed(InfraError, RuntimeError):
    """The pool was used before ``start()`` or after ``close()``."""


class RateLimitExceeded(InfraError, TimeoutError):
    """``RateLimiter.acquire()`` could not get capacity within its ``max_wait``.

    Attributes:
        rule: the rule's name.
        retry_after: seconds until capacity is expected.
    """

    def __init__(self, rule: str, retry_after: float, max_wait: float) -> None:
        self.rule = rule
        self.retry_after = retry_after
        super().__init__(
            f"rate limit {rule!r}: no capacity within {max_wait:g} s (next in {retry_after:g} s); "
            "raise max_wait, lower the request rate, or raise the limit"
        )


class CircuitOpen(InfraError, RuntimeError):
    """A circuit breaker refused the call without making it.

    Raised fresh for every refused call (never one shared object, whose traceback would grow
    with each raise).

    Attributes:
        breaker: the breaker's name.
        state: ``"open"``, or ``"half_open"`` when every trial call slot is taken.
        retry_at: when the breaker lets the next trial call through, on the breaker's clock
            (``time.monotonic()`` unless a clock was injected).
        retry_after: seconds from the refusal until ``retry_at`` (never negative).
    """

    def __init__(self, breaker: str, state: str, retry_at: float, retry_after: float) -> None:
        # No super().__init__() and no message built here: a refusal is the breaker's hot path
        # while an upstream is down, so the text is made only when someone reads it.
        self.breaker = breaker
        self.state = state
        self.retry_at = retry_at
        self.retry_after = retry_after if retry_after > 0.0 else 0.0

    @property
    def args(self) -> tuple[str]:  # type: ignore[override]
        return (str(self),)

    def __reduce__(self) -> tuple[type[CircuitOpen], tuple[str, str, float, float]]:
        return (type(self), (self.breaker, self.state, self.retry_at, self.retry_after))

    def __str__(self) -> str:
        what = "open" if self.state == "open" else "half-open and its trial calls are all taken"
        return (
            f"circuit breaker {self.breaker!r} is {what}: calls are refused for "
            f"{self.retry_after:.3g} s more; the upstream failed too often recently, "
            "so wait, serve a fallback, or check the upstream"
        )


class BulkheadFull(InfraError, TimeoutError):
    """A bulkhead had no free slot within its queue timeout, or its queue was full.

    Attributes:
        bulkhead: the bulkhead's name.
        max_concurrent: how many calls it runs at once.
        max_queued: how many calls may wait for a slot.
        timeout: the queue timeout in seconds (``0.0`` when the queue was full at once).
    """

    def __init__(
        self, bulkhead: str, *, max_concurrent: int, max_queued: int, timeout: float
    ) -> None:
        self.bulkhead = bulkhead
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.timeout = timeout
        if timeout:
            why = f"no slot came free within {timeout:g} s"
        else:
            why = f"{max_queued} calls were already queued"
        super().__init__(
            f"bulkhead {bulkhead!r} is full ({max_concurrent} running): {why}; "
            "raise max_concurrent or max_queued, or lower the load"
        )


class CallTimeout(InfraError, TimeoutError):
    """A call protected by a resilience timeout did not finish in time (it was cancelled).

    Attributes:
        name: what was called.
        timeout: the limit in seconds.
    """

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        super().__init__(
            f"{name} did not finish within {timeout:g} s and was cancelled; "
            "raise the timeout or make the upstream faster"
        )


class UpstreamError(InfraError):
    """An upstream HTTP service answered with an error status, or could not be reached.

    Attributes:
        url: the URL called, without its query string and credentials.
        status: the HTTP status, or ``None`` when no response came (connection failed).
        body: at most a few hundred characters of the response body (``""`` without one).
        retry_after: seconds from the upstream's ``Retry-After`` header, when it sent one.
    """

    def __init__(
        self,
        url: str,
        status: int | None,
        *,
        body: str = "",
        retry_after: float | None = None,
        reason: str = "",
    ) -> None:
        self.url = url
        self.status = status
        self.body = body
        self.retry_after = retry_after
        answer = f"answered {status}" if status is not None else f"failed: {reason}"
        excerpt = f": {body!r}" if body else ""
        super().__init__(f"upstream {url} {answer}{excerpt}")


class ResponseValidationError(InfraError, ValueError):
    """An ``@validate`` endpoint returned a value its response type refuses.

    The problem handlers answer it 500 (the fault is the server's, not the client's) and log
    it; the message names the endpoint and the number of errors, never the value.

    Attributes:
        endpoint: the endpoint's qualified name.
        errors: how many validation errors the value had.
    """

    def __init__(self, endpoint: str, errors: int) -> None:
        self.endpoint = endpoint
        self.errors = errors
        super().__init__(
            f"{endpoint} returned a value that fails its response type ({errors} error(s)); "
            "fix the endpoint or the response= type of its @validate"
        )


class ObjectMissing(InfraError, LookupError):
    """An object store holds no object under the key asked for (the message names it)."""


class BackupError(InfraError, RuntimeError):
    """A backup, restore, verify or prune step failed; the message names the cause and the fix."""


class BackupCorrupt(BackupError, ValueError):
    """A stored backup fails its SHA-256 check or its authentication (tampered or wrong key)."""
