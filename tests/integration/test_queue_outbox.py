"""Transactional enqueue on the real Postgres and Redis: rollback enqueues nothing, commit is
never lost, not even when Redis is flushed before the relay runs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.errors import BackendUnavailable, ConfigError
from mediz_infra.queue import Queue, Worker, outbox_schema

pytestmark = pytest.mark.integration


@pytest.fixture
def table() -> str:
    return f"outbox_{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def conn(database_url: str, table: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await connection.execute(outbox_schema(table))
    try:
        yield connection
    finally:
        await connection.execute(f"DROP TABLE {table}")
        await connection.close()


async def test_rollback_enqueues_nothing_and_commit_survives_a_flushed_redis(
    conn: asyncpg.Connection, table: str, redis_url: str
) -> None:
    client = create_redis(redis_url)
    queue = Queue(f"ob{uuid.uuid4().hex[:8]}", client, prefix="test", outbox_table=table)
    sent: list[int] = []

    @queue.task
    async def notify(reminder_id: int) -> int:
        sent.append(reminder_id)
        return reminder_id

    try:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await notify.enqueue(1, connection=conn)
                raise RuntimeError("the request failed after enqueueing")
        async with conn.transaction():
            job = await notify.enqueue(2, connection=conn, _job_id="reminder-2")
            await notify.enqueue(2, connection=conn, _job_id="reminder-2")  # one row
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 1
        assert await job.status() is None  # committed, not relayed yet
        await client.flushdb()  # Redis loses its data before the relay runs
        assert await queue.relay_outbox(conn) == 1
        assert await queue.relay_outbox(conn) == 0  # moved, not copied
        await Worker(queue).run_burst()
        assert sent == [2] and await job.result(timeout=5) == 2
    finally:
        await client.flushdb()
        await client.aclose()


async def test_a_failed_relay_keeps_the_rows(conn: asyncpg.Connection, table: str) -> None:
    from tests._servers import free_port

    down = create_redis(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    queue = Queue("obdown", down, outbox_table=table)

    @queue.task
    async def noop() -> None:
        return None

    async with conn.transaction():
        await noop.enqueue(connection=conn)
    with pytest.raises(BackendUnavailable, match="stay in"):
        await queue.relay_outbox(conn)
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 1
    await down.aclose()


def test_the_outbox_table_name_is_checked() -> None:
    with pytest.raises(ConfigError, match="table"):
        Queue("x", "memory://", outbox_table="bad; DROP TABLE users")
