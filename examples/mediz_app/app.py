"""The reference app: routes of the meDIZ shape over mediz-infra's connection layer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mediz_infra import ConfigError, Infra, PoolManager, Settings
from mediz_infra.guard import AdminGuard

from .caching import build_queries, dashboard_stats, record_symptom
from .chat import build_chat, chat, demo_webhook
from .ratelimits import health, push_subscribe, rate_limit_middleware

HERE = Path(__file__).parent


async def prepare_database(db: PoolManager) -> None:
    """Create the schema and, on an empty database, the demo data."""
    async with db.transaction() as con:
        # one transaction-scoped lock: two app processes starting together seed once
        await con.execute("SELECT pg_advisory_xact_lock(hashtext('mediz_app.seed'))")
        await con.execute((HERE / "schema.sql").read_text())
        if not await con.fetchval("SELECT EXISTS (SELECT 1 FROM users)"):
            await con.execute((HERE / "seed.sql").read_text())


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"expected {low} to {high}, got {value}")
    return value


async def popular_symptoms(request: Request) -> JSONResponse:
    """``GET /api/symptoms/popular?limit=10&days=30``: most reported symptoms, from a replica,
    cached (``caching.py``: 60 s fresh, then served stale while one process refreshes).

    A bad parameter raises ``ConfigError``: the app's problem handlers answer 400 naming it."""
    limit = _int_param(request, "limit", 10, 1, 100)
    days = _int_param(request, "days", 30, 1, 365)
    symptoms = await request.app.state.queries.popular(limit, days)
    return JSONResponse({"days": days, "symptoms": symptoms})


async def infra_status(request: Request) -> JSONResponse:
    """``GET /api/admin/infra``: every backend's health detail (no passwords)."""
    infra: Infra = request.app.state.infra
    detail = await infra.check()  # never raises; "off" is a backend left unconfigured
    down = any(part.get("status") == "down" for part in detail.values())
    return JSONResponse(detail, status_code=503 if down else 200)


async def index(request: Request) -> JSONResponse:
    return JSONResponse({
        "app": "meDIZ reference app (mediz-infra)",
        "endpoints": [
            "/api/symptoms", "/api/symptoms/popular?limit=10&days=30", "/api/admin/infra",
            "/api/admin/stats",
            "POST /api/symptoms/report",
            "POST /api/chat",
        ],
    })


def create_app(
    settings: Settings | None = None,
    *,
    embedded_postgres: bool = True,
    trusted_proxies: Sequence[str] = (),
    demo_webhook_route: bool = False,
) -> Starlette:
    """Build the app. With no ``DATABASE_URL`` it starts an embedded Postgres (the demo default).

    ``trusted_proxies`` (addresses or CIDRs of your load balancers) lets the rate limiter read
    the client address from ``X-Forwarded-For``; by default no header is trusted.

    Every ``/api/admin`` route needs ``Authorization: Bearer $MEDIZ_ADMIN_TOKEN`` (without the
    variable the admin answers 403 to everyone). Errors answer ``application/problem+json``:
    a database or Redis outage is a 503 with ``Retry-After``, a bad parameter a 400 naming it.
    The app starts while Redis is down and serves degraded until it answers.

    ``POST /api/chat`` forwards to ``MEDIZ_CHAT_WEBHOOK_URL`` through ``@resilient``
    (``chat.py``); ``demo_webhook_route`` adds the fake webhook the demo points it at.
    """
    infra = Infra.from_settings(settings, embedded_postgres=embedded_postgres)
    queries = build_queries(infra)
    upstream = build_chat(infra)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with infra.lifespan(app) as state:
            assert infra.db is not None, "set DATABASE_URL or allow the embedded Postgres"
            await prepare_database(infra.db)
            try:
                yield state
            finally:
                await upstream.aclose()
                await queries.cache.close()  # background refreshes end before the pool closes

    routes = [
        Route("/", index),
        Route("/api/symptoms", queries.catalogue),
        Route("/api/symptoms/popular", popular_symptoms),
        Route("/api/admin/infra", infra_status),
        Route("/api/admin/stats", dashboard_stats),
        Route("/api/symptoms/report", record_symptom, methods=["POST"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/push/subscribe", push_subscribe, methods=["POST"]),
        Route("/health", health),
    ]
    if demo_webhook_route:
        routes.append(Route("/_demo/webhook", demo_webhook, methods=["POST"]))
    middleware = [
        Middleware(AdminGuard, paths=["/api/admin"], token=infra.settings.admin_token),
        rate_limit_middleware(infra.redis, trusted_proxies),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers=Infra.problem_handlers(),
    )
    app.state.infra = infra
    app.state.queries = queries
    app.state.chat = upstream
    return app
