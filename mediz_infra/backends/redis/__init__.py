"""Redis connections: a URL becomes a ``redis.asyncio`` client with a bounded, blocking pool.

Layout: :mod:`.client` turns a URL into a client (:func:`create_redis`) and checks and closes
it; :mod:`.options` holds the URL's query options and their checks; :mod:`.topology` builds a
standalone, Sentinel or cluster client from a parsed URL; :mod:`.pool` is the bounded
connection pool, the Sentinel pool and the failover retry; :mod:`.cluster` is the cluster
client whose commands wait for a free connection.
"""

from .client import (
    REDIS_SCHEMES,
    RedisClient,
    as_backend_error,
    check_redis,
    close_redis,
    create_redis,
    create_redis_from_settings,
)

__all__ = [
    "REDIS_SCHEMES",
    "RedisClient",
    "as_backend_error",
    "check_redis",
    "close_redis",
    "create_redis",
    "create_redis_from_settings",
]
