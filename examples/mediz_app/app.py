"""The reference app: routes of the meDIZ shape over mediz-infra's connection layer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from mediz_infra import HealthRouter, Infra, PoolManager, Settings
from mediz_infra.guard import AdminGuard
from mediz_infra.metrics import MetricsMiddleware, metrics_routes, metrics_store
from mediz_infra.problems import problem_response
from mediz_infra.queue import monitor_routes
from mediz_infra.validation import openapi_route, validate

from .caching import build_queries, dashboard_stats, record_symptom
from .chat import build_chat, chat, demo_webhook
from .ratelimits import push_subscribe, rate_limit_middleware
from .reminders import Reminders, check_reminders
from .reports import user_reports
from .schemas import (
    Popular,
    PopularQuery,
    RecentQuery,
    RecentReports,
    ReminderCreated,
    ReminderIn,
    ReportFilters,
    ReportList,
    ReportRow,
    SymptomPath,
)

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


@validate
async def popular_symptoms(request: Request, query: PopularQuery) -> Popular:
    """The most reported symptoms: from a replica, cached (60 s fresh, then served stale while
    one process refreshes). A bad parameter is a 422 naming it."""
    symptoms = await request.app.state.queries.popular(query.limit, query.days)
    return Popular(days=query.days, symptoms=symptoms)


@validate(status_code=201)
async def create_reminder(request: Request, body: ReminderIn) -> ReminderCreated | Response:
    """Remind a user of something at ``due_at`` (within the next year); 404 for an unknown user."""
    infra: Infra = request.app.state.infra
    assert infra.db is not None
    async with infra.db.transaction() as con:
        row = await con.fetchrow(
            "INSERT INTO reminders (user_id, message, due_at)"
            " SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1)"
            " RETURNING id, due_at",
            body.user_id, body.message, body.due_at,
        )
    if row is None:
        return problem_response(404, title="Unknown user")
    return ReminderCreated(id=row["id"], due_at=row["due_at"])


REPORTS_SQL = """
SELECT id, user_id, symptom_id, intensity, reported_at
FROM symptom_reports
WHERE ($1::int IS NULL OR symptom_id = $1)
  AND ($2::bigint IS NULL OR user_id = $2)
  AND reported_at > now() - make_interval(days => $3)
ORDER BY reported_at DESC, id DESC
LIMIT $4
"""


@validate
async def admin_reports(request: Request, query: ReportFilters) -> ReportList:
    """Recent symptom reports for the admin, filtered by symptom, user and age (newest first)."""
    infra: Infra = request.app.state.infra
    assert infra.db is not None
    async with infra.db.read() as con:
        rows = await con.fetch(
            REPORTS_SQL, query.symptom_id, query.user_id, query.days, query.limit
        )
    return ReportList(reports=[ReportRow(**dict(row)) for row in rows])


@validate
async def recent_reports(request: Request, path: SymptomPath, query: RecentQuery) -> RecentReports:
    """``GET /api/symptoms/{id}/reports?limit=20``: a symptom's latest reports, newest first
    (intensity and time only: no user), from a replica."""
    symptom = path.id
    infra: Infra = request.app.state.infra
    assert infra.db is not None
    async with infra.db.read() as con:
        rows = await con.fetch(RECENT_REPORTS_SQL, symptom, query.limit)
    return RecentReports(symptom_id=symptom, reports=[dict(r) for r in rows])


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
            "/api/admin/stats", "/api/admin/reports?symptom_id=1&days=7&limit=50",
            "/admin/metrics", "/admin/queues", "/health", "/health/ready", "/openapi.json",
            "POST /api/symptoms/report", "POST /api/reminders", "POST /api/chat",
            "POST /api/push/check-reminders",
            "/api/users/{user_id}/reports",
        ],
    })


def create_app(
    settings: Settings | None = None,
    *,
    embedded_postgres: bool = True,
    trusted_proxies: Sequence[str] = (),
    demo_webhook_route: bool = False,
    reminders: Reminders | None = None,
    reminder_worker: bool = True,
) -> Starlette:
    """Build the app. With no ``DATABASE_URL`` it starts an embedded Postgres (the demo default).

    ``trusted_proxies`` (addresses or CIDRs of your load balancers) lets the rate limiter read
    the client address from ``X-Forwarded-For``; by default no header is trusted.

    Every ``/api/admin`` route needs ``Authorization: Bearer $MEDIZ_ADMIN_TOKEN`` (without the
    variable the admin answers 403 to everyone). Errors answer ``application/problem+json``:
    a database or Redis outage is a 503 with ``Retry-After``, bad input a 422 naming each field
    (every endpoint that takes input is ``@validate``-d, described at ``/openapi.json``).
    The app starts while Redis is down and serves degraded until it answers.

    ``POST /api/chat`` forwards to ``MEDIZ_CHAT_WEBHOOK_URL`` through ``@resilient``
    (``chat.py``); ``demo_webhook_route`` adds the fake webhook the demo points it at.

    ``POST /api/push/check-reminders`` (admin guard) enqueues the due reminders on the
    ``reminders`` queue (``reminders.py``; Redis per ``REDIS_URL``, else in process; default
    pushes go to the in-process fake provider at ``/_demo/push``). ``reminder_worker`` runs
    the queue's worker in this process; turn it off when ``mediz-infra worker
    examples.mediz_app.worker:queue`` processes run instead.
    """
    infra = Infra.from_settings(settings, embedded_postgres=embedded_postgres)
    queries = build_queries(infra)
    token = infra.settings.admin_token
    # observability: metrics of every process in Redis (in process without it), health checks
    store = metrics_store(infra.redis or "memory://")
    # without Redis, REDIS_URL=memory://<name> names this app's in-process rate-limit store
    dsn = infra.settings.redis_dsn() or ""
    local_store = dsn if dsn.startswith("memory://") else "memory://mediz"
    health = HealthRouter(token=token)
    upstream = build_chat(infra)
    # the reminders' job queue (in process without Redis); its admin monitor sits beside the
    # metrics page
    reminders = reminders or Reminders(infra.settings)
    jobs = reminders.queue

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with infra.lifespan(app) as state:
            assert infra.db is not None, "set DATABASE_URL or allow the embedded Postgres"
            for check in infra.health_checks():  # the pool exists once started
                health.add(check)
            await prepare_database(infra.db)
            try:
                async with reminders.running(infra.db, store, worker=reminder_worker):
                    yield state
            finally:
                await upstream.aclose()
                await queries.cache.close()  # background refreshes end before the pool closes

    routes = [
        Route("/", index),
        Route("/api/symptoms", queries.catalogue),
        Route("/api/symptoms/popular", popular_symptoms),
        Route("/api/symptoms/{id}/reports", recent_reports),
        Route("/api/admin/infra", infra_status),
        Route("/api/admin/stats", dashboard_stats),
        Route("/api/admin/reports", admin_reports),
        Route("/api/symptoms/report", record_symptom, methods=["POST"]),
        Route("/api/users/{user_id:int}/reports", user_reports),
        Route("/api/reminders", create_reminder, methods=["POST"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/push/subscribe", push_subscribe, methods=["POST"]),
        Route("/api/push/check-reminders", check_reminders, methods=["POST"]),
        *health.routes,
        *metrics_routes(store, token=token, gauges=infra.metrics_gauges()),
        *monitor_routes([jobs], token=token),
        openapi_route(title="meDIZ reference app", version="1.0"),
    ]
    if demo_webhook_route:
        routes.append(Route("/_demo/webhook", demo_webhook, methods=["POST"]))
    if reminders.provider is not None:  # GET /_demo/push/ lists what the fake provider got
        routes.append(Mount("/_demo/push", app=reminders.provider))
    middleware = [
        Middleware(
            MetricsMiddleware,
            storage=store,
            exclude=["/health*", "/admin/metrics*", "/admin/queues*"],
        ),
        Middleware(
            AdminGuard,
            paths=["/api/admin", "/api/push/check-reminders"],
            token=infra.settings.admin_token,
        ),
        rate_limit_middleware(infra.redis or local_store, trusted_proxies),
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
    app.state.jobs = jobs
    app.state.reminders = reminders
    return app
