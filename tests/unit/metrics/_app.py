"""A small Starlette app with the metrics middleware, for the unit tests."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from mediz_infra.metrics import MemoryMetricsStore, MetricsMiddleware, metrics_routes

TOKEN = "t" * 24


async def patient(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["pid"])


async def item(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(request.path_params["item_id"]))


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


async def created(request: Request) -> PlainTextResponse:
    return PlainTextResponse("made", status_code=201)


def build(store: MemoryMetricsStore | None = None, **options: object) -> Starlette:
    store = MemoryMetricsStore() if store is None else store
    inner = [Route("/items/{item_id:int}", item, methods=["GET"])]
    routes = [
        Route("/patients/{pid}", patient, methods=["GET", "POST"]),
        Route("/boom", boom),
        Route("/made", created, methods=["POST"]),
        Mount("/v1", routes=inner),
        *metrics_routes(store, token=TOKEN),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(MetricsMiddleware, storage=store, **options)],  # type: ignore[arg-type]
    )
