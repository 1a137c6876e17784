"""A fake push provider for the demo: records every push it is sent, sends nothing.

A real deployment points ``MEDIZ_PUSH_URL`` at its push gateway (a web-push relay, FCM, a
OneSignal-style API). The demo needs none: :class:`FakePushProvider` is a small ASGI app that
answers ``POST /`` with ``202`` and keeps what it got, and ``GET /`` lists it. The reference app
mounts it at ``/_demo/push`` and, with no ``MEDIZ_PUSH_URL``, calls it in process (through
``httpx.ASGITransport``), so the reminders work offline and still go through the resilient
HTTP call. ``fail_with`` makes it answer an error status instead (for trying retries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

__all__ = ["FakePushProvider"]

MAX_KEPT = 1000


@dataclass
class FakePushProvider:
    """An ASGI push provider that records pushes (the newest :data:`MAX_KEPT`).

    Attributes:
        received: the JSON bodies accepted, oldest first, each with its ``idempotency_key``.
        fail_with: answer this status (e.g. 503) instead of accepting; ``None`` accepts.
    """

    received: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if request.method == "GET":
            response = JSONResponse({"received": self.received[-50:], "total": len(self.received)})
        elif request.method != "POST":
            response = JSONResponse({"error": "POST a push"}, status_code=405)
        elif self.fail_with is not None:
            response = JSONResponse({"error": "provider unavailable"}, status_code=self.fail_with)
        else:
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                response = JSONResponse({"error": "a JSON object expected"}, status_code=400)
            else:
                key = request.headers.get("idempotency-key", "")
                self.received.append({**body, "idempotency_key": key})
                del self.received[:-MAX_KEPT]
                response = JSONResponse({"accepted": True}, status_code=202)
        await response(scope, receive, send)
