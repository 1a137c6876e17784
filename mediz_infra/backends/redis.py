"""Redis connections: a URL becomes a ``redis.asyncio`` client with a bounded, blocking pool.

::

    redis://[[user]:password@]host[:port][/db][?option=value...]
    rediss://...                          the same over TLS (ssl_* options)
    unix://[[user]:password@]/path/to/redis.sock[?db=0]
    redis+sentinel://[[user]:password@]h1:26379,h2:26379/service_name[/db]
    redis+cluster://[[user]:password@]h1:7000,h2:7001
    memory://[name]                       in-process store; a name is shared, none is fresh

:func:`create_redis` connects nothing: the first command does, so building clients at import
or start-up costs no round trip. Each client gets a ``BlockingConnectionPool`` whose wait ends in
:class:`~mediz_infra.errors.PoolExhausted` (naming the limit) instead of redis-py's instant
"Too many connections"; connect and socket timeouts; TCP keepalive; a health check of idle
connections; and retries of connection errors with exponential backoff and jitter. After a
``READONLY`` reply (the server became a replica: a Sentinel failover, a manual ``REPLICAOF``)
the pool drops its stale connections and the refused command is retried once.

The client handed back is redis-py's own object: the hot path is a plain redis-py call. Its
errors are therefore redis-py's (see :func:`as_backend_error` to translate them at a boundary);
this module's own helpers (:func:`check_redis`) raise mediz-infra errors.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis, RedisCluster, Sentinel
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import (
    AbstractConnection,
    BlockingConnectionPool,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._urls import BackendURL, cast_options, parse_bool, parse_seconds, parse_url
from ..errors import BackendTimeout, BackendUnavailable, ConfigError, InfraError, PoolExhausted
from ..telemetry import REDIS_ERRORS, get_meter
from .memory import MemoryRedis

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter

    from ..config import Settings

__all__ = [
    "REDIS_SCHEMES",
    "RedisClient",
    "as_backend_error",
    "check_redis",
    "close_redis",
    "create_redis",
    "create_redis_from_settings",
]

log = logging.getLogger("mediz_infra.redis")

RedisClient: TypeAlias = "Redis | RedisCluster | MemoryRedis"
"""What :func:`create_redis` returns, depending on the URL's scheme."""

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster", "memory")

# Policies that may evict keys without a TTL, such as durable queue state.
_EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})

_T = TypeVar("_T")


# -- options ------------------------------------------------------------------------------


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}") from None
        if number < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        return number

    return parse


def _positive_seconds(value: str) -> float:
    seconds = parse_seconds(value)
    if seconds == 0:
        raise ValueError(f"expected seconds > 0, got {value!r}")
    return seconds


def _cert_reqs(value: str) -> str:
    if value.lower() not in ("none", "optional", "required"):
        raise ValueError(f"expected none, optional or required, got {value!r}")
    return value.lower()


# One parser per query option; the keyword of create_redis() of the same name is the default.
_OPTIONS: Mapping[str, Callable[[str], Any]] = MappingProxyType(
    {
        "max_connections": _int_at_least(1),
        "timeout": _positive_seconds,
        "socket_timeout": _positive_seconds,
        "connect_timeout": _positive_seconds,
        "health_check_interval": parse_seconds,
        "retries": _int_at_least(0),
        "backoff_base": parse_seconds,
        "backoff_cap": parse_seconds,
        "decode_responses": parse_bool,
        "client_name": str,
        "db": _int_at_least(0),
        "ssl_cert_reqs": _cert_reqs,
        "ssl_ca_certs": str,
        "ssl_certfile": str,
        "ssl_keyfile": str,
        "ssl_check_hostname": parse_bool,
    }
)
_SSL_OPTIONS = frozenset(k for k in _OPTIONS if k.startswith("ssl_"))


def _check_keywords(options: Mapping[str, Any]) -> None:
    """Validate options passed in code with the rules the URL options follow."""
    for name in ("max_connections", "retries"):
        value, minimum = options[name], 1 if name == "max_connections" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(name, f"expected an integer >= {minimum}, got {value!r}")
    for name in ("timeout", "connect_timeout", "socket_timeout", "health_check_interval"):
        value = options[name]
        if value is None and name in ("connect_timeout", "socket_timeout"):
            continue  # follows timeout
        sign = ">=" if name == "health_check_interval" else ">"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or value < 0 or (value == 0 and sign == ">"):
            raise ConfigError(name, f"expected a number of seconds {sign} 0, got {value!r}")


# -- errors and telemetry -----------------------------------------------------------------


@functools.cache
def _errors() -> Counter:
    return get_meter("redis").create_counter(
        REDIS_ERRORS, unit="{error}", description="Redis errors seen by mediz-infra clients"
    )


def _count(kind: str) -> None:
    _errors().add(1, {"kind": kind})


def as_backend_error(exc: BaseException) -> InfraError:
    """Translate a redis-py error into a mediz-infra error; raise it ``from exc``.

    Use at a component's boundary, on the error path only::

        try:
            value = await client.get(key)
        except RedisError as exc:
            raise as_backend_error(exc) from exc

    Returns:
        :class:`BackendTimeout` for a redis-py ``TimeoutError``, :class:`BackendUnavailable`
        for a ``ConnectionError`` (refused, reset, no master found), the error itself when it
        already is an :class:`InfraError` (``PoolExhausted``), else a plain :class:`InfraError`.
    """
    if isinstance(exc, InfraError):
        return exc
    if isinstance(exc, RedisTimeoutError):
        return BackendTimeout(
            f"redis did not answer in time: {exc}; check the server's load and latency, or "
            "raise ?socket_timeout= / ?connect_timeout= in REDIS_URL"
        )
    if isinstance(exc, RedisConnectionError):
        return BackendUnavailable(
            f"redis is unavailable: {exc}; check that the server runs and REDIS_URL points at it"
        )
    return InfraError(f"redis error: {exc}")


# -- pool and retry -------------------------------------------------------------------------


class _Pool(BlockingConnectionPool):
    """A blocking pool whose wait, when it runs out, raises PoolExhausted naming the limit.

    While a slot is free and nobody waits, a caller takes the plain pool's path and skips the
    condition and the wait timer: BlockingConnectionPool's machinery costs about 15 % of a GET
    at 10 to 50 concurrent callers, measured against redis-py's default pool. Once anyone waits,
    every caller queues on the condition, so newcomers cannot overtake the waiters.
    """

    _waiting = 0  # callers queued on the condition

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        if not self._waiting and self.can_get_connection():
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
            _count("exhausted")
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
        await ConnectionPool.release(self, connection)
        if self._queued():  # someone started waiting while we released: wake them
            async with self._condition:
                self._condition.notify()

    def _queued(self) -> bool:
        return self._waiting > 0

    async def drop_stale(self) -> None:
        """Disconnect idle connections now and in-use ones when they come back."""
        await self.update_active_connections_for_reconnect()  # type: ignore[no-untyped-call]
        await self.disconnect(inuse_connections=False)


class _SentinelPool(SentinelConnectionPool, _Pool):
    """Sentinel's master-tracking pool with the bounded blocking wait of :class:`_Pool`."""


class _SentinelConnection(SentinelManagedConnection):
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


class _FailoverRetry(Retry):
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
        self.pool: weakref.ref[_Pool] | None = None
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
                        _count("connection")
                    await (fail(error, failures) if with_failure_count else fail(error))
                    if 0 <= self._retries < failures:
                        raise
                    await asyncio.sleep(self._backoff.compute(failures))
                except RedisTimeoutError:
                    _count("timeout")
                    raise
        finally:
            self._active = False

    async def _on_readonly(self, error: Exception) -> None:
        _count("readonly")
        pool = self.pool() if self.pool is not None else None
        log.warning(
            "redis replied READONLY (%s): the server is a replica now, after a failover or "
            "REPLICAOF; dropping pooled connections and retrying the refused command once",
            error,
        )
        if pool is not None:
            await pool.drop_stale()


# -- the factory ----------------------------------------------------------------------------


def create_redis(
    url: str,
    *,
    max_connections: int = 50,
    timeout: float = 5.0,
    socket_timeout: float | None = None,
    connect_timeout: float | None = None,
    health_check_interval: float = 30.0,
    retries: int = 3,
    decode_responses: bool = False,
    client_name: str | None = None,
    sentinel_kwargs: Mapping[str, Any] | None = None,
    field_name: str = "url",
) -> RedisClient:
    """Build a Redis client from a URL; nothing connects until the first command.

    Query options in the URL (the keywords below, plus ``backoff_base``, ``backoff_cap``,
    ``db`` and ``ssl_cert_reqs/ssl_ca_certs/ssl_certfile/ssl_keyfile/ssl_check_hostname`` for
    ``rediss://``) override the keywords, so operators can tune a deployment through its URL.

    Args:
        url: ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://``,
            ``redis+cluster://`` or ``memory://`` (see the module docstring).
        max_connections: the pool's limit (per node on a cluster).
        timeout: how long a command waits for a free pooled connection before
            :class:`PoolExhausted`; also the default of the two timeouts below.
        socket_timeout: how long a reply may take, in seconds (default: ``timeout``). Blocking
            commands (``BLPOP key 10``) need a larger value than their own timeout.
        connect_timeout: how long opening a connection may take (default: ``timeout``).
        health_check_interval: a connection idle this long is PINGed before reuse (0: never).
        retries: retries of a command after a connection error, with jittered backoff.
        decode_responses: return ``str`` instead of ``bytes``.
        client_name: sent with ``CLIENT SETNAME`` on connect (shows in ``CLIENT LIST``).
        sentinel_kwargs: connection options for the Sentinels themselves (a password, TLS).
        field_name: the setting the URL came from, named in errors (``"REDIS_URL"``).

    Returns:
        ``redis.asyncio.Redis`` (``redis``, ``rediss``, ``unix``, ``redis+sentinel``),
        ``redis.asyncio.RedisCluster`` (``redis+cluster``) or :class:`MemoryRedis` (``memory``).

    Raises:
        ConfigError: the URL is malformed, its scheme is unknown (the message lists the known
            ones) or an option is unknown or invalid; names the field, never the password.
    """
    parsed = parse_url(url, field_name=field_name, schemes=REDIS_SCHEMES)
    options: dict[str, Any] = {
        "max_connections": max_connections,
        "timeout": timeout,
        "socket_timeout": socket_timeout,
        "connect_timeout": connect_timeout,
        "health_check_interval": health_check_interval,
        "retries": retries,
        "backoff_base": 0.05,
        "backoff_cap": 1.0,
        "decode_responses": decode_responses,
        "client_name": client_name,
    }
    _check_keywords(options)
    options.update(cast_options(parsed, _OPTIONS, field_name=field_name))
    for name in ("socket_timeout", "connect_timeout"):  # unset: follow the (final) timeout
        if options[name] is None:
            options[name] = options["timeout"]
    if parsed.scheme != "rediss" and (bad := _SSL_OPTIONS.intersection(parsed.query)):
        where = f"{field_name}?{min(bad)}"
        raise ConfigError(where, f"TLS options need a rediss:// URL, not {parsed.redacted()!r}")
    if parsed.scheme == "memory":
        name = urlsplit(parsed.raw).netloc + parsed.path.rstrip("/")  # case kept
        if name:
            return MemoryRedis.shared(name, decode_responses=options["decode_responses"])
        return MemoryRedis(decode_responses=options["decode_responses"])
    if parsed.scheme == "redis+cluster":
        return _cluster(parsed, options, field_name)
    if parsed.scheme == "redis+sentinel":
        return _sentinel(parsed, options, field_name, sentinel_kwargs)
    return _standalone(parsed, options, field_name)


def create_redis_from_settings(settings: Settings) -> RedisClient:
    """The client for ``REDIS_URL`` with ``MEDIZ_REDIS_MAX_CONNECTIONS``/``MEDIZ_REDIS_TIMEOUT``.

    With ``REDIS_URL`` unset, the process-wide in-memory store ``memory://mediz``.
    """
    return create_redis(
        settings.redis_dsn() or "memory://mediz",
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout,
        field_name="REDIS_URL",
    )


def _connection_kwargs(parsed: BackendURL, options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "username": parsed.username,
        "password": parsed.password,
        "socket_timeout": options["socket_timeout"],
        "socket_connect_timeout": options["connect_timeout"],
        "health_check_interval": options["health_check_interval"],
        "decode_responses": options["decode_responses"],
        "client_name": options["client_name"],
    }


def _db(parsed: BackendURL, options: Mapping[str, Any], path: str, field_name: str) -> int:
    if "db" in options:
        return int(options["db"])
    if not path:
        return 0
    if not path.isdigit():
        raise ConfigError(
            field_name, f"the database {path!r} in {parsed.redacted()!r} must be a number >= 0"
        )
    return int(path)


def _make_retry(options: Mapping[str, Any]) -> _FailoverRetry:
    return _FailoverRetry(options["retries"], options["backoff_base"], options["backoff_cap"])


def _standalone(parsed: BackendURL, options: Mapping[str, Any], field_name: str) -> Redis:
    kwargs = _connection_kwargs(parsed, options)
    connection_class: type[AbstractConnection]
    if parsed.scheme == "unix":
        path = unquote(parsed.path)
        if not path or path == "/":
            raise ConfigError(field_name, f"unix:// needs a socket path, got {parsed.redacted()!r}")
        connection_class, kwargs["path"] = UnixDomainSocketConnection, path
        kwargs["db"] = _db(parsed, options, "", field_name)
    else:
        connection_class = SSLConnection if parsed.scheme == "rediss" else Connection
        kwargs.update(host=parsed.host or "localhost", port=parsed.port or 6379)
        kwargs.update(socket_keepalive=True)  # with redis-py's idle 30 s / 5 s / 3 probes
        kwargs["db"] = _db(parsed, options, parsed.path.strip("/"), field_name)
        kwargs.update({k: v for k, v in options.items() if k in _SSL_OPTIONS})
    retry = _make_retry(options)
    pool = _Pool(
        max_connections=options["max_connections"],
        timeout=options["timeout"],
        connection_class=connection_class,
        retry=retry,
        **kwargs,
    )
    retry.pool = weakref.ref(pool)  # set before any connection deep-copies the retry
    return Redis.from_pool(pool)


def _sentinel(
    parsed: BackendURL,
    options: Mapping[str, Any],
    field_name: str,
    sentinel_kwargs: Mapping[str, Any] | None,
) -> Redis:
    service, _, db = parsed.path.strip("/").partition("/")
    if not service:
        raise ConfigError(
            field_name,
            f"redis+sentinel:// needs the service name as its path (redis+sentinel://"
            f"h1:26379,h2:26379/mymaster), got {parsed.redacted()!r}",
        )
    seeds = [(host or "localhost", port or 26379) for host, port in parsed.hosts]
    kwargs = _connection_kwargs(parsed, options)
    kwargs["db"] = _db(parsed, options, db, field_name)
    retry = _make_retry(options)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        seeds,
        sentinel_kwargs={
            "socket_timeout": options["socket_timeout"],
            "socket_connect_timeout": options["connect_timeout"],
            "socket_keepalive": True,
            **(sentinel_kwargs or {}),
        },
        socket_keepalive=True,
    )
    client: Redis = sentinel.master_for(
        unquote(service),
        connection_pool_class=_SentinelPool,
        connection_class=_SentinelConnection,
        max_connections=options["max_connections"],
        timeout=options["timeout"],
        retry=retry,
        **kwargs,
    )
    pool = client.connection_pool
    retry.pool = weakref.ref(pool) if isinstance(pool, _Pool) else None
    return client


def _cluster(parsed: BackendURL, options: Mapping[str, Any], field_name: str) -> RedisCluster:
    if parsed.path.strip("/") not in ("", "0") or options.get("db", 0) != 0:
        raise ConfigError(
            field_name, f"Redis Cluster has only database 0; drop the /db of {parsed.redacted()!r}"
        )
    nodes = [ClusterNode(host or "localhost", port or 6379) for host, port in parsed.hosts]
    kwargs = _connection_kwargs(parsed, options)
    return RedisCluster(
        startup_nodes=nodes,
        max_connections=options["max_connections"],
        retry=Retry(
            EqualJitterBackoff(cap=options["backoff_cap"], base=options["backoff_base"]),
            options["retries"],
        ),
        socket_keepalive=True,
        **kwargs,
    )


# -- start-up check and shutdown ------------------------------------------------------------


async def check_redis(client: RedisClient, *, log_warnings: bool = True) -> dict[str, Any]:
    """PING the server and read its version and ``maxmemory-policy``: for health and start-up.

    A policy that may evict keys without a TTL (``allkeys-lru``, ``allkeys-lfu``,
    ``allkeys-random``) could silently drop durable queue state: it is logged as a warning on
    ``mediz_infra.redis`` and listed under ``"warnings"``. ``CONFIG`` may be disabled or renamed
    (managed Redis): the policy is then read from ``INFO memory``, or reported as unknown.

    Args:
        client: a client from :func:`create_redis` (or any redis-py client).
        log_warnings: log the warnings too; a health endpoint polled every few seconds may
            pass False and only report them.

    Returns:
        ``{"backend", "latency_ms", "version", "maxmemory_policy", "warnings"}`` plus
        ``"pool"`` (``max_connections``, ``in_use``, ``idle``) for a pooled client. Never a
        password.

    Raises:
        BackendUnavailable: the server cannot be reached.
        BackendTimeout: it did not answer within the socket timeout.
        PoolExhausted: no pooled connection became free in time.
    """
    try:
        started = time.perf_counter()
        await client.ping()
        latency = time.perf_counter() - started
        info = _first_node(await client.info())
        policy = await _maxmemory_policy(client, info)
    except RedisError as exc:
        raise as_backend_error(exc) from exc
    warnings: list[str] = []
    if policy in _EVICTING_POLICIES:
        warnings.append(
            f"maxmemory-policy is {policy}: when memory runs out Redis may evict keys that "
            "have no TTL, such as durable queue jobs; set it to noeviction or a volatile-* "
            "policy (CONFIG SET maxmemory-policy noeviction), or give the queue its own Redis"
        )
    elif policy is None:
        warnings.append(
            "could not read maxmemory-policy (CONFIG and INFO both refused); check by hand that "
            "it is noeviction or volatile-*"
        )
    for warning in warnings if log_warnings else ():
        log.warning("redis self-check: %s", warning)
    report: dict[str, Any] = {
        "backend": _backend_name(client),
        "latency_ms": round(latency * 1000, 3),
        "version": str(info.get("redis_version", "unknown")),
        "maxmemory_policy": policy,
        "warnings": warnings,
    }
    pool = getattr(client, "connection_pool", None)
    if isinstance(pool, ConnectionPool):
        in_use = len(pool._in_use_connections)
        idle = len(pool._available_connections)
        report["pool"] = {"max_connections": pool.max_connections, "in_use": in_use, "idle": idle}
    return report


def _first_node(reply: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """RedisCluster answers per node ({"host:port": {...}}); keep the first node's answer."""
    nested = [v for v in reply.values() if isinstance(v, Mapping)]
    if nested and len(nested) == len(reply):
        return nested[0]
    return reply


async def _maxmemory_policy(client: RedisClient, info: Mapping[str, Any]) -> str | None:
    try:
        policy = _first_node(await client.config_get("maxmemory-policy")).get("maxmemory-policy")
    except ResponseError as exc:  # CONFIG renamed or refused by ACL: INFO has it too
        log.debug("CONFIG GET maxmemory-policy refused (%s); reading INFO memory", exc)
        policy = None
    if policy is None:
        policy = info.get("maxmemory_policy")
    return None if policy is None else str(policy.decode() if isinstance(policy, bytes) else policy)


def _backend_name(client: RedisClient) -> str:
    if isinstance(client, MemoryRedis):
        return "memory"
    if isinstance(client, RedisCluster):
        return "redis-cluster"
    if isinstance(client.connection_pool, SentinelConnectionPool):
        return "redis-sentinel"
    return "redis"


async def close_redis(client: RedisClient) -> None:
    """Close the client and its pool (and a Sentinel client's Sentinel connections).

    Safe to call twice and on a client whose server is gone: errors while closing are logged
    at debug level, never raised.
    """
    try:
        if isinstance(client, Redis):
            pool = client.connection_pool
            await client.aclose(close_connection_pool=True)
            if isinstance(pool, SentinelConnectionPool):
                await pool.sentinel_manager.aclose()
        else:
            await client.aclose()
    except (RedisError, OSError) as exc:
        log.debug("closing redis client: %s", exc)
