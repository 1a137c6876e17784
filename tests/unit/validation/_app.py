"""Models and endpoints the validation tests share (module level, so annotations resolve)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

import httpx
from pydantic import BaseModel, Field, SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mediz_infra.problems import problem_handlers
from mediz_infra.validation import ValidationLimits, validate


class Mood(StrEnum):
    good = "good"
    bad = "bad"


class ChatIn(BaseModel):
    message: Annotated[str, Field(min_length=1, max_length=200)]
    mood: Mood = Mood.good
    count: int = 1
    since: date | None = None
    password: SecretStr | None = None


class ChatOut(BaseModel):
    reply: str
    limit: int


class Paging(BaseModel):
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    ratio: float = 1.0
    tags: list[str] = []
    ids: list[int] = []


class ItemPath(BaseModel):
    item_id: int


class Caller(BaseModel):
    x_request_id: str
    x_retries: int = 0


class Session(BaseModel):
    session: str


class Subscribe(BaseModel):
    endpoint: str
    topics: list[str] = []
    priority: int = 0


@validate
async def chat(request: Request, body: ChatIn, query: Paging) -> ChatOut:
    """Reply to a chat message."""
    return ChatOut(reply=body.message.upper(), limit=query.limit)


@validate
async def item(path: ItemPath, headers: Caller, cookies: Session) -> dict[str, object]:
    return {"id": path.item_id, "request": headers.x_request_id, "session": cookies.session}


@validate(form=True, status_code=201)
async def subscribe(body: Subscribe) -> Subscribe:
    return body


@validate
async def optional_body(body: ChatIn | None = None) -> JSONResponse:
    return JSONResponse({"empty": body is None})


@validate(response=ChatOut)
async def wrong_reply(request: Request) -> dict[str, object]:
    return {"reply": 5}


@validate
async def raw(request: Request) -> Response:
    return PlainTextResponse("raw")


@validate(limits=ValidationLimits(max_body=1_000, read_timeout=0.05, max_depth=4, max_keys=8))
async def small(body: dict[str, object]) -> dict[str, object]:
    return body


def build_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/chat", chat, methods=["POST"]),
            Route("/items/{item_id}", item),
            Route("/subscribe", subscribe, methods=["POST"]),
            Route("/optional", optional_body, methods=["POST"]),
            Route("/wrong", wrong_reply),
            Route("/raw", raw),
            Route("/small", small, methods=["POST"]),
        ],
        exception_handlers=problem_handlers(),
    )


def client(app: Starlette | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app or build_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


JSON = {"content-type": "application/json"}
