"""The reference app end to end: its own database on the real Postgres, seeded, queried."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr

from examples.mediz_app import create_app
from mediz_infra import ConfigError, Settings
from tests._servers import PostgresServer, scratch_database

from ._upstream import Step, Upstream
from ._upstream import serve as serve_upstream

pytestmark = pytest.mark.integration


@pytest.fixture
def app_database(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "mediz_app") as url:
        yield url


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
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["location"] == ["query", "limit"]

        status = (await client.get("/api/admin/infra")).json()
        assert status["db"]["status"] == "ok"
        assert status["db"]["size"] >= 1

    # a second start finds the schema and data and does not seed again
    async with serve(settings) as client:
        everything = {"limit": 100, "days": 365}
        body = (await client.get("/api/symptoms/popular", params=everything)).json()
        assert sum(s["reports"] for s in body["symptoms"]) == 40000


async def test_a_symptoms_latest_reports_newest_first(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-test")
    async with serve(settings) as client:
        response = await client.get("/api/symptoms/3/reports", params={"limit": 5})
        assert response.status_code == 200
        body = response.json()
        assert body["symptom_id"] == 3 and len(body["reports"]) == 5
        times = [r["reported_at"] for r in body["reports"]]
        assert times == sorted(times, reverse=True)
        assert set(body["reports"][0]) == {"intensity", "reported_at"}  # no user
        bad = await client.get("/api/symptoms/3/reports", params={"limit": 0})
        assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == ["query", "limit"]


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
            # read your own writes: the position cookie, scoped to the user routes
            assert created.cookies.get("mz_pos", path="/api/users")
            mine = (await client.get("/api/users/1/reports")).json()["reports"]
            assert mine[0]["id"] == created.json()["id"]
            client.cookies.set("mz_pos", "not-a-position", path="/api/users")
            assert (await client.get("/api/users/1/reports")).status_code == 200
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
            assert bad.status_code == 422
            assert {tuple(e["location"]) for e in bad.json()["errors"]} == {
                ("body", "symptom_id"),
                ("body", "intensity"),
            }
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


@pytest.fixture(scope="module")
def webhook() -> Iterator[Upstream]:
    yield from serve_upstream(Upstream())


async def test_chat_forwards_to_the_webhook_through_resilient(
    app_database: str, webhook: Upstream
) -> None:
    settings = Settings(database_url=app_database, chat_webhook_url=webhook.url)
    async with serve(settings) as client:
        webhook.play(Step(503), Step(200, b'{"reply": "rest and drink water"}'))
        answer = await client.post("/api/chat", json={"message": "headache"})
        assert answer.status_code == 200
        assert answer.json() == {"reply": "rest and drink water"}
        assert len(webhook.requests) == 2  # the 503 was retried
        sent = [r["headers"]["idempotency-key"] for r in webhook.requests]
        assert sent[0] == sent[1] and sent[0]
        assert json.loads(webhook.requests[0]["body"])["message"] == "headache"

        webhook.play(Step(400, b'{"error": "bad"}'))
        bad = await client.post("/api/chat", json={"message": "x"})
        assert bad.status_code == 503 and len(webhook.requests) == 1  # a 400 is not retried
        assert bad.headers["content-type"] == "application/problem+json"
        assert "bad" not in bad.text  # the upstream's body stays in the log

        # the webhook keeps failing: the breaker opens, and the app refuses at once
        webhook.play(Step(500))
        breaker = client.app.state.chat.breaker  # type: ignore[attr-defined]
        for _ in range(20):
            reply = await client.post("/api/chat", json={"message": "x"})
            if breaker.state == "open":
                break
            assert reply.status_code == 503
        assert breaker.state == "open"
        sent_before = len(webhook.requests)
        refused = await client.post("/api/chat", json={"message": "x"})
        assert refused.status_code == 503
        assert refused.json()["type"].endswith("circuit-open")
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        assert len(webhook.requests) == sent_before  # nothing sent while open


async def test_a_bad_webhook_url_is_a_config_error_naming_the_setting(app_database: str) -> None:
    settings = Settings(database_url=app_database, chat_webhook_url="ftp://example/hook")
    with pytest.raises(ConfigError) as error:
        create_app(settings, embedded_postgres=False)
    assert error.value.field == "MEDIZ_CHAT_WEBHOOK_URL"


async def test_reminders_are_validated_before_the_database(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-reminders")
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    async with serve(settings) as client:
        created = await client.post(
            "/api/reminders", json={"user_id": 1, "message": "take the pill", "due_at": due}
        )
        assert created.status_code == 201, created.text
        assert dt.datetime.fromisoformat(created.json()["due_at"]) == dt.datetime.fromisoformat(due)
        unknown = await client.post(
            "/api/reminders", json={"user_id": 10**12, "message": "x", "due_at": due}
        )
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        bad = await client.post(
            "/api/reminders",
            json={"user_id": 1, "message": "nul\u0000", "due_at": "2001-01-01T00:00:00"},
        )
        assert bad.status_code == 422
        located = {tuple(e["location"]) for e in bad.json()["errors"]}
        assert located == {("body", "message"), ("body", "due_at")}
        assert "nul" not in bad.text


async def test_every_endpoint_taking_input_is_in_the_openapi_document(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-openapi")
    async with serve(settings) as client:
        document = (await client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert {
        ("POST", "/api/chat"),
        ("POST", "/api/push/subscribe"),
        ("POST", "/api/symptoms/report"),
        ("POST", "/api/reminders"),
        ("GET", "/api/symptoms/popular"),
    } <= operations


async def test_the_chat_refuses_bad_bodies_before_the_assistant(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-chat-input")
    async with serve(settings) as client:
        plain = await client.post(
            "/api/chat", content=b'{"message": "hi"}', headers={"content-type": "text/plain"}
        )
        empty = await client.post("/api/chat", json={"message": ""})
        huge = await client.post(
            "/api/chat",
            content=b'{"message": "' + b"x" * 2_000_000 + b'"}',
            headers={"content-type": "application/json"},
        )
        ok = await client.post("/api/chat", json={"message": "headache"})
    assert plain.status_code == 415
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["location"] == ["body", "message"]
    assert huge.status_code == 413
    assert all(
        r.headers["content-type"] == "application/problem+json" for r in (plain, empty, huge)
    )
    assert ok.json() == {"reply": "You said 8 characters; see a doctor if unsure."}


async def test_the_admin_report_filters_are_validated(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-admin-reports")
    async with serve(settings) as client:
        everything = await client.get("/api/admin/reports", params={"days": 365, "limit": 500})
        assert everything.status_code == 200
        reports = everything.json()["reports"]
        assert len(reports) == 500
        stamps = [r["reported_at"] for r in reports]
        assert stamps == sorted(stamps, reverse=True)
        symptom = reports[0]["symptom_id"]
        one = await client.get(
            "/api/admin/reports", params={"symptom_id": symptom, "days": 365, "limit": 5}
        )
        assert {r["symptom_id"] for r in one.json()["reports"]} == {symptom}
        bad = await client.get("/api/admin/reports", params={"limit": "1_0", "days": "0"})
        assert bad.status_code == 422
        located = {tuple(e["location"]) for e in bad.json()["errors"]}
        assert located == {("query", "limit"), ("query", "days")}
        anonymous = await client.get("/api/admin/reports", headers={"Authorization": ""})
    assert anonymous.status_code in (401, 403)  # the guard answers before validation
