"""The ``validation`` benchmark: ``@validate`` against FastAPI validating the same models.

Everything runs on an in-process ASGI driver: the app is called directly with a minimal scope, a
``receive`` that hands over the body in one message, and a ``send`` that drops the response (no
sockets, no HTTP client), so what is measured is the framework's request handling.

- **Per-request overhead** (µs, c=1): the time of a request through the validating route minus
  the time of the same request to a bare Starlette route that answers the same bytes without
  reading anything, measured in alternating batches of 200. The route takes a JSON body
  (``ChatIn``: a bounded string, an enum, an int, a list of strings, an optional date) and a
  query model (``Paging``: an int with bounds), and returns a response model (``ChatOut``).
  Ours: ``@validate async def chat(body: ChatIn, query: Paging) -> ChatOut`` on a Starlette
  ``Route``. FastAPI: ``@app.post("/r") async def chat(body: ChatIn, query: Annotated[Paging,
  Query()]) -> ChatOut``, its documented form for a body model and a query model (0.115+), on
  the same Starlette.
- **Refused body** (µs, c=1): the same route sent a body with two invalid fields, each side
  answering 422 with its own error format, against the same bare route.

The models are the same classes for both; ours additionally runs its bounds (depth, key count,
string length, duplicate keys) before pydantic and validates the JSON body in strict mode.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks._runner import (
    MICROSECONDS,
    Benchmark,
    Case,
    Check,
    Contender,
    Group,
    Measure,
    Options,
    overhead,
)
from mediz_infra.problems import problem_handlers
from mediz_infra.validation import validate

__all__ = ["BENCHMARK"]

OURS = "mediz-infra"
PEER = "FastAPI"


class Mood(StrEnum):
    good = "good"
    bad = "bad"


class ChatIn(BaseModel):
    message: Annotated[str, Field(min_length=1, max_length=2000)]
    mood: Mood = Mood.good
    count: int = 1
    tags: list[str] = []
    since: date | None = None


class Paging(BaseModel):
    limit: Annotated[int, Field(ge=1, le=100)] = 10


class ChatOut(BaseModel):
    reply: str
    tags: list[str]
    limit: int


VALID = json.dumps(
    {
        "message": "I have had a headache since Tuesday",
        "mood": "bad",
        "count": 3,
        "tags": ["headache", "fatigue"],
        "since": "2026-11-24",
    }
).encode()
INVALID = json.dumps({"message": "", "mood": "ugly", "tags": ["a"]}).encode()
REPLY = ChatOut(reply="I HAVE HAD A HEADACHE SINCE TUESDAY", tags=["headache", "fatigue"], limit=5)


@validate
async def ours_chat(body: ChatIn, query: Paging) -> ChatOut:
    return ChatOut(reply=body.message.upper(), tags=body.tags, limit=query.limit)


def _ours() -> Starlette:
    return Starlette(
        routes=[Route("/r", ours_chat, methods=["POST"])], exception_handlers=problem_handlers()
    )


def _fastapi() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/r")
    async def chat(body: ChatIn, query: Annotated[Paging, Query()]) -> ChatOut:
        return ChatOut(reply=body.message.upper(), tags=body.tags, limit=query.limit)

    return app


def _bare() -> Starlette:
    content = REPLY.model_dump_json().encode()

    async def chat(request: Request) -> Response:
        return Response(content, media_type="application/json")

    return Starlette(routes=[Route("/r", chat, methods=["POST"])])


def _request(app: Any, body: bytes) -> Callable[[], Awaitable[None]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/r",
        "raw_path": b"/r",
        "query_string": b"limit=5",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("192.0.2.10", 50000),
        "server": ("bench", 80),
    }
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(message: dict[str, Any]) -> None:
        return None

    def one() -> Awaitable[None]:
        return app(dict(scope), receive, send)  # type: ignore[no-any-return]

    return one


def _overhead(app: Any, bare: Any, body: bytes) -> Measure:
    """Per-request time through ``app`` minus through ``bare``, in alternating batches."""
    through, plain = _request(app, body), _request(bare, body)
    return overhead(through, plain)


async def _status(app: Any, body: bytes) -> int:
    """The status ``app`` answers ``body`` with (both sides must do the work measured)."""
    seen: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen.append(message["status"])

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/r",
        "raw_path": b"/r",
        "root_path": "",
        "query_string": b"limit=5",
        "headers": [(b"content-type", b"application/json")],
    }
    await app(scope, receive, send)
    return seen[0]


@contextlib.asynccontextmanager
async def _cases(options: Options) -> AsyncIterator[Sequence[Case]]:
    bare, ours, fastapi = _bare(), _ours(), _fastapi()
    for app, body, status in (
        (ours, VALID, 200),
        (fastapi, VALID, 200),
        (ours, INVALID, 422),
        (fastapi, INVALID, 422),
    ):
        got = await _status(app, body)
        if got != status:  # both sides must do the work measured, not fail early
            raise RuntimeError(f"{type(app).__name__} answered {got}, expected {status}")
    yield [
        Case(
            "valid/overhead",
            {"request": "valid body + query, response model", "c": "1"},
            MICROSECONDS,
            [
                Contender(OURS, _overhead(ours, bare, VALID), ours=True),
                Contender(PEER, _overhead(fastapi, bare, VALID)),
            ],
        ),
        Case(
            "invalid/overhead",
            {"request": "refused body (422, two errors)", "c": "1"},
            MICROSECONDS,
            [
                Contender(OURS, _overhead(ours, bare, INVALID), ours=True),
                Contender(PEER, _overhead(fastapi, bare, INVALID)),
            ],
        ),
    ]


BENCHMARK = Benchmark(
    name="validation",
    title="validation: per-request overhead of @validate and of FastAPI on the same models",
    groups=(Group("asgi", _cases),),
    peers=("mediz-infra", "fastapi", "pydantic", "starlette"),
    checks=(
        Check(
            "overhead, valid request: FastAPI ÷ ours (goal: ours at most 0.8x FastAPI's)",
            ("valid/overhead", OURS),
            ("valid/overhead", PEER),
            1 / 0.8,
        ),
    ),
    notes=(
        "Overhead = time through the validating route minus time through a bare Starlette "
        "route answering the same bytes, in alternating batches of 200 requests on an "
        "in-process ASGI driver. Both sides validate the same pydantic models: the JSON body "
        "(`ChatIn`), the query (`Paging`) and the response (`ChatOut`); ours also bounds the "
        "raw body (depth, keys, strings, duplicate keys) and parses the body in strict mode."
    ),
)
