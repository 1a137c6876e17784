"""The app the multi-process and browser metrics tests serve with ``uvicorn --factory``.

Reads ``METRICS_REDIS_URL``, ``METRICS_PREFIX`` and ``METRICS_TOKEN`` when uvicorn calls
:func:`create_app` in each worker; every response body is the worker's pid, so the test can
see both served. ``/boom`` fails, for the error figures.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mediz_infra.metrics import MetricsMiddleware, metrics_routes, metrics_store


async def patient(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(os.getpid()))


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


def create_app() -> Starlette:
    store = metrics_store(os.environ["METRICS_REDIS_URL"], prefix=os.environ["METRICS_PREFIX"])
    token = os.environ.get("METRICS_TOKEN", "m" * 24)
    return Starlette(
        routes=[
            Route("/patients/{pid}", patient),
            Route("/boom", boom),
            *metrics_routes(store, token=token, interval=0.5),
        ],
        middleware=[Middleware(MetricsMiddleware, storage=store)],
    )
