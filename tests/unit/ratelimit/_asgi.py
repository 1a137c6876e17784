"""A minimal in-process ASGI driver for the rate-limit tests (no sockets, no httpx)."""

from __future__ import annotations

from typing import Any

from mediz_infra.types import ASGIApp, Message


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def call(
    app: ASGIApp,
    path: str = "/",
    *,
    method: str = "GET",
    client: str = "203.0.113.7",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request: (status, lower-cased headers, body)."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers or [],
        "client": (client, 51000),
        "query_string": b"",
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    head = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return start["status"], head, b"".join(m.get("body", b"") for m in sent[1:])
