"""PoolManager through PgBouncer and across Postgres restarts, outages and replicas.

Every server here is a throwaway one on a free port; the machine's shared Postgres is only ever
read from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from mediz_infra import BackendUnavailable
from mediz_infra.backends.postgres import PgBouncerSessionWarning, PoolManager
from tests._servers import PgBouncerServer, PostgresServer

pytestmark = pytest.mark.integration


async def test_pgbouncer_mode_works_in_transaction_pooling(pgbouncer: PgBouncerServer) -> None:
    async with PoolManager(pgbouncer.url("test"), max_size=10, pgbouncer=True) as pool:

        async def work(i: int) -> int:
            async with pool.transaction() as con:
                return int(await con.fetchval("SELECT $1::int * 2", i))

        results = await asyncio.gather(*(work(i) for i in range(200)))
        assert results == [i * 2 for i in range(200)]
        assert (await pool.check())["pgbouncer"] is True


@pytest.fixture
def single_server_bouncer(request: pytest.FixtureRequest) -> Iterator[PgBouncerServer]:
    """PgBouncer with two server connections shared by every client."""
    port = int(str(request.config.getoption("--database-url")).rsplit(":", 1)[1].split("/")[0])
    server = PgBouncerServer(target_port=port, pool_size=2).start()
    yield server
    server.stop()


async def test_without_pgbouncer_mode_prepared_statements_collide(
    single_server_bouncer: PgBouncerServer,
) -> None:
    """The documented failure that pgbouncer mode avoids: named statements on a shared server."""
    url = single_server_bouncer.url("test")
    async with PoolManager(url, min_size=2, max_size=2, pgbouncer=False) as pool:
        async with pool.acquire() as a, pool.acquire() as b:
            await a.fetchval("SELECT $1::int", 1)  # prepared on server connection S1
            await b.execute("BEGIN")  # b's transaction now holds S1 (PgBouncer reuses LIFO)
            with pytest.raises(asyncpg.PostgresError, match="prepared statement"):
                await a.fetchval("SELECT $1::int", 1)  # runs on S2, which never saw it
            await b.execute("ROLLBACK")
    async with PoolManager(url, min_size=2, max_size=2, pgbouncer=True) as pool:
        async with pool.acquire() as a, pool.acquire() as b:
            assert await a.fetchval("SELECT $1::int", 1) == 1
            await b.execute("BEGIN")
            assert await a.fetchval("SELECT $1::int", 1) == 1
            await b.execute("ROLLBACK")


async def test_session_features_warn_in_pgbouncer_mode(pgbouncer: PgBouncerServer) -> None:
    async with PoolManager(pgbouncer.url("test"), max_size=1, pgbouncer=True) as pool:
        with pytest.warns(PgBouncerSessionWarning, match="SET LOCAL"):
            await pool.execute("SET search_path TO public")
        with pytest.warns(PgBouncerSessionWarning):
            await pool.fetchval("SELECT pg_advisory_lock(7)")
        await pool.fetchval("SELECT pg_advisory_unlock(7)")
        with pytest.warns(PgBouncerSessionWarning, match="SET ROLE"):
            await pool.execute("SET ROLE NONE")
        with pytest.warns(PgBouncerSessionWarning, match="set_config"):
            await pool.fetchval("SELECT \"set_config\"('application_name', 'x', false)")
        async with pool.transaction() as con:  # transaction-scoped: fine, no warning
            await con.execute("SET LOCAL statement_timeout = '5s'")


@pytest.fixture
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.cleanup()


async def _poll_until_serving(pool: PoolManager, limit: float) -> float:
    started = time.monotonic()
    while True:
        try:
            assert await pool.fetchval("SELECT 1") == 1
            return time.monotonic() - started
        except (BackendUnavailable, asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            if time.monotonic() - started > limit:
                raise
            await asyncio.sleep(0.05)


async def test_pool_serves_again_after_a_postgres_restart(pg: PostgresServer) -> None:
    async with PoolManager(pg.url, min_size=3, max_size=5, acquire_timeout=2) as pool:
        assert await pool.fetchval("SELECT 1") == 1
        await asyncio.to_thread(pg.restart)
        assert await _poll_until_serving(pool, 5.0) < 5.0
        # every pooled connection is usable again, none is a dead leftover
        results = await asyncio.gather(*(pool.fetchval("SELECT 1") for _ in range(10)))
        assert results == [1] * 10


async def test_stopped_postgres_fails_fast_with_a_clear_error(pg: PostgresServer) -> None:
    url = pg.url.replace("postgres@", "postgres:hunter2@")
    async with PoolManager(url, min_size=1, max_size=2, acquire_timeout=1) as pool:
        await asyncio.to_thread(pg.stop)
        errors = []
        started = time.monotonic()
        for _ in range(5):
            with pytest.raises(BackendUnavailable) as info:
                await pool.fetchval("SELECT 1")
            errors.append(str(info.value))
        assert time.monotonic() - started < 1.5  # never hangs; back-off answers at once
        assert all("hunter2" not in e for e in errors)
        assert "check that the server is up" in errors[0] or "unreachable" in errors[0]
        await asyncio.to_thread(pg.start)
        assert await _poll_until_serving(pool, 5.0) < 5.0


async def test_start_against_a_dead_server_is_a_clear_error() -> None:
    pool = PoolManager("postgresql://u:hunter2@127.0.0.1:1/x", connect_timeout=1)
    with pytest.raises(BackendUnavailable) as info:
        await pool.start()
    assert "hunter2" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)


async def test_reads_go_to_a_replica_and_fall_back_to_the_primary(
    database_url: str, pg: PostgresServer
) -> None:
    async with PoolManager(database_url, replicas=[pg.url], acquire_timeout=1) as pool:
        async with pool.read() as con:
            assert await con.fetchval("SELECT inet_server_port()") == pg.port
        async with pool.acquire() as con:  # writes always go to the primary
            assert await con.fetchval("SELECT inet_server_port()") != pg.port
        await asyncio.to_thread(pg.stop)
        for _ in range(3):
            async with pool.read() as con:
                assert await con.fetchval("SELECT inet_server_port()") != pg.port
        detail = await pool.check()
        assert detail["replicas"][0]["status"] == "down"


async def test_pgbouncer_mode_keeps_descriptions_and_stays_correct(
    single_server_bouncer: PgBouncerServer, database_url: str
) -> None:
    """One round trip per query: described once, re-parsed with each Bind on any server conn."""
    # the same database as the direct connection, whichever --database-url names
    url = single_server_bouncer.url(urlsplit(database_url).path.lstrip("/") or "postgres")
    direct = await asyncpg.connect(database_url)
    await direct.execute("DROP TABLE IF EXISTS mz_describe; CREATE TABLE mz_describe (v int)")
    await direct.execute("INSERT INTO mz_describe VALUES (7)")
    try:
        async with PoolManager(url, min_size=2, max_size=2, pgbouncer=True) as pool:
            async with pool.acquire() as a, pool.acquire() as b:
                for _ in range(3):
                    assert await a.fetchval("SELECT v FROM mz_describe WHERE v = $1", 7) == 7
                    await b.execute("BEGIN")  # pins a server connection: a moves to the other
                    assert await a.fetchval("SELECT v FROM mz_describe WHERE v = $1", 7) == 7
                    await b.execute("ROLLBACK")
                kept = a._mz_described
                assert kept is not None and len(kept) == 1
            # a migration changes the column's type; expiring the pool drops the descriptions
            await direct.execute("ALTER TABLE mz_describe ALTER COLUMN v TYPE text")
            await pool.expire_connections()
            assert await pool.fetchval("SELECT v FROM mz_describe WHERE v = $1", "7") == "7"
            async with pool.acquire() as con:
                await con.fetchval("SELECT 1")
                await con.reload_schema_state()
                assert not con._mz_described
        async with PoolManager(url, max_size=1, pgbouncer=True, describe_cache=False) as pool:
            async with pool.acquire() as con:
                await con.fetchval("SELECT 1")
                assert con._mz_described is None
    finally:
        await direct.execute("DROP TABLE IF EXISTS mz_describe")
        await direct.close()
