"""Redis connections: a URL becomes a ``redis.asyncio`` client with a bounded, blocking pool.

::

    redis://[[user]:password@]host[:port][/db][?option=value...]
    rediss://...                          the same over TLS (ssl_* options)
    unix://[[user]:password@]/path/to/redis.sock[?db=0]
    redis+sentinel://[[user]:password@]h1:26379,h2:26379/service_name[/db]
    redis+cluster://[[user]:password@]h1:7000,h2:7001

There is no in-memory Redis: ``memory://`` names each component's own in-process store
(``Cache("memory://")``, ``RateLimiter("memory://")``), and :func:`create_redis` refuses it.

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

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..._urls import cast_options, parse_url
from ...errors import BackendTimeout, BackendUnavailable, ConfigError, InfraError
from .options import OPTIONS, SSL_OPTIONS, check_keywords
from .topology import cluster, sentinel, standalone

if TYPE_CHECKING:
    from ...config import Settings

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

RedisClient: TypeAlias = "Redis | RedisCluster"
"""What :func:`create_redis` returns, depending on the URL's scheme."""

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster")

# Policies that may evict keys without a TTL, such as durable queue state.
_EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})


# -- errors ---------------------------------------------------------------------------------


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
        url: ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://`` or
            ``redis+cluster://`` (see the module docstring).
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
        ``redis.asyncio.RedisCluster`` (``redis+cluster``).

    Raises:
        ConfigError: the URL is malformed, its scheme is unknown (the message lists the known
            ones) or an option is unknown or invalid; names the field, never the password.
    """
    if url.partition("://")[0].strip().lower() == "memory":
        raise ConfigError(
            field_name,
            "memory:// is not a Redis server: pass it to the component itself "
            '(Cache("memory://"), RateLimiter("memory://")), which keeps its own in-process '
            "store, or leave REDIS_URL unset; for a Redis in tests, point at a real server",
        )
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
    check_keywords(options)
    options.update(cast_options(parsed, OPTIONS, field_name=field_name))
    for name in ("socket_timeout", "connect_timeout"):  # unset: follow the (final) timeout
        if options[name] is None:
            options[name] = options["timeout"]
    if parsed.scheme != "rediss" and (bad := SSL_OPTIONS.intersection(parsed.query)):
        where = f"{field_name}?{min(bad)}"
        raise ConfigError(where, f"TLS options need a rediss:// URL, not {parsed.redacted()!r}")
    if parsed.scheme == "redis+cluster":
        return cluster(parsed, options, field_name)
    if parsed.scheme == "redis+sentinel":
        return sentinel(parsed, options, field_name, sentinel_kwargs)
    return standalone(parsed, options, field_name)


def create_redis_from_settings(settings: Settings) -> RedisClient | None:
    """The client for ``REDIS_URL`` with ``MEDIZ_REDIS_MAX_CONNECTIONS``/``MEDIZ_REDIS_TIMEOUT``.

    ``None`` when ``REDIS_URL`` is unset or ``memory://``: components then keep their own
    in-process stores (one process only).
    """
    url = settings.redis_dsn()
    if not url or url.partition("://")[0].strip().lower() == "memory":
        return None
    return create_redis(
        url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout,
        field_name="REDIS_URL",
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
                manager: Any = pool.sentinel_manager
                if hasattr(manager, "aclose"):  # redis-py 8.1+
                    await manager.aclose()
                else:
                    for connection in manager.sentinels:
                        await connection.aclose()
        else:
            await client.aclose()
    except (RedisError, OSError) as exc:
        log.debug("closing redis client: %s", exc)
