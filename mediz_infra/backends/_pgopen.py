"""Opening and closing the asyncpg pool under a PoolManager.

``open_pool`` turns PoolManager's settings into asyncpg's ``create_pool`` arguments (the
connection class that tracks session changes, the statement cache off in PgBouncer mode, the
per-connection ``init`` and ``reset`` hooks) and reports an unreachable server as
:class:`~mediz_infra.errors.BackendUnavailable`. ``close_pool`` waits for checked-out
connections, then terminates.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import asyncpg

from .._urls import redact
from ..errors import BackendUnavailable
from ._pgconn import TrackedConnection

if TYPE_CHECKING:
    from .postgres import PoolManager

__all__ = ["close_pool", "free_holders", "open_pool"]

log = logging.getLogger("mediz_infra.postgres")


async def open_pool(manager: PoolManager) -> asyncpg.Pool:
    """Open ``manager``'s asyncpg pool with its ``min_size`` connections.

    Raises:
        BackendUnavailable: the server cannot be reached or refused the connection.
    """
    server_settings = {"application_name": manager.application_name}
    if manager.statement_timeout is not None and not manager.pgbouncer:
        server_settings["statement_timeout"] = str(int(manager.statement_timeout * 1000))
    # Through Any: asyncpg-stubs before 0.31 type the async ``reset`` hook as a plain function.
    create_pool: Any = asyncpg.create_pool
    try:
        pool: asyncpg.Pool = await create_pool(
            manager._dsn,
            min_size=manager.min_size,
            max_size=manager.max_size,
            max_inactive_connection_lifetime=manager.max_idle,
            command_timeout=manager.command_timeout,
            timeout=manager.connect_timeout,
            connection_class=TrackedConnection,
            statement_cache_size=0 if manager.pgbouncer else 100,
            server_settings=server_settings,
            init=manager._init_connection,
            reset=manager._reset_connection,
        )
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise BackendUnavailable(
            f"cannot open the Postgres pool {manager.name} at {manager.url}: "
            f"{redact(str(exc))}; check that the server is up and DATABASE_URL is right"
        ) from exc
    return pool


def free_holders(pool: asyncpg.Pool) -> asyncio.Queue[Any] | None:
    """asyncpg's queue of free holders, or ``None`` when this asyncpg has none."""
    # Private to asyncpg: peeked to skip the acquire timer when a holder is free. Without it
    # every acquire simply takes the timed path.
    queue = getattr(pool, "_queue", None)
    return queue if isinstance(queue, asyncio.Queue) else None


async def close_pool(manager: PoolManager, pool: asyncpg.Pool) -> None:
    """Close ``pool``, waiting up to ``acquire_timeout`` for checked-out connections."""
    try:
        await asyncio.wait_for(pool.close(), manager.acquire_timeout)
    except TimeoutError:
        log.warning("pool %s: connections still in use after %.1f s; terminating",
                    manager.name, manager.acquire_timeout)
        pool.terminate()
