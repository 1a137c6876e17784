"""The run lock: one ``backup run`` per source database at a time.

A session-level Postgres advisory lock, taken with ``pg_try_advisory_lock`` on a connection of
its own that is held for the whole run. Postgres releases it when that session ends, so a run
killed by SIGKILL (or a lost machine) frees the lock as soon as the server sees its connection
close: no expiry to tune and no stale lock to clear by hand. A second run does not wait; it
fails at once naming the holder (``application_name``, client address, Postgres pid, since).

Needs a direct connection (or PgBouncer in session mode): a transaction-mode pooler would hand
the session, and the lock with it, to someone else.
"""

from __future__ import annotations

import asyncio
import os
import socket
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from ..._urls import redact
from ...errors import BackupError

__all__ = ["LOCK_KEY", "RunLock"]

LOCK_KEY = (0x6D657A69, 0x62616B75)  # the two int4 halves of the advisory lock ("mezibaku")

_HOLDER_SQL = """
SELECT a.application_name, host(a.client_addr), a.pid, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2
  AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class RunLock:
    """``async with RunLock(url):`` holds the backup lock on ``url``'s database, or raises.

    Raises:
        BackupError: another session holds the lock; the message names it.
    """

    def __init__(self, database_url: str, *, label: str = "backup run") -> None:
        self._url = database_url
        self.holder = f"mediz-infra {label} {socket.gethostname()}:{os.getpid()}"[:63]
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> RunLock:
        from ...backends import PoolManager

        pool = PoolManager(
            self._url, min_size=1, max_size=1, command_timeout=30.0, max_lifetime=1e9,
            max_idle=1e9, application_name=self.holder, pgbouncer=False, name="backup-lock",
        )  # fmt: skip
        async with AsyncExitStack() as stack:
            await pool.start()
            stack.push_async_callback(pool.close)  # closing the session releases the lock
            conn = await stack.enter_async_context(pool.acquire())
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *LOCK_KEY):
                raise BackupError(await _held_message(conn, self._url))
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await asyncio.shield(stack.aclose())


async def _held_message(conn: Any, url: str) -> str:
    row = await conn.fetchrow(_HOLDER_SQL, *LOCK_KEY)
    where = redact(url)
    if row is None:  # released between the attempt and this look: rare, say so
        return f"backup: another run held the lock on {where} a moment ago; try again"
    name, addr, pid, since = row
    who = name or "a session with no application_name"
    return (
        f"backup: another run is in progress on {where}: {who} (from {addr or 'local socket'}, "
        f"postgres pid {pid}, since {since:%Y-%m-%d %H:%M:%S %Z}); wait for it to finish, or if "
        f"it is stuck end it with SELECT pg_terminate_backend({pid})"
    )
