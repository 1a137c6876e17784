"""A real flaky upstream: a scripted ASGI app served by uvicorn on a free loopback port.

Each request takes the next step of the script (the last step repeats): answer a status
(with headers and a body), answer late, or drop the connection half-way through the body. Every
request is recorded (method, path, headers, body) so tests can count attempts and compare
idempotency keys.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tests._servers import free_port


@dataclass(frozen=True)
class Step:
    """One scripted answer."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before answering
    drop: bool = False  # announce the body, send half of it, then cut the connection


@dataclass
class Upstream:
    """The app and what it saw."""

    script: list[Step] = field(default_factory=lambda: [Step()])
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def play(self, *steps: Step) -> None:
        self.script = list(steps)
        self.requests.clear()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append({"path": scope["path"], "headers": headers, "body": body})
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step.delay:
            await asyncio.sleep(step.delay)
        out = [(k.encode(), v.encode()) for k, v in step.headers]
        out.append((b"content-type", b"application/json"))
        if step.drop:
            out.append((b"content-length", str(len(step.body) * 2).encode()))
            await send({"type": "http.response.start", "status": step.status, "headers": out})
            await send({"type": "http.response.body", "body": step.body, "more_body": True})
            raise ConnectionAbortedError("scripted drop")  # uvicorn closes the connection
        await send({"type": "http.response.start", "status": step.status, "headers": out})
        await send({"type": "http.response.body", "body": step.body})


def serve(upstream: Upstream) -> Iterator[Upstream]:
    """Serve ``upstream`` on a free loopback port for the duration of a fixture."""
    port = free_port()
    config = uvicorn.Config(
        upstream, host="127.0.0.1", port=port, log_level="critical", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="flaky upstream", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the flaky upstream did not start")
        time.sleep(0.01)
    upstream.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield upstream
    finally:
        server.should_exit = True
        thread.join(10)
