"""Backends: one URL names each, one factory per kind turns it into a client.

``from_url("postgresql://...")`` gives a :class:`PoolManager`; ``from_url("redis://...")`` (and
``rediss://``, ``redis+sentinel://``, ``redis+cluster://``, ``unix://``, ``memory://``) a Redis
client. Nothing connects until the client is used (or, for a pool, started). Components share
one outage policy per client: :class:`Outage` skips a failed backend until a probe sees it back.
"""

from __future__ import annotations

from typing import Any

from .._urls import parse_url
from ..errors import ConfigError
from .memory import MemoryRedis
from .outage import BACKEND_ERRORS, Outage, describe_failure, redis_probe
from .postgres import PgBouncerSessionWarning, PoolManager, PoolStats
from .protocols import KeyValueClient
from .redis import (
    REDIS_SCHEMES,
    RedisClient,
    as_backend_error,
    check_redis,
    close_redis,
    create_redis,
    create_redis_from_settings,
)

__all__ = [
    "from_url",
    # backends.memory
    "MemoryRedis",
    # backends.outage
    "BACKEND_ERRORS",
    "Outage",
    "describe_failure",
    "redis_probe",
    # backends.postgres
    "PgBouncerSessionWarning",
    "PoolManager",
    "PoolStats",
    # backends.protocols
    "KeyValueClient",
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


def from_url(url: str, **options: Any) -> PoolManager | RedisClient:
    """Build the client a URL names; ``options`` go to the kind's factory.

    Raises:
        ConfigError: the scheme is not one of the known ones (the message lists them).
    """
    scheme = parse_url(url).scheme
    if scheme in _POSTGRES_SCHEMES:
        return PoolManager(url, **options)
    if scheme in REDIS_SCHEMES:
        return create_redis(url, **options)
    known = ", ".join(f"{s}://" for s in (*_POSTGRES_SCHEMES, *REDIS_SCHEMES))
    raise ConfigError("url", f"unknown scheme {scheme + '://'!r}; known: {known}")
