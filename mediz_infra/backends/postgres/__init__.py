"""Postgres: :class:`PoolManager`, a bounded, PgBouncer-ready pool of asyncpg connections.

Layout: :mod:`.pool` is :class:`PoolManager` (the free list, the waiters and the slots, the
pre-ping, the outage back-off); :mod:`.checkout` holds the ``acquire()``, ``read()`` and
``transaction()`` context managers; :mod:`.connection` the connection class that notes session
changes and guards use after release, and the connector that opens and restores connections;
:mod:`.replicas` the read replicas and their round robin; :mod:`.options` the argument checks;
:mod:`.gauges` the statistics and their gauges. The statement sampler (``sample_queries``) is
:mod:`mediz_infra.backends.sampling`, which imports no driver.
"""

from .connection import PgBouncerSessionWarning
from .gauges import PoolStats
from .pool import PoolManager

__all__ = ["PgBouncerSessionWarning", "PoolManager", "PoolStats"]
