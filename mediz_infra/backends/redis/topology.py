"""How a parsed Redis URL becomes a redis-py client: standalone, Sentinel or Cluster.

Each builder takes the URL and its final options (keywords overridden by the URL's own, see
:mod:`.options`) and returns an unconnected client: a standalone or Sentinel ``Redis`` on a
:class:`~.pool.BoundedPool` with :class:`~.pool.FailoverRetry`, or a
:class:`~.cluster.BoundedCluster` (redis-py's ``RedisCluster`` whose commands wait for a
free connection) with a jittered retry.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from redis.asyncio import Redis, RedisCluster, Sentinel
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff

from ..._urls import BackendURL
from ...errors import ConfigError
from .cluster import BoundedCluster
from .options import SSL_OPTIONS
from .pool import BoundedPool, FailoverRetry, SentinelConnection, SentinelPool

__all__ = ["cluster", "sentinel", "standalone"]


def _connection_kwargs(parsed: BackendURL, options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "username": options.get("username") or parsed.username,
        "password": options.get("password") or parsed.password,
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


def _make_retry(options: Mapping[str, Any]) -> FailoverRetry:
    return FailoverRetry(options["retries"], options["backoff_base"], options["backoff_cap"])


def standalone(parsed: BackendURL, options: Mapping[str, Any], field_name: str) -> Redis:
    """A client for ``redis://``, ``rediss://`` (TLS) or ``unix://`` on one bounded pool."""
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
        kwargs.update({k: v for k, v in options.items() if k in SSL_OPTIONS})
    retry = _make_retry(options)
    pool = BoundedPool(
        max_connections=options["max_connections"],
        timeout=options["timeout"],
        connection_class=connection_class,
        retry=retry,
        **kwargs,
    )
    retry.pool = weakref.ref(pool)  # set before any connection deep-copies the retry
    return Redis.from_pool(pool)


def sentinel(
    parsed: BackendURL,
    options: Mapping[str, Any],
    field_name: str,
    sentinel_kwargs: Mapping[str, Any] | None,
) -> Redis:
    """A client for ``redis+sentinel://``: the master Sentinel names, on a bounded pool."""
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
    sentinel_class: Any = Sentinel  # untyped in some redis-py releases
    sentinels = sentinel_class(
        seeds,
        sentinel_kwargs={
            "socket_timeout": options["socket_timeout"],
            "socket_connect_timeout": options["connect_timeout"],
            "socket_keepalive": True,
            **(sentinel_kwargs or {}),
        },
        socket_keepalive=True,
    )
    client: Redis = sentinels.master_for(
        unquote(service),
        connection_pool_class=SentinelPool,
        connection_class=SentinelConnection,
        max_connections=options["max_connections"],
        timeout=options["timeout"],
        retry=retry,
        **kwargs,
    )
    pool = client.connection_pool
    retry.pool = weakref.ref(pool) if isinstance(pool, BoundedPool) else None
    return client


def cluster(parsed: BackendURL, options: Mapping[str, Any], field_name: str) -> RedisCluster:
    """A client for ``redis+cluster://``, seeded with the URL's hosts (database 0 only).

    A :class:`~.cluster.BoundedCluster`: commands wait up to ``timeout`` for one of
    ``max_connections`` slots instead of failing at once when a node's connections are busy.
    """
    if parsed.path.strip("/") not in ("", "0") or options.get("db", 0) != 0:
        raise ConfigError(
            field_name, f"Redis Cluster has only database 0; drop the /db of {parsed.redacted()!r}"
        )
    nodes = [ClusterNode(host or "localhost", port or 6379) for host, port in parsed.hosts]
    kwargs = _connection_kwargs(parsed, options)
    return BoundedCluster(
        startup_nodes=nodes,
        max_connections=options["max_connections"],
        timeout=options["timeout"],
        retry=Retry(
            EqualJitterBackoff(cap=options["backoff_cap"], base=options["backoff_base"]),
            options["retries"],
        ),
        socket_keepalive=True,
        **kwargs,
    )
