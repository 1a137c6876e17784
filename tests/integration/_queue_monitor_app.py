"""The app the queue monitor's browser test serves with ``uvicorn --factory``.

Reads ``QUEUE_TEST_URL``, ``QUEUE_TEST_NAME`` and ``QUEUE_TEST_TOKEN``; serves the monitor of
that queue (prefix ``test``) and ``/health`` for the start-up probe.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mediz_infra.queue import Queue, monitor_routes


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app() -> Starlette:
    queue = Queue(os.environ["QUEUE_TEST_NAME"], os.environ["QUEUE_TEST_URL"], prefix="test")
    routes = [Route("/health", health)]
    routes += monitor_routes([queue], token=os.environ["QUEUE_TEST_TOKEN"], interval=0.3)
    return Starlette(routes=routes)
