"""Health checks against real services: a Postgres that stops, Redis, draining under uvicorn."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from mediz_infra.backends import PoolManager, create_redis
from mediz_infra.health import Check, HealthRouter, pool_check, redis_check
from tests._servers import PostgresServer, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "k" * 24
AUTH = {"authorization": f"Bearer {TOKEN}"}
CHECK_TIMEOUT = 1.0


@pytest.fixture
async def pool(throwaway_postgres: PostgresServer) -> AsyncIterator[PoolManager]:
    manager = PoolManager(
        throwaway_postgres.url, min_size=1, max_size=4, acquire_timeout=CHECK_TIMEOUT,
        connect_timeout=CHECK_TIMEOUT,
    )  # fmt: skip
    await manager.start()
    try:
        yield manager
    finally:
        await manager.close()
        datadir = throwaway_postgres.datadir
        if datadir is not None and not (datadir / "postmaster.pid").exists():
            throwaway_postgres.start()  # for the next test of the module


def client(router: HealthRouter) -> httpx.AsyncClient:
    app = Starlette(routes=router.routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_stopped_postgres_makes_ready_503_within_the_check_timeout(
    pool: PoolManager, throwaway_postgres: PostgresServer
) -> None:
    check = Check("postgres", pool_check(pool, timeout=CHECK_TIMEOUT), timeout=CHECK_TIMEOUT)
    router = HealthRouter([check], token=TOKEN, cache_ttl=0.0)
    async with client(router) as http:
        ready = await http.get("/health/ready", headers=AUTH)
        assert ready.status_code == 200
        (entry,) = ready.json()["checks"]["postgres"]
        assert entry["observedUnit"] == "%" and 0 <= entry["observedValue"] <= 100
        throwaway_postgres.stop("immediate")
        # the bound is the check's own timeout (plus slack for the loop), not the driver's
        async with asyncio.timeout(CHECK_TIMEOUT + 2):
            down = await http.get("/health/ready", headers=AUTH)
    assert down.status_code == 503
    assert down.json()["checks"]["postgres"][0]["status"] == "fail"


async def test_probes_inside_the_cache_window_reach_the_database_once(
    database_url: str,
) -> None:
    manager = PoolManager(database_url, min_size=1, max_size=2)
    await manager.start()
    try:
        statements_before = await _select_ones(manager)
        router = HealthRouter([Check("postgres", pool_check(manager))], cache_ttl=60.0)
        async with client(router) as http:
            answers = await asyncio.gather(*(http.get("/health/ready") for _ in range(40)))
            answers += [await http.get("/health") for _ in range(10)]
        assert {a.status_code for a in answers} == {200}
        assert router.runner.runs == {"postgres": 1}
        # and the server agrees: one more SELECT 1 than before (pg_stat_statements-free:
        # count the transactions committed by this database instead)
        assert await _select_ones(manager) - statements_before <= 2
    finally:
        await manager.close()


async def _select_ones(manager: PoolManager) -> int:
    async with manager.acquire() as con:
        await con.execute("SELECT pg_stat_clear_snapshot()")
        value = await con.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    return int(value)


async def test_redis_check_reports_its_round_trip(redis_url: str) -> None:
    redis = create_redis(redis_url)
    try:
        router = HealthRouter([Check("redis", redis_check(redis))], token=TOKEN)
        async with client(router) as http:
            response = await http.get("/health/checks/redis", headers=AUTH)
    finally:
        await redis.aclose()
    (entry,) = response.json()["checks"]["redis"]
    assert response.status_code == 200
    assert entry["observedUnit"] == "ms" and entry["status"] in ("pass", "warn")


@pytest.mark.slow
async def test_sigterm_turns_readiness_503_before_the_pools_close_and_drops_no_request() -> None:
    port = free_port()
    env = {**os.environ, "HEALTH_DRAIN_DELAY": "1.5"}
    server = subprocess.Popen(  # noqa: ASYNC220 (started once, runs beside the test)
        [sys.executable, "-m", "uvicorn", "tests.integration._health_app:create_app",
         "--factory", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    failures: list[str] = []
    done = 0
    stop = asyncio.Event()
    warmed = asyncio.Event()

    async def load() -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=base) as http:
            while not stop.is_set():
                try:
                    response = await http.get("/work")
                except httpx.TransportError as exc:
                    failures.append(repr(exc))
                    return
                if response.status_code != 200:
                    failures.append(str(response.status_code))
                done += 1
                if done >= 20:
                    warmed.set()

    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await probe.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "uvicorn did not start"
                await asyncio.sleep(0.05)
            loaders = [asyncio.ensure_future(load()) for _ in range(4)]
            await asyncio.wait_for(warmed.wait(), 30)
            server.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            # polled with a deadline: the server is another process
            while (await probe.get("/health/ready")).status_code == 200:
                assert time.monotonic() < deadline, "readiness never turned 503"
                await asyncio.sleep(0.01)
            # readiness said 503 while the server still serves: a load balancer stops here
            assert (await probe.get("/health/live")).status_code == 200
            stop.set()
            await asyncio.gather(*loaders)
    finally:
        out, err = server.communicate(timeout=30)
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully
    assert server.returncode in (0, -signal.SIGTERM), err
    assert failures == []
    assert out.splitlines() == ["pools closed"]


async def test_infra_health_checks_cover_its_backends(database_url: str, redis_url: str) -> None:
    from mediz_infra.config import Settings
    from mediz_infra.infra import Infra

    async with Infra.from_settings(
        Settings(database_url=database_url, redis_url=redis_url)
    ) as infra:
        checks = infra.health_checks()
        router = HealthRouter(checks, token=TOKEN)
        async with client(router) as http:
            response = await http.get("/health", headers=AUTH)
    assert [(c.name, c.critical) for c in checks] == [("postgres", True), ("redis", False)]
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["postgres"][0]["observedUnit"] == "%"
    assert body["checks"]["redis"][0]["observedUnit"] == "ms"
    assert "postgres@" not in response.text  # no URL, so no password either
