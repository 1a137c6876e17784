"""The Redis connection pool and the retry loop: bounded waits, jittered retries, failover.

:class:`BoundedPool` is redis-py's ``BlockingConnectionPool`` whose wait ends in
:class:`~mediz_infra.errors.PoolExhausted`; :class:`SentinelPool` and :class:`SentinelConnection`
give a Sentinel client the same pool and a fresh master address on every reconnect;
:class:`FailoverRetry` retries connection errors with jittered backoff and turns a ``READONLY``
reply into one retry on fresh connections. Each error they see is counted on
``mediz.redis.errors`` by kind (:func:`count_error`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import redis
from redis.asyncio.connection import AbstractConnection, BlockingConnectionPool, ConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...errors import PoolExhausted
from ...telemetry import REDIS_ERRORS, get_meter

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter

__all__ = ["BoundedPool", "FailoverRetry", "SentinelConnection", "SentinelPool", "count_error"]

log = logging.getLogger("mediz_infra.redis")

_T = TypeVar("_T")


@functools.cache
def _errors() -> Counter:
    return get_meter("redis").create_counter(
        REDIS_ERRORS, unit="{error}", description="Redis errors seen by mediz-infra clients"
    )


def count_error(kind: str) -> None:
    """Add one to the Redis error counter, labelled ``kind``."""
    _errors().add(1, {"kind": kind})


# The redis-py releases whose pool internals the lean path was measured and tested on
# (tests/integration/test_redis_pool_lean.py). On any other release the pool takes redis-py's
# own public path: slower by a few microseconds a command, never broken.
_LEAN_RELEASES = ((8, 1), (8, 2))
# What the lean path reads or calls on the pool and its connections besides the public API.
_LEAN_POOL_ATTRIBUTES = (
    "_available_connections",
    "_in_use_connections",
    "_lock",
    "_in_maintenance",
    "_event_dispatcher",
    "ensure_connection",
)
_LEAN_CONNECTION_METHODS = ("should_reconnect", "disconnect", "re_auth")


def _release() -> tuple[int, int]:
    try:
        major, minor = redis.__version__.split(".")[:2]
        return int(major), int(minor)
    except (AttributeError, ValueError):
        return (0, 0)


@functools.cache
def _lean_internals() -> tuple[type, type, Callable[[], object]] | None:
    """redis-py's release event, its default listener and the observability collector getter.

    None (lean path off) on a release the lean path does not know.
    """
    if _release() not in _LEAN_RELEASES:
        return None
    try:
        from redis.asyncio.observability.recorder import _get_or_create_collector
        from redis.event import AsyncAfterConnectionReleasedEvent, AsyncReAuthConnectionListener
    except ImportError:
        return None
    released, reauth = AsyncAfterConnectionReleasedEvent, AsyncReAuthConnectionListener
    return released, reauth, _get_or_create_collector


def lean_path_usable(pool: ConnectionPool) -> bool:
    """Whether ``pool`` may hand out connections without redis-py's own bookkeeping.

    True only on a redis-py release in :data:`_LEAN_RELEASES` whose pool has every internal the
    lean path reads, with observability off and only redis-py's default re-authentication
    listener on the release event. Never raises: any surprise means False (the public path).
    """
    internals = _lean_internals()
    if internals is None:
        return False
    released_event, reauth_listener, collector = internals
    try:
        if collector() is not None:  # redis-py observability is on: let it record
            return False
        if not all(hasattr(pool, name) for name in _LEAN_POOL_ATTRIBUTES):
            return False
        connection_class = pool.connection_class
        if not all(callable(getattr(connection_class, m, None)) for m in _LEAN_CONNECTION_METHODS):
            return False
        mapping = getattr(pool._event_dispatcher, "_event_listeners_mapping", None)
        if not isinstance(mapping, dict):
            return False
        listeners = mapping.get(released_event, [])
        return isinstance(pool._lock, asyncio.Lock) and all(
            type(listener) is reauth_listener for listener in listeners
        )
    except Exception:  # an internal of another shape: take the public path
        return False


class BoundedPool(BlockingConnectionPool):
    """A blocking pool whose wait, when it runs out, raises PoolExhausted naming the limit.

    While a slot is free and nobody waits, a caller skips the condition and the wait timer:
    BlockingConnectionPool's machinery costs about 15 % of a GET at 10 to 50 concurrent callers,
    measured against redis-py's default pool. Once anyone waits, every caller queues on the
    condition, so newcomers cannot overtake the waiters.

    The free-slot path is also lean: redis-py's own ``get_connection`` and ``release`` take an
    ``asyncio.Lock`` around list operations that never await, report to redis-py's
    observability (off unless configured) and dispatch a release event whose only default
    listener re-authenticates the connection. That is about 5 µs of a 75 µs loopback GET. Here
    the list operations run without the lock (nothing can interleave: no await between them;
    a connection being disconnected on release stays counted as in use until it is back), the
    connection still passes redis-py's readiness check and ``re_auth()`` is called directly.
    The lean path is taken only while redis-py's observability is off and the release event has
    just its default listener (decided when the pool first hands out a connection), and never
    while redis-py itself holds the pool's lock (re-authentication, maintenance) or the pool is
    in maintenance; ``tests/integration/test_redis_pool_lean.py`` guards the redis-py internals
    this relies on.
    """

    _waiting = 0  # callers queued on the condition
    _lean: bool | None = None  # None: not decided yet
    _in_maintenance: bool  # redis-py 8.1+; read only when the lean path is on (it exists then)

    def _decide_lean(self) -> bool:
        self._lean = lean_path_usable(self)
        return self._lean

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        if not self._waiting:
            available = self._available_connections
            if (
                available
                and (self._lean or (self._lean is None and self._decide_lean()))
                and not self._lock.locked()
                and not self._in_maintenance
            ):
                connection = available.pop()
                self._in_use_connections.add(connection)
                try:
                    await self.ensure_connection(connection)
                except BaseException:
                    await self.release(connection)
                    raise
                return connection
            if self.can_get_connection():
                try:
                    base: Any = ConnectionPool  # typed differently across redis-py releases
                    return cast(AbstractConnection, await base.get_connection(self))
                except MaxConnectionsError:
                    pass  # another task took the last slot meanwhile: queue like everyone else
        self._waiting += 1
        try:
            blocking: Any = BlockingConnectionPool
            return cast(AbstractConnection, await blocking.get_connection(self))
        except RedisConnectionError as exc:
            # redis-py's "No connection available.": the wait for a free slot timed out.
            if not isinstance(exc.__cause__, TimeoutError):
                raise
            count_error("exhausted")
            raise PoolExhausted(
                f"redis pool exhausted: {len(self._in_use_connections)}/{self.max_connections} "
                f"connections in use, {self._waiting} waiting after {self.timeout} s; raise "
                "MEDIZ_REDIS_MAX_CONNECTIONS (or ?max_connections= in REDIS_URL), or find what "
                "holds connections (blocking commands such as BLPOP hold one each)",
                size=self.max_connections,
                in_use=len(self._in_use_connections),
                waiting=self._waiting,
                timeout=float(self.timeout or 0),
            ) from None
        finally:
            self._waiting -= 1

    async def release(self, connection: AbstractConnection) -> None:
        if self._waiting:
            await super().release(connection)  # under the condition, and notifies a waiter
            return
        if not self._lean or self._lock.locked() or self._in_maintenance:
            await ConnectionPool.release(self, connection)
        else:
            lean: Any = connection  # these methods are untyped in some redis-py releases
            if lean.should_reconnect():
                await lean.disconnect()  # still counted as in use meanwhile: the bound holds
            self._in_use_connections.remove(connection)
            self._available_connections.append(connection)
            await lean.re_auth()
        if self._queued():  # someone started waiting while we released: wake them
            async with self._condition:
                self._condition.notify()

    def _queued(self) -> bool:
        return self._waiting > 0

    async def drop_stale(self) -> None:
        """Disconnect idle connections now and in-use ones when they come back."""
        pool: Any = self  # untyped in some redis-py releases
        await pool.update_active_connections_for_reconnect()
        await self.disconnect(inuse_connections=False)


class SentinelPool(SentinelConnectionPool, BoundedPool):
    """Sentinel's master-tracking pool with the bounded blocking wait of :class:`BoundedPool`."""


class SentinelConnection(SentinelManagedConnection):
    """Asks Sentinel for the master before every reconnect, retries included.

    redis-py (8.1, issue redis/redis-py#3874) reconnects inside a command's retry through
    ``connect_check_health``, which skips Sentinel and dials the old master again, so after a
    failover the retried write meets READONLY until the retries run out.
    """

    _resolved = False  # True while connect_to() connects to an address Sentinel just gave

    async def connect_to(self, address: tuple[str, int]) -> None:
        self._resolved = True
        try:
            await super().connect_to(address)  # type: ignore[no-untyped-call]
        finally:
            self._resolved = False

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if not self.is_connected and not self._resolved and self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(check_health, retry_socket_connect)


class FailoverRetry(Retry):
    """redis-py's retry loop with one budget per operation and a READONLY rule.

    * Connection errors (refused, reset, closed) are retried ``retries`` times with
      ``EqualJitterBackoff``. A retry nested inside another on the same connection (the connect
      inside a command) runs once, so a command makes at most ``retries + 1`` attempts.
    * Timeouts are not retried: the server may have run the command.
    * A ``READONLY`` reply means the server refused the write (it is a replica now), so nothing
      was applied: the pool drops its stale connections and the command is retried once on a
      fresh connection. A second ``READONLY`` is raised: the server really is a replica. (On a
      Sentinel client redis-py reports READONLY as a connection error, retried like one, each
      time on the master Sentinel names.)

    redis-py deep-copies a connection's Retry, so each connection has its own (one task at a time
    uses a connection); the pool is held by a weak reference, which the copy shares.
    """

    def __init__(self, retries: int, base: float, cap: float) -> None:
        super().__init__(EqualJitterBackoff(cap=cap, base=base), retries)
        # Builtin ConnectionError too: a refused connect surfaces as one from _connect().
        # (through Any: the attribute is typed differently across redis-py releases)
        retry: Any = self
        retry._supported_errors = (RedisConnectionError, ConnectionError)
        self.pool: weakref.ref[BoundedPool] | None = None
        self._active = False

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[_T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> _T:
        if self._active:  # nested: the outer loop owns the budget and the backoff
            return await do()
        self._active = True
        self._backoff.reset()  # type: ignore[no-untyped-call]
        failures, readonly_retried = 0, False
        try:
            while True:
                try:
                    return await do()
                except ReadOnlyError as error:
                    if readonly_retried:
                        raise
                    readonly_retried = True
                    await self._on_readonly(error)
                    await (fail(error, failures) if with_failure_count else fail(error))
                except self._supported_errors as error:
                    if is_retryable is not None and not is_retryable(error):
                        raise
                    failures += 1
                    if isinstance(error.__context__, ReadOnlyError):  # Sentinel's translation
                        await self._on_readonly(error)
                    else:
                        count_error("connection")
                    await (fail(error, failures) if with_failure_count else fail(error))
                    if 0 <= self._retries < failures:
                        raise
                    await asyncio.sleep(self._backoff.compute(failures))
                except RedisTimeoutError:
                    count_error("timeout")
                    raise
        finally:
            self._active = False

    async def _on_readonly(self, error: Exception) -> None:
        count_error("readonly")
        pool = self.pool() if self.pool is not None else None
        log.warning(
            "redis replied READONLY (%s): the server is a replica now, after a failover or "
            "REPLICAOF; dropping pooled connections and retrying the refused command once",
            error,
        )
        if pool is not None:
            await pool.drop_stale()
