"""HealthRouter over fake checks: statuses, public vs admin views, cache, threshold, draining."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from mediz_infra.errors import ConfigError
from mediz_infra.health import HEALTH_JSON, Check, CheckRunner, HealthRouter, Observation

TOKEN = "h" * 24
AUTH = {"authorization": f"Bearer {TOKEN}"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Dependency:
    """A check whose outcome the test sets; counts its calls."""

    def __init__(self, result: Any = None) -> None:
        self.result = result
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self) -> Any:
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def client(router: HealthRouter) -> httpx.AsyncClient:
    app = Starlette(routes=router.routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def make(*checks: Check, **options: Any) -> tuple[HealthRouter, Clock]:
    clock = Clock()
    runner = CheckRunner(
        cache_ttl=options.pop("cache_ttl", 2.0),
        failure_threshold=options.pop("failure_threshold", 1),
        clock=clock,
    )
    return HealthRouter(checks, token=TOKEN, runner=runner, **options), clock


async def test_liveness_runs_no_check() -> None:
    db = Dependency(RuntimeError("down"))
    router, _ = make(Check("db", db))
    async with client(router) as http:
        response = await http.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "pass"})
    assert response.headers["content-type"] == HEALTH_JSON
    assert db.calls == 0


async def test_a_failing_critical_check_makes_ready_503_and_public_sees_only_the_status() -> None:
    router, _ = make(
        Check("db", Dependency(ConnectionError("postgresql://app:hunter2@db/x refused"))),
        Check("redis", Dependency()),
    )
    async with client(router) as http:
        ready = await http.get("/health/ready")
        full = await http.get("/health")
        admin = await http.get("/health", headers=AUTH)
    assert (ready.status_code, ready.json()) == (503, {"status": "fail"})
    assert (full.status_code, full.json()) == (503, {"status": "fail"})
    assert admin.status_code == 503
    body = admin.json()
    assert body["checks"]["db"][0]["status"] == "fail"
    assert body["checks"]["redis"][0]["status"] == "pass"
    assert "hunter2" not in admin.text and "ConnectionError" in admin.text


async def test_a_failing_non_critical_check_degrades_without_failing_readiness() -> None:
    router, _ = make(
        Check("db", Dependency()), Check("s3", Dependency(OSError("x")), critical=False)
    )
    async with client(router) as http:
        ready = await http.get("/health/ready")
        full = await http.get("/health")
        alone = await http.get("/health/checks/s3")
    assert (ready.status_code, ready.json()) == (200, {"status": "pass"})
    assert (full.status_code, full.json()) == (200, {"status": "warn"})
    assert (alone.status_code, alone.json()) == (503, {"status": "fail"})


async def test_observed_values_warn_and_show_to_admins_only() -> None:
    pool = Dependency(Observation("warn", 92.5, "%", "pool 92.5% in use", {"in_use": 37}))
    router, _ = make(Check("postgres", pool, component_type="datastore"))
    async with client(router) as http:
        public = await http.get("/health")
        admin = await http.get("/health", headers=AUTH)
        verbose = await http.get("/health?verbose", headers=AUTH)
    assert (public.status_code, public.json()) == (200, {"status": "warn"})
    (entry,) = admin.json()["checks"]["postgres"]
    assert entry["observedValue"] == 92.5 and entry["observedUnit"] == "%"
    assert entry["componentType"] == "datastore" and "details" not in entry
    (detail,) = verbose.json()["checks"]["postgres"]
    assert detail["details"] == {"in_use": 37} and detail["critical"] is True


async def test_wrong_credentials_get_403_and_nothing_else() -> None:
    router, _ = make(Check("db", Dependency()))
    async with client(router) as http:
        wrong = await http.get("/health", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert "db" not in json.loads(wrong.text).get("detail", "") and TOKEN not in wrong.text


async def test_exclude_and_unknown_per_check_paths() -> None:
    router, _ = make(Check("db", Dependency(RuntimeError("x"))), Check("redis", Dependency()))
    async with client(router) as http:
        excluded = await http.get("/health/ready?exclude=db", headers=AUTH)
        unknown = await http.get("/health/checks/nope")
    assert excluded.status_code == 200 and set(excluded.json()["checks"]) == {"redis"}
    assert unknown.status_code == 404 and "nope" not in unknown.text


async def test_a_probe_storm_inside_the_cache_window_runs_the_check_once() -> None:
    db = Dependency()
    db.gate = asyncio.Event()
    router, clock = make(Check("db", db))
    async with client(router) as http:
        storm = [asyncio.ensure_future(http.get("/health/ready")) for _ in range(50)]
        await db.entered.wait()
        db.gate.set()
        assert {r.status_code for r in await asyncio.gather(*storm)} == {200}
        await http.get("/health")
        assert db.calls == 1
        clock.now += 2.5  # past the cache window
        await http.get("/health")
    assert db.calls == 2


async def test_a_check_that_hangs_fails_at_its_timeout() -> None:
    db = Dependency()
    db.gate = asyncio.Event()  # never set
    router, _ = make(Check("db", db, timeout=0.05))
    async with client(router) as http:
        response = await http.get("/health/ready", headers=AUTH)
    assert response.status_code == 503
    assert "no answer within 0.05 s" in response.json()["checks"]["db"][0]["output"]


async def test_one_failure_under_the_threshold_does_not_flip_readiness() -> None:
    db = Dependency(RuntimeError("flap"))
    router, clock = make(Check("db", db), cache_ttl=0.0, failure_threshold=3)
    codes = []
    async with client(router) as http:
        for _ in range(3):
            codes.append((await http.get("/health/ready")).status_code)
            clock.now += 1
        db.result = None
        codes.append((await http.get("/health/ready")).status_code)
    assert codes == [200, 200, 503, 200]


async def test_draining_turns_readiness_503_and_liveness_stays() -> None:
    router, _ = make(Check("db", Dependency()), drain_delay=0.0)
    async with client(router) as http:
        assert (await http.get("/health/ready")).status_code == 200
        await router.drain()
        assert (await http.get("/health/ready")).status_code == 503
        assert (await http.get("/health/live")).status_code == 200


async def test_sigterm_drains_then_reaches_the_servers_handler() -> None:
    import os
    import signal
    from contextlib import asynccontextmanager

    events: list[str] = []
    router, _ = make(Check("db", Dependency()), drain_delay=0.0)
    server_told = asyncio.Event()

    def server_handler(signum: int, frame: object) -> None:  # what uvicorn installs
        events.append(f"server handler (draining={router.draining})")
        server_told.set()

    @asynccontextmanager
    async def inner(app: object) -> Any:
        events.append("open")
        yield {"x": 1}
        events.append("close")

    previous = signal.signal(signal.SIGTERM, server_handler)
    try:
        async with router.lifespan(inner)(None) as state, client(router) as http:
            assert state == {"x": 1}
            assert (await http.get("/health/ready")).status_code == 200
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(server_told.wait(), 10)
            assert (await http.get("/health/ready")).status_code == 503
        assert signal.getsignal(signal.SIGTERM) is server_handler  # given back
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert events == ["open", "server handler (draining=True)", "close"]


async def test_a_shutdown_without_the_signal_closes_at_once() -> None:
    router, _ = make(drain_delay=3600.0)
    async with router.lifespan()(None):
        pass
    assert not router.draining


@pytest.mark.parametrize(
    ("options", "field"),
    [({"prefix": "health"}, "prefix"), ({"drain_delay": -1}, "drain_delay")],
)
def test_bad_options_are_config_errors(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        HealthRouter(**options)


def test_duplicate_or_unsafe_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unique"):
        HealthRouter([Check("a", Dependency()), Check("a", Dependency())])
    with pytest.raises(ConfigError, match="name"):
        Check("a/b", Dependency())
