"""Caching for async functions and HTTP responses, on Redis or in memory.

``cache = Cache(url)``, then ``@cache(ttl=60, key="symptoms:popular:{limit}", tags=["symptoms"])``
on async functions and methods. See ``docs/cache.md``.
"""

from __future__ import annotations

from .cache import Cache
from .decorator import CachedFunction
from .http import HttpCache
from .lock import LockPolicy
from .serializers import CacheValueRejected, JsonSerializer, Serializer, SignedPickleSerializer
from .stats import CacheStats

__all__ = [
    # cache
    "Cache",
    # decorator
    "CachedFunction",
    # http
    "HttpCache",
    # lock
    "LockPolicy",
    # serializers
    "CacheValueRejected",
    "JsonSerializer",
    "Serializer",
    "SignedPickleSerializer",
    # stats
    "CacheStats",
]
