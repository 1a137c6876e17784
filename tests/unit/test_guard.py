"""The admin guard: 401 without credentials, 403 with wrong ones, nothing leaked."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mediz_infra import ConfigError
from mediz_infra.guard import AdminGuard

TOKEN = "adm-" + "x7" * 12


async def secret_stats(request: Request) -> JSONResponse:
    return JSONResponse({"patients": 4000})


async def public(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def app(**guard: object) -> httpx.AsyncClient:
    routes = [Route("/api/admin/stats", secret_stats), Route("/api/administer", public)]
    built = Starlette(
        routes=routes, middleware=[Middleware(AdminGuard, paths=["/api/admin"], **guard)]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=built), base_url="http://app")


async def test_no_credentials_401_wrong_403_right_200() -> None:
    async with app(token=SecretStr(TOKEN)) as client:
        anonymous = await client.get("/api/admin/stats")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.headers["content-type"] == "application/problem+json"
        wrong = await client.get("/api/admin/stats", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        almost = TOKEN[:-1] + "y"
        assert (
            await client.get("/api/admin/stats", headers={"Authorization": f"Bearer {almost}"})
        ).status_code == 403
        basic = await client.get("/api/admin/stats", headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401  # not a bearer token: no credentials
        right = await client.get("/api/admin/stats", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200 and right.json() == {"patients": 4000}
        for refused in (anonymous, wrong, basic):
            assert TOKEN not in refused.text and "4000" not in refused.text
            assert "stats" not in refused.text


async def test_only_the_guarded_prefix_is_guarded() -> None:
    async with app(token=TOKEN) as client:
        assert (await client.get("/api/administer")).status_code == 200  # a sibling, not under


async def test_a_check_function_can_admit() -> None:
    async def is_staff(request: Request) -> bool:
        return request.headers.get("x-staff") == "yes"

    async with app(check=is_staff) as client:
        assert (await client.get("/api/admin/stats")).status_code == 403
        assert (await client.get("/api/admin/stats", headers={"x-staff": "yes"})).status_code == 200


async def test_without_token_or_check_it_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "mediz_infra.guard"):
        async with app() as client:
            response = await client.get("/api/admin/stats")
            assert response.status_code == 403  # and the app itself still starts
            assert (await client.get("/api/administer")).status_code == 200
    assert "MEDIZ_ADMIN_TOKEN" in caplog.text


def test_a_short_token_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        AdminGuard(public, token="short")  # type: ignore[arg-type]
