"""Postgres: :class:`PoolManager`, a bounded, PgBouncer-ready pool over asyncpg.

Layout: :mod:`.pool` is the :class:`PoolManager` facade (opening, taking a connection out of
asyncpg's pool, the outage back-off); :mod:`.checkout` holds the ``acquire()``, ``read()`` and
``transaction()`` context managers; :mod:`.connection` the connection class that notes session
changes and the hooks that reset it; :mod:`.replicas` the read replicas and their round robin;
:mod:`.options` the argument checks; :mod:`.gauges` the statistics and their gauges.
"""

from .connection import PgBouncerSessionWarning
from .gauges import PoolStats
from .pool import PoolManager

__all__ = ["PgBouncerSessionWarning", "PoolManager", "PoolStats"]
