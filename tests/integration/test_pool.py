"""PoolManager against the machine's real Postgres: acquiring, limits, resets, recycling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from mediz_infra import PoolExhausted
from mediz_infra.backends.postgres import PoolManager

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[PoolManager]:
    async with PoolManager(database_url, min_size=1, max_size=2, acquire_timeout=0.3) as manager:
        yield manager


async def test_queries_and_stats(pool: PoolManager) -> None:
    assert await pool.fetchval("SELECT $1::int + 1", 41) == 42
    rows = await pool.fetch("SELECT generate_series(1, 3) AS n")
    assert [r["n"] for r in rows] == [1, 2, 3]
    async with pool.acquire():
        stats = pool.stats()
        assert (stats.in_use, stats.max_size) == (1, 2)
    assert pool.stats().in_use == 0


async def test_application_name_and_statement_timeout(database_url: str) -> None:
    async with PoolManager(
        database_url, application_name="mediz-test", statement_timeout=1.5
    ) as pool:
        assert await pool.fetchval("SHOW application_name") == "mediz-test"
        assert await pool.fetchval("SHOW statement_timeout") == "1500ms"


async def test_third_holder_gets_pool_exhausted_after_the_timeout(pool: PoolManager) -> None:
    release = asyncio.Event()

    async def hold() -> None:
        async with pool.acquire():
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    deadline = time.monotonic() + 5
    while pool.stats().in_use < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(PoolExhausted) as info:
        async with pool.acquire():
            pass
    waited = time.monotonic() - started
    release.set()
    await asyncio.gather(*holders)
    assert waited >= 0.29
    assert (info.value.size, info.value.in_use, info.value.waiting) == (2, 2, 0)
    assert "2/2 in use" in str(info.value)
    assert "DATABASE_POOL_MAX" in str(info.value)
    assert isinstance(info.value, TimeoutError)
    # nothing leaked: the pool serves again
    assert await pool.fetchval("SELECT 1") == 1


async def test_bounded_wait_queue_fails_at_once(database_url: str) -> None:
    async with PoolManager(database_url, max_size=1, max_waiting=1, acquire_timeout=5) as pool:
        release = asyncio.Event()

        async def hold() -> None:
            async with pool.acquire():
                await release.wait()

        holder = asyncio.create_task(hold())
        waiter = asyncio.create_task(hold())
        deadline = time.monotonic() + 5
        while pool.stats().waiting < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(PoolExhausted, match="max_waiting=1"):
            async with pool.acquire():
                pass
        assert time.monotonic() - started < 1.0
        release.set()
        await asyncio.gather(holder, waiter)


async def test_max_waiting_zero_serves_free_connections_and_never_queues(
    database_url: str,
) -> None:
    async with PoolManager(database_url, max_size=1, max_waiting=0, acquire_timeout=5) as pool:
        assert await pool.fetchval("SELECT 1") == 1  # a free connection is no wait
        async with pool.acquire():
            started = time.monotonic()
            with pytest.raises(PoolExhausted, match="max_waiting=0"):
                async with pool.acquire():
                    pass
            assert time.monotonic() - started < 1.0


async def test_cancelled_caller_returns_its_connection(pool: PoolManager) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with pool.acquire() as con:
            started.set()
            await con.execute("SELECT pg_sleep(10)")

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 5
    while pool.stats().in_use:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert await pool.fetchval("SELECT 2") == 2


async def test_transaction_commits_and_rolls_back(pool: PoolManager) -> None:
    await pool.execute("CREATE TABLE IF NOT EXISTS mz_tx_test (v int)")
    await pool.execute("TRUNCATE mz_tx_test")
    async with pool.transaction() as con:
        await con.execute("INSERT INTO mz_tx_test VALUES (1)")
    with pytest.raises(ZeroDivisionError):
        async with pool.transaction() as con:
            await con.execute("INSERT INTO mz_tx_test VALUES (2)")
            raise ZeroDivisionError
    assert await pool.fetchval("SELECT array_agg(v) FROM mz_tx_test") == [1]
    await pool.execute("DROP TABLE mz_tx_test")


async def test_connections_recycle_after_max_lifetime(database_url: str) -> None:
    async with PoolManager(database_url, max_size=1, max_lifetime=0.2) as pool:
        first = await pool.fetchval("SELECT pg_backend_pid()")
        deadline = time.monotonic() + 5
        while await pool.fetchval("SELECT pg_backend_pid()") == first:
            assert time.monotonic() < deadline, "the connection was never recycled"
            await asyncio.sleep(0.05)


async def test_idle_connection_is_pinged_and_a_dead_one_replaced(database_url: str) -> None:
    async with PoolManager(database_url, max_size=1, ping_after=0.05) as pool:
        pid = await pool.fetchval("SELECT pg_backend_pid()")
        killer = await asyncpg.connect(database_url)
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        await asyncio.sleep(0.1)  # let the connection become "idle longer than ping_after"
        # The user's query runs once, on a live connection: no error surfaces.
        assert await pool.fetchval("SELECT pg_backend_pid()") != pid


async def test_busy_pool_pays_no_ping(database_url: str) -> None:
    seen: list[str] = []
    async with PoolManager(database_url, max_size=1, ping_after=60) as pool:
        async with pool.acquire() as con:
            con.add_query_logger(lambda record: seen.append(record.query))
        for _ in range(3):
            await pool.fetchval("SELECT 7")
        await asyncio.sleep(0)  # query loggers run on the next loop iteration
        assert seen == ["SELECT 7"] * 3


async def test_gauges_and_wait_histogram_are_recorded(database_url: str) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.metrics")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from mediz_infra import telemetry

    reader = InMemoryMetricReader()
    provider = sdk.MeterProvider(metric_readers=[reader])
    original = telemetry.get_meter
    telemetry.get_meter = lambda component: provider.get_meter(f"mediz_infra.{component}")  # type: ignore[assignment]
    try:
        import mediz_infra.backends.postgres.gauges as pg

        pg._gauges_registered = False
        async with PoolManager(database_url, max_size=3, name="gauged") as pool:
            async with pool.acquire():
                await pool.fetchval("SELECT 1")
            data = reader.get_metrics_data()
    finally:
        telemetry.get_meter = original  # type: ignore[assignment]
        pg._gauges_registered = False
    points: dict[str, list[Any]] = {}
    for rm in data.resource_metrics:  # type: ignore[union-attr]
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                points[metric.name] = list(metric.data.data_points)
    assert telemetry.DB_POOL_ACQUIRE_WAIT in points
    assert sum(p.count for p in points[telemetry.DB_POOL_ACQUIRE_WAIT]) == 2
    sizes = {
        p.attributes["state"]: p.value
        for p in points[telemetry.DB_POOL_CONNECTIONS]
        if p.attributes["pool"] == "gauged"
    }
    assert sizes["size"] >= 2 and sizes["in_use"] == 0
    provider.shutdown()


async def test_close_waits_for_checked_out_connections(database_url: str) -> None:
    pool = await PoolManager(database_url, max_size=2, acquire_timeout=5).start()
    inside = asyncio.Event()

    async def request() -> int:
        async with pool.acquire() as con:
            inside.set()
            return int(await con.fetchval("SELECT 5 FROM pg_sleep(0.2)"))

    task = asyncio.create_task(request())
    await inside.wait()
    started = time.monotonic()
    await pool.close()
    assert await task == 5  # the in-flight request finished
    assert time.monotonic() - started < 2.0  # close did not sit out its whole timeout
    assert pool.stats().size == 0


async def test_waiters_are_served_in_order_and_reuse_is_lifo(database_url: str) -> None:
    async with PoolManager(database_url, min_size=2, max_size=2, acquire_timeout=5) as pool:
        first, second = await pool.checkout(), await pool.checkout()
        await pool.release(first)
        await pool.release(second)
        assert await pool.checkout() is second  # the most recently released comes first
        held = await pool.checkout()
        served: list[int] = []

        async def wait(i: int) -> None:
            async with pool.acquire():
                served.append(i)

        waiters = [asyncio.create_task(wait(i)) for i in range(4)]
        for _ in range(100):  # let every waiter join the queue, in creation order
            await asyncio.sleep(0)
        assert pool.stats().waiting == 4
        await pool.release(held)
        await pool.release(second)
        await asyncio.gather(*waiters)
        assert served == [0, 1, 2, 3]


async def test_idle_connections_above_min_size_are_closed_after_max_idle(
    database_url: str,
) -> None:
    async with PoolManager(database_url, min_size=1, max_size=3, max_idle=0.05) as pool:
        held = [await pool.checkout() for _ in range(3)]
        for con in held:
            await pool.release(con)
        assert pool.stats().size == 3
        deadline = time.monotonic() + 10
        while pool.stats().size > 1:
            assert time.monotonic() < deadline, pool.stats()
            await asyncio.sleep(0.02)
        assert pool.stats().size == 1  # min_size stays
        assert await pool.fetchval("SELECT 1") == 1


async def test_expire_connections_replaces_idle_now_and_held_on_release(
    database_url: str,
) -> None:
    async with PoolManager(database_url, min_size=2, max_size=2) as pool:
        held = await pool.checkout()
        held_pid = await held.fetchval("SELECT pg_backend_pid()")
        idle_pid = await pool.fetchval("SELECT pg_backend_pid()")
        await pool.expire_connections()
        assert pool.stats().idle == 0 and pool.stats().in_use == 1
        assert await held.fetchval("SELECT 1") == 1  # never closed while held
        await pool.release(held)
        assert held.is_closed()
        pids = {await pool.fetchval("SELECT pg_backend_pid()") for _ in range(3)}
        assert not pids & {held_pid, idle_pid}
