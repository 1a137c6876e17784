"""Backends: one URL names each, one factory per kind turns it into a client.

``from_url("postgresql://...")`` gives a :class:`PoolManager`; ``from_url("redis://...")`` (and
``rediss://``, ``redis+sentinel://``, ``redis+cluster://``, ``unix://``) a Redis client;
``s3://bucket/prefix`` and ``file:///path`` an object store (:mod:`.objectstore`).
Nothing connects until the client is used (or, for a pool, started). ``memory://`` is no backend
here: each component keeps its own in-process store for it. Components share one outage policy
per client: :class:`Outage` skips a failed backend until a probe sees it back.

The Postgres names (:class:`PoolManager`, :class:`PoolStats`, :class:`PgBouncerSessionWarning`)
are imported on first access (PEP 562 ``__getattr__``): asyncpg is a large import that the cache
and the rate limiter, which import this package for the Redis client, never need. So are the
Redis, outage and sampling names: redis-py is a large import (about 12 MB of memory) that an
object store user such as ``mediz-infra backup run`` never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._lazy import lazy_exports
from .._urls import parse_url
from ..errors import ConfigError
from .objectstore import (
    OBJECTSTORE_SCHEMES,
    FileStore,
    ObjectInfo,
    ObjectStore,
    S3Store,
    create_object_store,
)

if TYPE_CHECKING:  # for mypy and IDEs; at run time __getattr__ below imports them
    from .outage import BACKEND_ERRORS, Outage, describe_failure, redis_probe
    from .postgres import PgBouncerSessionWarning, PoolManager, PoolStats
    from .redis import (
        REDIS_SCHEMES,
        RedisClient,
        as_backend_error,
        check_redis,
        close_redis,
        create_redis,
        create_redis_from_settings,
    )
    from .sampling import QuerySampler, SampledStatement

__all__ = [
    "from_url",
    # backends.objectstore
    "OBJECTSTORE_SCHEMES",
    "FileStore",
    "ObjectInfo",
    "ObjectStore",
    "S3Store",
    "create_object_store",
    # backends.outage
    "BACKEND_ERRORS",
    "Outage",
    "describe_failure",
    "redis_probe",
    # backends.sampling
    "QuerySampler",
    "SampledStatement",
    # backends.postgres
    "PgBouncerSessionWarning",
    "PoolManager",
    "PoolStats",
    # backends.redis
    "REDIS_SCHEMES",
    "RedisClient",
    "as_backend_error",
    "check_redis",
    "close_redis",
    "create_redis",
    "create_redis_from_settings",
]

_POSTGRES_SCHEMES = ("postgresql", "postgres")


def from_url(url: str, **options: Any) -> PoolManager | RedisClient | S3Store | FileStore:
    """Build the client a URL names; ``options`` go to the kind's factory.

    Raises:
        ConfigError: the scheme is not one of the known ones (the message lists them).
    """
    from .redis import REDIS_SCHEMES, create_redis

    scheme = parse_url(url).scheme
    if scheme in _POSTGRES_SCHEMES:
        from .postgres import PoolManager  # asyncpg only when a Postgres URL is asked for

        return PoolManager(url, **options)
    if scheme in REDIS_SCHEMES:
        return create_redis(url, **options)
    if scheme in OBJECTSTORE_SCHEMES:
        return create_object_store(url, **options)
    if scheme == "memory":
        create_redis(url)  # raises the ConfigError that says where memory:// belongs
    known = ", ".join(f"{s}://" for s in (*_POSTGRES_SCHEMES, *REDIS_SCHEMES, *OBJECTSTORE_SCHEMES))
    raise ConfigError("url", f"unknown scheme {scheme + '://'!r}; known: {known}")


# Lazily imported names -> their submodule (asyncpg comes with the Postgres ones, redis-py with
# the Redis and outage ones).
_LAZY = {
    "BACKEND_ERRORS": ".outage",
    "Outage": ".outage",
    "describe_failure": ".outage",
    "redis_probe": ".outage",
    "QuerySampler": ".sampling",
    "SampledStatement": ".sampling",
    "PgBouncerSessionWarning": ".postgres",
    "PoolManager": ".postgres",
    "PoolStats": ".postgres",
    "REDIS_SCHEMES": ".redis",
    "RedisClient": ".redis",
    "as_backend_error": ".redis",
    "check_redis": ".redis",
    "close_redis": ".redis",
    "create_redis": ".redis",
    "create_redis_from_settings": ".redis",
}


# Hidden from type checkers: they see the TYPE_CHECKING imports instead, and a visible
# module __getattr__ would make every misspelt attribute of the package type-check as Any.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__)
