"""The app the draining test serves with uvicorn: health with a drain delay, a slow endpoint.

``HEALTH_DRAIN_DELAY`` sets the delay. The lifespan prints ``pools closed`` when its shutdown
runs (standing for the pools and workers ``Infra`` closes), so the test can order events.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mediz_infra.health import HealthRouter


@asynccontextmanager
async def pools(app: object) -> AsyncIterator[None]:
    yield
    print("pools closed", flush=True)


async def work(request: Request) -> PlainTextResponse:
    await asyncio.sleep(0.02)
    return PlainTextResponse("done")


def create_app() -> Starlette:
    health = HealthRouter(drain_delay=float(os.environ["HEALTH_DRAIN_DELAY"]))
    return Starlette(routes=[*health.routes, Route("/work", work)], lifespan=health.lifespan(pools))
