"""The reference app end to end: its own database on the real Postgres, seeded, queried."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from examples.mediz_app import create_app
from mediz_infra import Settings
from tests._servers import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture
def app_database(database_url: str) -> Iterator[str]:
    name = f"mediz_app_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        con = await asyncpg.connect(database_url)
        try:
            await con.execute(sql)
        finally:
            await con.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


ADMIN_TOKEN = "admin-token-" + "k3" * 10


@asynccontextmanager
async def serve(settings: Settings, *, admin: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``settings`` (admin token set), and a client that sends the token to admin
    routes only (a credential on a public route would make its responses private)."""
    settings = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    app = create_app(settings, embedded_postgres=False)

    async def authorise(request: httpx.Request) -> None:
        if admin and request.url.path.startswith("/api/admin"):
            request.headers.setdefault("Authorization", f"Bearer {ADMIN_TOKEN}")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://app", event_hooks={"request": [authorise]}
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def test_popular_symptoms_through_the_pool(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-test")
    async with serve(settings) as client:
        response = await client.get("/api/symptoms/popular", params={"limit": 5})
        assert response.status_code == 200
        symptoms = response.json()["symptoms"]
        assert len(symptoms) == 5
        counts = [s["reports"] for s in symptoms]
        assert counts == sorted(counts, reverse=True)
        assert symptoms[0]["name"] == "headache"  # the seed skews reports towards low ids

        bad = await client.get("/api/symptoms/popular", params={"limit": "many"})
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["invalid_params"][0]["name"] == "limit"

        status = (await client.get("/api/admin/infra")).json()
        assert status["db"]["status"] == "ok"
        assert status["db"]["size"] >= 1

    # a second start finds the schema and data and does not seed again
    async with serve(settings) as client:
        everything = {"limit": 100, "days": 365}
        body = (await client.get("/api/symptoms/popular", params=everything)).json()
        assert sum(s["reports"] for s in body["symptoms"]) == 40000


async def _drop_rate_limit_keys(redis_url: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match="mediz:ratelimit:*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


async def test_rate_limits_of_the_reference_app(app_database: str, redis_url: str) -> None:
    await _drop_rate_limit_keys(redis_url)
    settings = Settings(database_url=app_database, redis_url=redis_url)
    try:
        async with serve(settings) as client:
            for _ in range(10):
                ok = await client.post("/api/chat", json={"message": "headache since monday"})
                assert ok.status_code == 200
                assert ok.headers["ratelimit-policy"].startswith('"chat-60s";q=10;w=60')
            limited = await client.post("/api/chat", json={"message": "again"})
            assert limited.status_code == 429
            assert limited.headers["content-type"] == "application/problem+json"
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.json()["rule"] == "chat"
            # no proxy is trusted by default: a forged X-Forwarded-For changes nothing
            forged = await client.post(
                "/api/chat", json={"message": "x"}, headers={"x-forwarded-for": "198.51.100.1"}
            )
            assert forged.status_code == 429

            codes = []
            for _ in range(6):
                reply = await client.post(
                    "/api/push/subscribe", json={"endpoint": "https://push.example/abc"}
                )
                codes.append(reply.status_code)
            assert codes == [201] * 5 + [429]

            for _ in range(15):
                health = await client.get("/health")
                assert health.status_code == 200 and "ratelimit" not in health.headers

            admin = await client.get("/api/admin/infra")
            assert admin.headers["ratelimit-policy"] == '"admin";q=60;w=60'
            popular = await client.get("/api/symptoms/popular")
            assert popular.headers["ratelimit-policy"] == '"default";q=300;w=60'
    finally:
        await _drop_rate_limit_keys(redis_url)


async def _drop_cache_keys(redis_url: str, prefix: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{prefix}:cache:*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


async def test_popular_symptoms_and_stats_cached_and_invalidated_by_a_report(
    app_database: str, redis_url: str
) -> None:
    await _drop_cache_keys(redis_url, "mediz")
    settings = Settings(database_url=app_database, redis_url=redis_url)
    try:
        async with serve(settings) as client:
            queries = client._transport.app.state.queries  # type: ignore[attr-defined]
            params = {"limit": 3, "days": 365}
            first = (await client.get("/api/symptoms/popular", params=params)).json()
            again = (await client.get("/api/symptoms/popular", params=params)).json()
            assert first == again
            assert queries.popular.statistics.misses == 1
            assert queries.popular.statistics.hits == 1

            stats = (await client.get("/api/admin/stats")).json()
            before = stats["counts"]["reports"]
            assert stats["last_report"] is None
            assert (await client.get("/api/admin/stats")).json()["counts"]["reports"] == before
            assert stats["cache"]["misses"] >= 2

            top = first["symptoms"][0]
            report = {"user_id": 1, "symptom_id": top["id"], "intensity": 5}
            created = await client.post("/api/symptoms/report", json=report)
            assert created.status_code == 201
            assert created.json()["invalidated"] is True

            after = (await client.get("/api/admin/stats")).json()
            assert after["counts"]["reports"] == before + 1
            assert after["last_report"] == {
                "id": created.json()["id"],
                "user_id": 1,
                "symptom_id": top["id"],
            }
            fresh = (await client.get("/api/symptoms/popular", params=params)).json()
            assert fresh["symptoms"][0]["reports"] == top["reports"] + 1
            assert after["cache"]["hit_ratio"] > 0

            catalogue = await client.get("/api/symptoms")
            assert catalogue.status_code == 200
            assert catalogue.headers["cache-control"] == "public, max-age=300"
            assert {"id": top["id"], "name": top["name"]} in catalogue.json()["symptoms"]
            etag = catalogue.headers["etag"]
            again = await client.get("/api/symptoms", headers={"if-none-match": etag})
            assert again.status_code == 304 and again.content == b""
            private = await client.get("/api/symptoms", headers={"authorization": "Bearer x"})
            assert private.headers["cache-control"].startswith("private")

            bad = await client.post("/api/symptoms/report", json={"user_id": 1, "intensity": 99})
            assert bad.status_code == 400
            assert bad.headers["content-type"] == "application/problem+json"
            unknown = {"user_id": 1, "symptom_id": 999999, "intensity": 3}
            assert (await client.post("/api/symptoms/report", json=unknown)).status_code == 404
    finally:
        await _drop_cache_keys(redis_url, "mediz")
        await _drop_rate_limit_keys(redis_url)


async def test_admin_routes_need_the_token(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-admin")
    async with serve(settings, admin=False) as client:
        for path in ("/api/admin/infra", "/api/admin/stats"):
            anonymous = await client.get(path)
            assert anonymous.status_code == 401
            assert anonymous.headers["content-type"] == "application/problem+json"
            assert "127.0.0.1" not in anonymous.text and "headache" not in anonymous.text
            wrong = await client.get(path, headers={"Authorization": "Bearer " + "z" * 32})
            assert wrong.status_code == 403
            right = await client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert right.status_code == 200
        assert (await client.get("/api/symptoms/popular")).status_code == 200  # not guarded


async def test_a_database_outage_answers_503_problems(
    throwaway_postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=throwaway_postgres.url, redis_url="memory://app-outage")
    async with serve(settings) as client:
        assert (await client.get("/api/admin/stats")).status_code == 200
        throwaway_postgres.stop()
        try:
            for days in (11, 12, 13):  # cache misses (the in-process cache is per process)
                params = {"limit": 7, "days": days}
                down = await client.get("/api/symptoms/popular", params=params)
                assert down.status_code == 503, down.text
                assert down.headers["content-type"] == "application/problem+json"
                assert int(down.headers["retry-after"]) > 0
                assert "127.0.0.1" not in down.text
                assert str(throwaway_postgres.port) not in down.text
            infra = await client.get("/api/admin/infra")
            assert infra.status_code == 503 and infra.json()["db"]["status"] == "down"
        finally:
            throwaway_postgres.start()
    tracebacks = [r for r in caplog.records if r.name == "mediz_infra.problems" and r.exc_info]
    assert 1 <= len(tracebacks) <= 2  # throttled: one per error kind, not one per request


async def test_the_app_starts_and_serves_while_redis_is_down(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="redis://127.0.0.1:1/0")
    async with serve(settings) as client:
        popular = await client.get("/api/symptoms/popular")
        assert popular.status_code == 200  # the cache calls through, the limiter fails open
        admin = await client.get("/api/admin/infra")
        assert admin.status_code in (429, 503)  # its rule fails closed, as declared
        infra = await client.app.state.infra.check()  # type: ignore[attr-defined]
        assert infra["redis"]["status"] == "down" and infra["db"]["status"] == "ok"
