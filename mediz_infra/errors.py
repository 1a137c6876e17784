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
    └── ResponseValidationError (ValueError)
                                    an @validate endpoint returned what its response
                                    type refuses (a 500: the server's fault)
"""

from __future__ import annotations

__all__ = [
    "BackendTimeout",
    "BackendUnavailable",
    "ConfigError",
    "InfraError",
    "PoolClosed",
    "PoolExhausted",
    "RateLimitExceeded",
    "ResponseValidationError",
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
