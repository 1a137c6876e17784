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

from mediz_infra import ConfigError, HealthRouter, Infra, PoolManager, Settings
from mediz_infra.guard import AdminGuard
from mediz_infra.metrics import MetricsMiddleware, metrics_routes, metrics_store

from .caching import build_queries, dashboard_stats, record_symptom
from .chat import build_chat, chat, demo_webhook
from .ratelimits import push_subscribe, rate_limit_middleware
from .reports import user_reports

HERE = Path(__file__).parent

# A symptom's page lists its latest reports. As the schema ships, no index leads with
# symptom_id: Postgres walks symptom_reports_recent (reported_at, symptom_id) backwards and
# filters. `mediz-infra db advise` finds this and proves the fix (docs/advisor.md).
RECENT_REPORTS_SQL = (
    "SELECT intensity, reported_at FROM symptom_reports WHERE symptom_id = $1 "
    "ORDER BY reported_at DESC LIMIT $2"
)


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


async def recent_reports(request: Request) -> JSONResponse:
    """``GET /api/symptoms/{id}/reports?limit=20``: a symptom's latest reports, newest first
    (intensity and time only: no user), from a replica."""
    symptom = request.path_params["id"]
    limit = _int_param(request, "limit", 20, 1, 100)
    infra: Infra = request.app.state.infra
    assert infra.db is not None
    async with infra.db.read() as con:
        rows = await con.fetch(RECENT_REPORTS_SQL, symptom, limit)
    reports = [
        {"intensity": r["intensity"], "reported_at": r["reported_at"].isoformat()} for r in rows
    ]
    return JSONResponse({"symptom_id": symptom, "reports": reports})


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
            "/api/symptoms", "/api/symptoms/popular?limit=10&days=30",
            "/api/symptoms/{id}/reports?limit=20", "/api/admin/infra",
            "/api/admin/stats", "/admin/metrics", "/health", "/health/ready",
            "POST /api/symptoms/report",
            "/api/users/{user_id}/reports",
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
    token = infra.settings.admin_token
    # observability: metrics of every process in Redis (in process without it), health checks
    store = metrics_store(infra.redis or "memory://")
    health = HealthRouter(token=token)
    upstream = build_chat(infra)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with infra.lifespan(app) as state:
            assert infra.db is not None, "set DATABASE_URL or allow the embedded Postgres"
            for check in infra.health_checks():  # the pool exists once started
                health.add(check)
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
        Route("/api/symptoms/{id:int}/reports", recent_reports),
        Route("/api/admin/infra", infra_status),
        Route("/api/admin/stats", dashboard_stats),
        Route("/api/symptoms/report", record_symptom, methods=["POST"]),
        Route("/api/users/{user_id:int}/reports", user_reports),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/push/subscribe", push_subscribe, methods=["POST"]),
        *health.routes,
        *metrics_routes(store, token=token, gauges=infra.metrics_gauges()),
    ]
    if demo_webhook_route:
        routes.append(Route("/_demo/webhook", demo_webhook, methods=["POST"]))
    middleware = [
        Middleware(MetricsMiddleware, storage=store, exclude=["/health*", "/admin/metrics*"]),
        Middleware(AdminGuard, paths=["/api/admin"], token=infra.settings.admin_token),
        rate_limit_middleware(infra.redis, trusted_proxies),
    ]
    app = Starlette(
        routes=routes,
        lifespan=health.lifespan(lifespan),
        middleware=middleware,
        exception_handlers=Infra.problem_handlers(),
    )
    app.state.infra = infra
    app.state.queries = queries
    app.state.chat = upstream
    return app
