"""The app the multi-process metrics test serves with ``uvicorn --workers 2 --factory``.

Reads ``METRICS_REDIS_URL`` and ``METRICS_PREFIX`` when uvicorn calls :func:`create_app` in
each worker; every response body is the worker's pid, so the test can see both served.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mediz_infra.metrics import MetricsMiddleware


async def patient(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(os.getpid()))


def create_app() -> Starlette:
    storage = os.environ["METRICS_REDIS_URL"]
    prefix = os.environ["METRICS_PREFIX"]
    return Starlette(
        routes=[Route("/patients/{pid}", patient)],
        middleware=[Middleware(MetricsMiddleware, storage=storage, prefix=prefix)],
    )
