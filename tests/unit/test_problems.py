"""Every library error and HTTP error as application/problem+json, with nothing internal shown."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediz_infra import (
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
    InfraError,
    PoolClosed,
    PoolExhausted,
)
from mediz_infra.errors import (
    BulkheadFull,
    CallTimeout,
    CircuitOpen,
    RateLimitExceeded,
    UpstreamError,
)
from mediz_infra.problems import PROBLEM_JSON, install_problem_handlers, problem_handlers

INTERNAL = "pool primary at postgresql://app:***@db.internal:5432/app is unreachable"


def raising(exc: Exception) -> Route:
    async def endpoint(request: Request) -> Response:
        raise exc

    return Route(f"/{type(exc).__name__}", endpoint)


ERRORS: list[Exception] = [
    ConfigError("limit", "expected 1 to 100, got 500"),
    BackendUnavailable(INTERNAL),
    BackendTimeout(INTERNAL),
    PoolExhausted(INTERNAL, size=10, in_use=10, waiting=3, timeout=5.0),
    PoolClosed(INTERNAL),
    RateLimitExceeded("chat", 12.2, 1.0),
    CircuitOpen("db.internal", "open", retry_at=1041.5, retry_after=41.5),
    BulkheadFull("db.internal", max_concurrent=4, max_queued=0, timeout=0.0),
    CallTimeout("db.internal", 2.0),
    UpstreamError("http://db.internal/hook", 502, body="db.internal said no", retry_after=7.2),
    InfraError(INTERNAL),
    RuntimeError(INTERNAL),
]


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = Starlette(routes=[raising(e) for e in ERRORS], exception_handlers=problem_handlers())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://app")


@pytest.mark.parametrize(
    ("name", "status", "retry_after"),
    [
        ("ConfigError", 400, None),
        ("BackendUnavailable", 503, "5"),
        ("BackendTimeout", 503, "5"),
        ("PoolExhausted", 503, "5"),
        ("PoolClosed", 503, "5"),
        ("RateLimitExceeded", 429, "13"),
        ("CircuitOpen", 503, "42"),
        ("BulkheadFull", 503, "5"),
        ("CallTimeout", 503, "5"),
        ("UpstreamError", 503, "8"),
        ("InfraError", 500, None),
        ("RuntimeError", 500, None),
    ],
)
async def test_each_error_has_its_status_and_a_problem_body(
    client: httpx.AsyncClient, name: str, status: int, retry_after: str | None
) -> None:
    response = await client.get(f"/{name}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status and body["title"]
    assert response.headers.get("retry-after") == retry_after
    assert "db.internal" not in response.text  # internals stay in the log


async def test_a_config_error_names_the_field(client: httpx.AsyncClient) -> None:
    body = (await client.get("/ConfigError")).json()
    assert body["invalid_params"] == [{"name": "limit", "reason": "expected 1 to 100, got 500"}]


async def test_404_and_405_are_problems_and_405_keeps_allow() -> None:
    async def ok(request: Request) -> Response:
        return Response("ok")

    app = Starlette(routes=[Route("/only-get", ok)])
    install_problem_handlers(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        missing = await client.get("/nowhere")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM_JSON
        assert missing.json()["title"] == "Not Found"
        wrong = await client.post("/only-get")
        assert wrong.status_code == 405
        assert wrong.headers["content-type"] == PROBLEM_JSON
        assert "GET" in wrong.headers["allow"]
        custom = HTTPException(409, detail="already reported today")
        app.router.routes.append(raising(custom))
        conflict = await client.get("/HTTPException")
        assert conflict.json()["detail"] == "already reported today"


async def test_an_outage_logs_one_traceback_per_kind_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Starlette(
        routes=[raising(BackendUnavailable(INTERNAL))],
        exception_handlers=problem_handlers(log_every=3600),
    )
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.ERROR, "mediz_infra.problems"):
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            statuses = [(await client.get("/BackendUnavailable")).status_code for _ in range(20)]
    assert statuses == [503] * 20
    records = [r for r in caplog.records if r.name == "mediz_infra.problems"]
    assert len(records) == 1 and records[0].exc_info is not None
