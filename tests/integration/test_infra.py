"""Infra: lazy construction, start/close lifecycle, Starlette lifespan and health detail."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mediz_infra import BackendUnavailable, Infra, Settings

pytestmark = pytest.mark.integration


def test_import_connects_to_nothing_and_reads_no_environment() -> None:
    code = (
        "import socket, os\n"
        "def refuse(*a, **k): raise AssertionError('connected at import')\n"
        "socket.socket.connect = refuse\n"
        "os.environ['DATABASE_URL'] = 'not a url'\n"  # would fail if read at import
        "import mediz_infra, mediz_infra.infra, mediz_infra.backends.postgres\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


async def test_lifecycle_with_real_postgres_and_redis(database_url: str, redis_url: str) -> None:
    infra = Infra.from_settings(Settings(database_url=database_url, redis_url=redis_url))
    assert infra.db is not None
    assert infra.db.stats().size == 0  # built, not connected
    async with infra:
        await infra.start()  # twice is harmless
        assert await infra.db.fetchval("SELECT 1") == 1
        assert await infra.redis.ping()
        detail = await infra.check()
        assert detail["db"]["status"] == "ok"
        assert detail["redis"]["status"] == "ok"
    assert infra.db.stats().size == 0
    await infra.close()  # closing twice is harmless too


@pytest.mark.parametrize("redis_url", [None, "memory://"])
async def test_no_redis_client_when_redis_url_is_unset_or_memory(
    database_url: str, redis_url: str | None
) -> None:
    settings = Settings(database_url=database_url, redis_url=redis_url)
    async with Infra.from_settings(settings) as infra:
        assert infra.redis is None
        detail = await infra.check()
        assert detail["redis"]["status"] == "off"
        assert "REDIS_URL is unset" in detail["redis"]["detail"]


async def test_start_fails_cleanly_when_postgres_is_down() -> None:
    settings = Settings(database_url="postgresql://u:hunter2@127.0.0.1:1/db")
    infra = Infra.from_settings(settings)
    with pytest.raises(BackendUnavailable) as info:
        await infra.start()
    assert "hunter2" not in str(info.value)


async def test_starlette_lifespan(database_url: str) -> None:
    infra = Infra.from_settings(Settings(database_url=database_url, redis_url="memory://"))

    async def handler(request: Request) -> JSONResponse:
        assert request.app.state.infra is infra
        return JSONResponse({"one": await infra.db.fetchval("SELECT 1")})  # type: ignore[union-attr]

    app = Starlette(routes=[Route("/", handler)], lifespan=infra.lifespan)
    app.state.infra = infra
    async with app.router.lifespan_context(app) as state:
        assert state == {"infra": infra}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/")).json() == {"one": 1}
    assert infra.db is not None and infra.db.stats().size == 0


async def test_redis_down_at_start_serves_degraded_unless_required(database_url: str) -> None:
    settings = Settings(database_url=database_url, redis_url="redis://127.0.0.1:1/0")
    async with Infra.from_settings(settings) as infra:
        detail = await infra.check()
        assert detail["db"]["status"] == "ok"
        assert detail["redis"]["status"] == "down"
        assert "refused" in detail["redis"]["error"] or "111" in detail["redis"]["error"]
    strict = Infra.from_settings(settings, require_redis=True)
    with pytest.raises(BackendUnavailable):
        await strict.start()


async def test_check_never_raises(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with Infra.from_settings(Settings(database_url=database_url)) as infra:
        assert infra.db is not None

        async def hung(timeout: float = 2.0) -> dict[str, object]:
            raise TimeoutError  # what a query timeout inside the pool's check raised before

        monkeypatch.setattr(infra.db, "check", hung)
        detail = await infra.check()
        assert detail["db"]["status"] == "down"
        assert detail["redis"]["status"] == "off"
