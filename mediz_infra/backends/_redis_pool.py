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
from typing import TYPE_CHECKING, Any, TypeVar

from redis.asyncio.connection import AbstractConnection, BlockingConnectionPool, ConnectionPool
from redis.asyncio.observability.recorder import _get_or_create_collector
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import EqualJitterBackoff
from redis.event import AsyncAfterConnectionReleasedEvent, AsyncReAuthConnectionListener
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import PoolExhausted
from ..telemetry import REDIS_ERRORS, get_meter

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

    def _decide_lean(self) -> bool:
        dispatcher: Any = self._event_dispatcher
        listeners = dispatcher._event_listeners_mapping.get(AsyncAfterConnectionReleasedEvent, [])
        self._lean = _get_or_create_collector() is None and all(
            type(listener) is AsyncReAuthConnectionListener for listener in listeners
        )
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
                    return await ConnectionPool.get_connection(self)  # type: ignore[no-untyped-call,no-any-return]
                except MaxConnectionsError:
                    pass  # another task took the last slot meanwhile: queue like everyone else
        self._waiting += 1
        try:
            return await super().get_connection()  # type: ignore[no-untyped-call,no-any-return]
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
            if connection.should_reconnect():  # type: ignore[no-untyped-call]
                await connection.disconnect()  # still counted as in use meanwhile: the bound holds
            self._in_use_connections.remove(connection)
            self._available_connections.append(connection)
            await connection.re_auth()  # type: ignore[no-untyped-call]
        if self._queued():  # someone started waiting while we released: wake them
            async with self._condition:
                self._condition.notify()

    def _queued(self) -> bool:
        return self._waiting > 0

    async def drop_stale(self) -> None:
        """Disconnect idle connections now and in-use ones when they come back."""
        await self.update_active_connections_for_reconnect()  # type: ignore[no-untyped-call]
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
        self._supported_errors = (RedisConnectionError, ConnectionError)  # type: ignore[assignment]
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
