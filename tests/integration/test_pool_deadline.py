"""A request's wait for the database is bounded: acquire timeout plus command timeout.

Against a throwaway Postgres frozen with SIGSTOP (connections stay open, nothing answers), as a
hung host or a stuck server looks to a client. Each test waits with a generous guard: a call
that is still running when the guard ends means the bound does not hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from mediz_infra import PoolManager, Settings
from mediz_infra.errors import BackendTimeout
from tests._servers import PostgresServer

pytestmark = pytest.mark.integration

# Several times the bounds under test: a call still running at the guard waited too long.
GUARD = 20.0


@pytest.fixture
def frozen_pg(throwaway_postgres: PostgresServer) -> Iterator[PostgresServer]:
    try:
        yield throwaway_postgres
    finally:
        throwaway_postgres.thaw()


async def _outcome(call: Awaitable[Any]) -> BaseException | None:
    """What ``call`` raised (None if it returned); fails if it is still running at GUARD."""
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=GUARD)
    if not done:
        task.cancel()
        pytest.fail(f"still waiting after {GUARD} s: the deadline did not hold")
    return task.exception()


async def test_the_default_command_timeout_bounds_a_query_on_a_frozen_server(
    frozen_pg: PostgresServer,
) -> None:
    async with PoolManager(frozen_pg.url) as pool:

        async def query_in_block() -> None:
            async with pool.acquire() as con:
                frozen_pg.freeze()
                await con.fetchval("SELECT 1")

        error = await _outcome(query_in_block())
        assert isinstance(error, TimeoutError)


def test_the_default_command_timeout_reaches_the_pool() -> None:
    settings = Settings(database_url="postgresql://app@db.internal/app")
    assert PoolManager.from_settings(settings).command_timeout == settings.command_timeout
    assert settings.command_timeout is not None and settings.command_timeout < GUARD / 2


async def test_releasing_after_a_timed_out_query_does_not_wait_for_the_server(
    frozen_pg: PostgresServer,
) -> None:
    # The cancel of the timed-out query goes to a frozen server; the pool settles it in the
    # background. The caller's block ends with the query's TimeoutError, not after it.
    async with PoolManager(frozen_pg.url, command_timeout=0.5, connect_timeout=60.0) as pool:

        async def query_in_block() -> None:
            async with pool.acquire() as con:
                frozen_pg.freeze()
                await con.fetchval("SELECT 1")

        error = await _outcome(query_in_block())
        assert isinstance(error, TimeoutError)
        # The block ended while the cancel was still unanswered: the pool holds the connection.
        assert pool.stats().in_use == 1
        frozen_pg.thaw()  # close() then waits for the background restore to end


async def test_the_pre_ping_is_bounded_by_the_acquire_timeout(frozen_pg: PostgresServer) -> None:
    async with PoolManager(frozen_pg.url, ping_after=0.001, connect_timeout=60.0) as pool:
        await pool.fetchval("SELECT 1")
        frozen_pg.freeze()
        await asyncio.sleep(0.01)  # past ping_after: the next acquire pre-pings
        error = await _outcome(_acquire(pool))
        assert isinstance(error, BackendTimeout)
        frozen_pg.thaw()


async def _acquire(pool: PoolManager) -> None:
    async with pool.acquire(timeout=1.0):
        pass
