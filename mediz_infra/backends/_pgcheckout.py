"""How PoolManager takes one connection out of asyncpg's pool, and the errors when it cannot.

A free holder is handed over at once; otherwise the caller joins a bounded wait queue with a
shared deadline. During the back-off after an outage a pool with no idle connection fails fast.
A connection idle longer than ``ping_after`` is checked with ``SELECT 1`` before it is lent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import asyncpg

from .._urls import redact
from ..errors import BackendTimeout, BackendUnavailable, PoolExhausted

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    from .postgres import PoolManager

__all__ = ["acquire_once", "ping"]

log = logging.getLogger("mediz_infra.postgres")

# Errors raised while *opening* a connection that mean "the server is not reachable now".
_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
)


async def acquire_once(
    manager: PoolManager, pool: asyncpg.Pool, budget: float
) -> PoolConnectionProxy:
    """One connection from ``pool`` within ``budget`` seconds, not yet pinged.

    Raises:
        BackendUnavailable: in back-off after an outage, or the server cannot be reached.
        PoolExhausted: ``max_waiting`` callers already wait, or none was free in time.
        BackendTimeout: a slot was free but opening the connection took the whole budget.
    """
    if manager._retry_at and time.monotonic() < manager._retry_at and pool.get_idle_size() == 0:
        raise BackendUnavailable(
            f"Postgres pool {manager.name} at {manager.url} is unreachable "
            f"({manager._last_error}); retrying in {manager._retry_at - time.monotonic():.2f} s"
        )
    free = manager._free_holders
    # A free holder means no wait: asyncpg hands it over at once (at worst it opens a
    # connection, bounded by connect_timeout), so that path skips the timer.
    fast = free is not None and free.qsize() > 0
    if not fast and manager.max_waiting is not None and manager._waiting >= manager.max_waiting:
        manager._errors.add(1, {**manager._attrs, "kind": "exhausted"})
        raise _exhausted(manager, budget, queue_full=True)
    try:
        if fast:
            proxy = await pool.acquire()
        else:
            proxy = await _wait_for_holder(manager, pool, budget)
    except TimeoutError:
        if pool.get_size() - pool.get_idle_size() < manager.max_size:
            # A slot was free: the time went into opening a connection.
            raise BackendTimeout(
                f"opening a Postgres connection to {manager.url} took more than "
                f"{budget:.1f} s; check the server's load and network"
            ) from None
        manager._errors.add(1, {**manager._attrs, "kind": "exhausted"})
        raise _exhausted(manager, budget) from None
    except _OUTAGE_ERRORS as exc:
        manager._note_outage(exc)
        raise BackendUnavailable(
            f"cannot connect to Postgres pool {manager.name} at {manager.url}: "
            f"{redact(str(exc))}; check that the server is up"
        ) from exc
    if manager._failures:
        manager._failures = 0
        manager._retry_at = 0.0
        log.info("pool %s: Postgres reachable again", manager.name)
    return proxy


async def _wait_for_holder(
    manager: PoolManager, pool: asyncpg.Pool, budget: float
) -> PoolConnectionProxy:
    task = manager._deadlines.enter(budget)
    manager._waiting += 1
    try:
        return await pool.acquire()
    except asyncio.CancelledError:
        if manager._deadlines.expired(task):  # ours becomes a timeout; a caller's cancel stays
            raise TimeoutError from None
        raise
    finally:
        manager._waiting -= 1
        manager._deadlines.leave(task)


async def ping(manager: PoolManager, proxy: PoolConnectionProxy) -> bool:
    """``SELECT 1`` on ``proxy``; a dead connection is dropped (asyncpg reopens its holder)."""
    try:
        await proxy.fetchval("SELECT 1", timeout=manager.connect_timeout)
    except Exception as exc:
        manager._errors.add(1, {**manager._attrs, "kind": "stale"})
        log.info("pool %s: dropped a stale connection (%s)", manager.name, exc)
        proxy.terminate()  # hands the holder back; asyncpg reconnects on next acquire
        return False
    return True


def _exhausted(manager: PoolManager, budget: float, *, queue_full: bool = False) -> PoolExhausted:
    stats = manager.stats()
    why = (
        f"{stats.waiting} callers already waiting (max_waiting={manager.max_waiting})"
        if queue_full
        else f"no connection free after {budget:.1f} s"
    )
    return PoolExhausted(
        f"Postgres pool {manager.name} exhausted: {stats.in_use}/{manager.max_size} in use, "
        f"{stats.waiting} waiting; {why}. Raise DATABASE_POOL_MAX (and the server's "
        "max_connections), shorten transactions, or raise MEDIZ_ACQUIRE_TIMEOUT",
        size=manager.max_size, in_use=stats.in_use, waiting=stats.waiting, timeout=budget,
    )
