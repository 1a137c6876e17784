"""Ready-made checks for the app's backends: the Postgres pool, Redis, any callable.

Each returns a :data:`~.checks.CheckFunc` reporting an observed figure, ``warn`` past its
threshold: the pool's saturation (connections in use over its maximum, in %), Redis' round
trip (ms). None of them shows a URL or a password: details are counts and timings.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ..backends import RedisClient
from .checks import CheckFunc, Observation

__all__ = [
    "BackupFreshnessSource",
    "CheckablePool",
    "FreshnessFigures",
    "backup_freshness_check",
    "pool_check",
    "redis_check",
    "value_check",
]


_SHOWN = ("size", "idle", "in_use", "waiting", "max_size", "latency_ms")


class CheckablePool(Protocol):
    """What :func:`pool_check` needs of a pool (a ``PoolManager``)."""

    async def check(self, timeout: float = ...) -> dict[str, Any]: ...


def pool_check(
    pool: CheckablePool, *, timeout: float = 2.0, warn_percent: float = 80.0
) -> CheckFunc:
    """A ``SELECT 1`` through the pool; ``warn`` when its saturation reaches ``warn_percent``.

    The observed value is the share of the pool's maximum in use (``%``); callers waiting for a
    connection count as 100 %.
    """

    async def check() -> Observation:
        detail = await pool.check(timeout=timeout)
        in_use, maximum = int(detail.get("in_use", 0)), int(detail.get("max_size", 0)) or 1
        waiting = int(detail.get("waiting", 0))
        percent = 100.0 if waiting else round(100.0 * in_use / maximum, 1)
        shown: dict[str, Any] = {k: detail[k] for k in _SHOWN if k in detail}
        if percent >= warn_percent:
            return Observation(
                "warn", percent, "%", f"pool {percent:g}% in use ({waiting} waiting)", shown
            )
        return Observation("pass", percent, "%", None, shown)

    return check


def redis_check(client: RedisClient, *, warn_ms: float = 50.0) -> CheckFunc:
    """A ``PING``; ``warn`` when its round trip reaches ``warn_ms`` milliseconds."""

    async def check() -> Observation:
        started = time.perf_counter()
        await client.ping()
        ms = round((time.perf_counter() - started) * 1000, 2)
        if ms >= warn_ms:
            return Observation("warn", ms, "ms", f"PING took {ms:g} ms")
        return Observation("pass", ms, "ms")

    return check


def value_check(
    read: Callable[[], float | Awaitable[float]],
    *,
    unit: str,
    warn_above: float,
    fail_above: float | None = None,
    what: str = "value",
) -> CheckFunc:
    """A check on any figure (a queue's backlog, the last backup's age in seconds).

    ``warn`` above ``warn_above``; a failure (raise) above ``fail_above`` when given.
    """

    async def check() -> Observation:
        value = read()
        if not isinstance(value, int | float):
            value = await value
        if fail_above is not None and value > fail_above:
            raise ValueError(f"{what} {value:g} {unit} is above {fail_above:g} {unit}")
        if value > warn_above:
            return Observation("warn", value, unit, f"{what} above {warn_above:g} {unit}")
        return Observation("pass", value, unit)

    return check


class FreshnessFigures(Protocol):
    """What :func:`backup_freshness_check` reads of a freshness report."""

    @property
    def degraded(self) -> bool: ...

    @property
    def summary(self) -> str: ...

    @property
    def age_seconds(self) -> float | None: ...

    def as_details(self) -> Mapping[str, Any]: ...


class BackupFreshnessSource(Protocol):
    """What :func:`backup_freshness_check` needs: a ``mediz_infra.db.backup.BackupFreshness``."""

    async def report(self) -> FreshnessFigures: ...


def backup_freshness_check(source: BackupFreshnessSource) -> CheckFunc:
    """The ``backup_freshness`` check: ``warn`` (degraded) when the backups are stale.

    The observed value is the newest verified backup's age in seconds; the details hold the ids,
    ages and verify status (never the store's URL). ``source`` caches what it read, so probing
    this check often does not reach the store often. A store that cannot be read fails the
    check: register it with ``critical=False`` so that shows as degraded, not down::

        Check("backup_freshness", backup_freshness_check(freshness), critical=False, timeout=10)
    """

    async def check() -> Observation:
        report = await source.report()
        details = dict(report.as_details())
        age = report.age_seconds
        if report.degraded:
            return Observation("warn", age, "s", report.summary, details)
        return Observation("pass", age, "s", None, details)

    return check
