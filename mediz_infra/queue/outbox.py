"""Transactional enqueue: a job written in the caller's Postgres transaction, relayed to the broker.

``await task.enqueue(..., connection=conn)`` inside the caller's transaction inserts the job into
an outbox table on that connection: a rolled-back transaction leaves no job, a committed one is
durable in Postgres even if Redis loses its data before the relay runs. :meth:`Outbox.relay`
moves committed rows to the broker and deletes them in one transaction of its own: if the
broker refuses, the rows stay; if the commit fails after the broker took them, the next relay
sends them again and the job id makes that a no-op.

The connection is duck-typed (:class:`OutboxConnection`): an asyncpg connection fits, and this
component imports no driver.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from ..errors import ConfigError
from .jobs import JobRecord

__all__ = ["Executor", "Outbox", "OutboxConnection", "outbox_schema"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
DEFAULT_TABLE = "mediz_queue_outbox"


class Executor(Protocol):
    """What ``enqueue(connection=...)`` needs: ``execute(query, *args)`` (asyncpg's signature)."""

    async def execute(self, query: str, *args: Any) -> Any: ...


class OutboxConnection(Executor, Protocol):
    """What the relay needs: ``execute``, ``fetch`` and ``transaction()`` (asyncpg's)."""

    async def fetch(self, query: str, *args: Any) -> Sequence[Any]: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


def _checked(table: str) -> str:
    if not _IDENTIFIER.match(table):
        raise ConfigError("table", f"{table!r} is not a plain (optionally schema-qualified) name")
    return table


def outbox_schema(table: str = DEFAULT_TABLE) -> str:
    """The ``CREATE TABLE`` statement of the outbox (run it in a migration, or once)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {_checked(table)} ("
        " id bigserial PRIMARY KEY, queue text NOT NULL, job_id text NOT NULL,"
        " task text NOT NULL, payload text NOT NULL, max_attempts integer NOT NULL,"
        " enqueued_at double precision NOT NULL, eta double precision NOT NULL,"
        " UNIQUE (queue, job_id))"
    )


class Outbox:
    """A queue's outbox table: writes in callers' transactions, relays committed jobs.

    Args:
        queue_name: the queue whose jobs it holds.
        table: the outbox table (see :func:`outbox_schema`).

    Raises:
        ConfigError: ``table`` is not a plain name.
    """

    def __init__(self, queue_name: str, table: str = DEFAULT_TABLE) -> None:
        self.queue_name = queue_name
        self.table = _checked(table)
        self._insert = (
            f"INSERT INTO {self.table} (queue, job_id, task, payload, max_attempts,"
            " enqueued_at, eta) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (queue, job_id) DO NOTHING"
        )
        self._take = (
            f"DELETE FROM {self.table} WHERE id IN (SELECT id FROM {self.table} WHERE queue = $1"
            " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " RETURNING id, job_id, task, payload, max_attempts, enqueued_at, eta"
        )

    async def write(self, connection: Executor, records: Sequence[JobRecord]) -> None:
        """Insert jobs on the caller's connection (inside its transaction)."""
        for r in records:
            await connection.execute(
                self._insert,
                self.queue_name,
                r.id,
                r.task,
                r.payload,
                r.max_attempts,
                r.enqueued_at,
                r.eta,
            )

    async def relay(self, connection: OutboxConnection, broker: Any, limit: int = 500) -> int:
        """Move up to ``limit`` committed jobs to ``broker``; how many were moved.

        Raises:
            whatever the broker or the driver raises: the rows then stay for the next relay.
        """
        async with connection.transaction():
            rows = await connection.fetch(self._take, self.queue_name, limit)
            rows = sorted(rows, key=lambda row: row["id"])
            if rows:
                await broker.enqueue(
                    [
                        JobRecord(
                            row["job_id"],
                            row["task"],
                            row["payload"],
                            row["max_attempts"],
                            row["enqueued_at"],
                            row["eta"],
                        )
                        for row in rows
                    ]
                )
        return len(rows)
