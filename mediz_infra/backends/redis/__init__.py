"""Redis connections: a URL becomes a ``redis.asyncio`` client with a bounded, blocking pool.

Layout: :mod:`.client` turns a URL into a client (:func:`create_redis`) and checks and closes
it; :mod:`.options` holds the URL's query options and their checks; :mod:`.topology` builds a
standalone, Sentinel or cluster client from a parsed URL; :mod:`.pool` is the bounded
connection pool, the Sentinel pool and the failover retry; :mod:`.cluster` is the cluster
client whose commands wait for a free connection; :mod:`.script` runs a component's Lua script
(``EVALSHA``, and the script itself once after ``NOSCRIPT``).
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
from .script import LuaScript

__all__ = [
    "LuaScript",
    "REDIS_SCHEMES",
    "RedisClient",
    "as_backend_error",
    "check_redis",
    "close_redis",
    "create_redis",
    "create_redis_from_settings",
]
