"""Read replicas you can trust, against a throwaway primary and its streaming hot standby.

The primary and the standby (``pg_basebackup -R``) run on free loopback ports for this module.
A hung replica is a listener that accepts and never answers, or the standby frozen with SIGSTOP;
a lagging one is the standby with its replay paused. Waits are polls with a generous bound (a
poll that runs out fails the test); nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from mediz_infra import PoolManager
from mediz_infra.errors import BackendUnavailable, ConfigError
from tests._servers import PostgresServer, counting_silent_server

pytestmark = pytest.mark.integration

BOUND = 30.0  # the longest any poll below may take before the test fails
GUARD = 15.0  # a read still running after this did not respect its deadline


@pytest.fixture(scope="module")
def cluster(throwaway_postgres: PostgresServer) -> Iterator[tuple[PostgresServer, PostgresServer]]:
    standby = throwaway_postgres.standby()
    try:
        yield throwaway_postgres, standby
    finally:
        standby.cleanup()


@pytest.fixture
async def primary(
    cluster: tuple[PostgresServer, PostgresServer],
) -> AsyncIterator[asyncpg.Connection]:
    con = await asyncpg.connect(cluster[0].url)
    await con.execute("CREATE TABLE IF NOT EXISTS mz_ryw (id serial PRIMARY KEY, v int)")
    try:
        yield con
    finally:
        await con.close()


async def _served_by_standby(pool: PoolManager, timeout: float | None = None) -> bool:
    async with pool.read(timeout=timeout) as con:
        return bool(await con.fetchval("SELECT pg_is_in_recovery()"))


async def _until(condition: object, what: str) -> None:
    """Poll the async predicate ``condition`` until it holds, failing after BOUND seconds."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    end = loop.time() + BOUND
    for _ in range(100_000):
        if await condition():
            return
        if loop.time() > end:
            break
        await asyncio.sleep(0.05)
    pytest.fail(f"not within {BOUND} s: {what}")


async def _standby_caught_up(standby: PostgresServer, primary: asyncpg.Connection) -> None:
    target = await primary.fetchval("SELECT pg_current_wal_lsn()")
    con = await asyncpg.connect(standby.url)
    try:

        async def replayed() -> bool:
            return bool(await con.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", target))

        await _until(replayed, "the standby replays the primary's WAL")
    finally:
        await con.close()


async def test_reads_go_to_the_standby_and_see_replicated_rows(
    cluster: tuple[PostgresServer, PostgresServer], primary: asyncpg.Connection
) -> None:
    main, standby = cluster
    async with PoolManager(main.url, replicas=[standby.url]) as pool:
        assert await _served_by_standby(pool)
        async with pool.acquire() as con:  # writes always go to the primary
            assert not await con.fetchval("SELECT pg_is_in_recovery()")
        detail = await pool.check()
        (replica,) = detail["replicas"]
        assert replica["status"] == "ok" and replica["lag_s"] is not None


async def test_a_silent_replica_is_skipped_after_the_first_timeout(
    cluster: tuple[PostgresServer, PostgresServer], caplog: pytest.LogCaptureFixture
) -> None:
    main, _ = cluster
    caplog.set_level(logging.INFO, "mediz_infra.postgres")
    async with counting_silent_server() as (port, accepted):
        silent = f"postgresql://app:hunter2@127.0.0.1:{port}/app"
        # The start-up check finds it silent: logged, redacted, and skipped from the first read.
        async with PoolManager(
            main.url, replicas=[silent], replica_check_timeout=0.5, acquire_timeout=2.0
        ) as pool:
            assert any(
                "replica" in r.getMessage() and "127.0.0.1" in r.getMessage()
                for r in caplog.records
                if r.levelno == logging.WARNING
            )
            before = accepted[0]
            for _ in range(200):
                assert not await _served_by_standby(pool)
            # No read tried the silent replica: only the probe did, in the background.
            detail = await pool.check()
            assert detail["replicas"][0]["status"] == "down"
            assert "hunter2" not in str(detail)
            probes = accepted[0] - before
            assert probes <= 200 // 10, f"{probes} connection attempts during 200 reads"


async def test_a_replica_that_turns_silent_after_start_costs_one_bounded_read(
    cluster: tuple[PostgresServer, PostgresServer],
) -> None:
    main, _ = cluster
    async with counting_silent_server() as (port, accepted):
        pool = PoolManager(
            main.url,
            replicas=[f"postgresql://app@127.0.0.1:{port}/app"],
            replica_check_timeout=0.5,
            replica_check_interval=3600,
        )
        async with pool:
            # Pretend the start-up check passed: the first read meets the silence itself.
            replicas = pool.replicas
            assert replicas is not None
            for outage in replicas._outages:
                outage.reset()
            first = asyncio.ensure_future(_served_by_standby(pool, timeout=1.0))
            done, _ = await asyncio.wait({first}, timeout=GUARD)
            assert first in done, "read(timeout=1.0) ignored its deadline"
            assert first.result() is False  # fell back to the primary within the deadline
            attempts = accepted[0]
            for _ in range(50):
                assert not await _served_by_standby(pool, timeout=1.0)
            assert accepted[0] - attempts <= 5  # the probe's, in the background; no read's


async def test_a_frozen_standby_holds_no_read_past_its_deadline_and_reads_fall_back(
    cluster: tuple[PostgresServer, PostgresServer],
) -> None:
    main, standby = cluster
    async with PoolManager(
        main.url,
        replicas=[standby.url],
        command_timeout=1.0,
        replica_check_interval=0.2,
        replica_check_timeout=0.5,
        connect_timeout=60.0,
    ) as pool:
        assert await _served_by_standby(pool)
        standby.freeze()
        try:
            outcomes: list[object] = []
            for _ in range(40):
                read = asyncio.ensure_future(_served_by_standby(pool, timeout=1.0))
                done, _ = await asyncio.wait({read}, timeout=GUARD)
                assert read in done, "a read waited past its deadline on the frozen standby"
                outcomes.append(read.exception() or read.result())
                if outcomes[-5:] == [False] * 5:
                    break
            assert outcomes[-5:] == [False] * 5, outcomes  # reads moved to the primary
            assert all(o is False or isinstance(o, TimeoutError) for o in outcomes), outcomes
            assert (await pool.check())["replicas"][0]["status"] == "down"
        finally:
            standby.thaw()

        async def back() -> bool:
            return await _served_by_standby(pool)

        await _until(back, "reads return to the standby once it answers")


async def test_a_paused_replay_moves_reads_to_the_primary_and_back(
    cluster: tuple[PostgresServer, PostgresServer], primary: asyncpg.Connection
) -> None:
    main, standby = cluster
    control = await asyncpg.connect(standby.url)
    writing = True

    async def write() -> None:
        while writing:
            await primary.execute("INSERT INTO mz_ryw (v) VALUES (0)")
            await asyncio.sleep(0.05)

    writer = asyncio.ensure_future(write())
    try:
        async with PoolManager(
            main.url, replicas=[standby.url], max_lag=1.0, replica_check_interval=0.2
        ) as pool:
            assert await _served_by_standby(pool)
            await control.execute("SELECT pg_wal_replay_pause()")

            async def on_primary() -> bool:
                return not await _served_by_standby(pool)

            await _until(on_primary, "reads move to the primary while replay is paused")
            (replica,) = (await pool.check())["replicas"]
            assert replica["status"] == "lagging" and replica["lag_s"] > 1.0
            await control.execute("SELECT pg_wal_replay_resume()")

            async def on_standby() -> bool:
                return await _served_by_standby(pool)

            await _until(on_standby, "reads return to the standby after the replay resumes")
    finally:
        writing = False
        await writer
        await control.execute("SELECT pg_wal_replay_resume()")
        await control.close()


async def test_lag_fallback_fail_refuses_reads_while_every_replica_lags(
    cluster: tuple[PostgresServer, PostgresServer], primary: asyncpg.Connection
) -> None:
    main, standby = cluster
    control = await asyncpg.connect(standby.url)
    try:
        async with PoolManager(
            main.url,
            replicas=[standby.url],
            max_lag=0.5,
            lag_fallback="fail",
            replica_check_interval=0.2,
        ) as pool:
            await control.execute("SELECT pg_wal_replay_pause()")

            async def refused() -> bool:
                await primary.execute("INSERT INTO mz_ryw (v) VALUES (0)")
                try:
                    await _served_by_standby(pool)
                except BackendUnavailable as exc:
                    refusal = str(exc)
                else:
                    return False
                return "max_lag" in refusal

            await _until(refused, "reads are refused while the only replica lags")
    finally:
        await control.execute("SELECT pg_wal_replay_resume()")
        await control.close()


async def test_read_your_writes_with_the_position_token(
    cluster: tuple[PostgresServer, PostgresServer], primary: asyncpg.Connection
) -> None:
    main, standby = cluster
    async with PoolManager(main.url, replicas=[standby.url], replica_check_interval=0.2) as pool:
        seen = 0
        for n in range(200):
            async with pool.transaction() as con:
                row_id = await con.fetchval("INSERT INTO mz_ryw (v) VALUES ($1) RETURNING id", n)
            token = await pool.position()
            async with pool.read(after=token) as con:
                found = await con.fetchval("SELECT v FROM mz_ryw WHERE id = $1", row_id)
            seen += found == n
        assert seen == 200
        # Once the standby has replayed a token, the read goes there (not always the primary).
        token = await pool.position()
        await _standby_caught_up(standby, primary)
        async with pool.read(after=token) as con:
            assert await con.fetchval("SELECT pg_is_in_recovery()")


async def test_a_bad_position_token_is_a_config_error(
    cluster: tuple[PostgresServer, PostgresServer],
) -> None:
    main, standby = cluster
    async with PoolManager(main.url, replicas=[standby.url]) as pool:
        for bad in ("", "nonsense", "1/ZZ", "123456789/1"):
            with pytest.raises(ConfigError) as info:
                pool.read(after=bad)
            assert info.value.field == "after"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:hunter2@127.0.0.1:1/app",
        "postgresql://app@127.0.0.1:1/app?password=hunter2",
    ],
    ids=["userinfo", "query"],
)
async def test_a_down_replica_with_a_password_never_prints_it(
    cluster: tuple[PostgresServer, PostgresServer], url: str, caplog: pytest.LogCaptureFixture
) -> None:
    main, _ = cluster
    caplog.set_level(logging.DEBUG)
    async with PoolManager(main.url, replicas=[url], replica_check_timeout=0.5) as pool:
        assert not await _served_by_standby(pool)
        detail = await pool.check()
        assert detail["replicas"][0]["status"] == "down"
        shown = f"{detail} {pool!r} {pool.replicas and list(pool.replicas)}"
        assert "hunter2" not in shown
    assert "hunter2" not in caplog.text
    assert any("127.0.0.1:1" in r.getMessage() for r in caplog.records)


async def test_the_lag_gauge_reports_each_replica(
    cluster: tuple[PostgresServer, PostgresServer],
) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.metrics")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    import mediz_infra.backends.postgres.gauges as gauges
    from mediz_infra import telemetry

    main, standby = cluster
    reader = InMemoryMetricReader()
    provider = sdk.MeterProvider(metric_readers=[reader])
    original = telemetry.get_meter
    telemetry.get_meter = lambda component: provider.get_meter(f"mediz_infra.{component}")  # type: ignore[assignment]
    gauges._lag_registered = False
    try:
        async with PoolManager(main.url, replicas=[standby.url], name="lagged") as pool:
            assert await _served_by_standby(pool)
            data = reader.get_metrics_data()
    finally:
        telemetry.get_meter = original  # type: ignore[assignment]
        gauges._lag_registered = False
        provider.shutdown()
    lags = {
        point.attributes["pool"]: point.value
        for rm in data.resource_metrics  # type: ignore[union-attr]
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == telemetry.DB_REPLICA_LAG
        for point in metric.data.data_points
    }
    assert "lagged-replica-0" in lags and lags["lagged-replica-0"] >= 0.0
