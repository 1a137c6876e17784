"""``POST /api/chat``: the assistant's answer from an external workflow webhook (n8n), resilient.

The webhook is ``MEDIZ_CHAT_WEBHOOK_URL``. Every call goes through ``@resilient``:

- a **bulkhead** of 20 calls (50 more may wait 1 s): a slow webhook cannot take every worker;
- **retries** of what is retryable (connection errors, timeouts, 429/502/503/504), 3 attempts
  within 8 s, at most 20 % extra traffic over 10 s (the budget);
- a **circuit breaker** shared by every process through Redis (local without Redis): after
  half of 10+ recent calls failed, calls are refused for 30 s and the app answers 503 with
  ``Retry-After`` at once instead of making users wait for a dead webhook;
- a **timeout** of 5 s per attempt.

The request's ``Idempotency-Key`` is made once per chat message, outside the retries, so the
webhook sees the same key on every attempt.

Without a webhook URL the route answers with a canned reply. ``python -m examples.mediz_app``
serves a fake webhook at ``/_demo/webhook`` and points the chat at it, so the demo works offline.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from mediz_infra import ConfigError, Infra
from mediz_infra.resilience import (
    Bulkhead,
    CircuitBreaker,
    Retry,
    RetryBudget,
    post_json,
    resilient,
)
from mediz_infra.validation import validate

from .schemas import ChatIn, ChatOut


@dataclass
class Chat:
    """The chat route's upstream: its URL, client and policies (built once, at start-up)."""

    url: str | None
    client: httpx.AsyncClient
    breaker: CircuitBreaker
    forward: Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]] | None = None

    async def reply(self, message: str, user: str) -> dict[str, Any]:
        if self.url is None or self.forward is None:
            return canned(message)
        # one key per message, made outside the retries: every attempt carries it
        return await self.forward(self.url, {"message": message, "user": user}, uuid.uuid4().hex)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.breaker.aclose()


def build_chat(infra: Infra) -> Chat:
    """The chat's upstream from the settings; raises ``ConfigError`` for a non-http(s) URL."""
    secret = infra.settings.chat_webhook_url
    url = secret.get_secret_value() if secret is not None else None
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError("MEDIZ_CHAT_WEBHOOK_URL", "must be an http:// or https:// URL")
    breaker = CircuitBreaker(
        "chat-webhook",
        failure_rate=0.5,
        minimum_calls=10,
        open_for=30.0,
        storage=infra.redis,  # None: this process only
        prefix=infra.settings.prefix,
    )
    chat = Chat(url, httpx.AsyncClient(), breaker)

    @resilient(
        bulkhead=Bulkhead(20, max_queued=50, queue_timeout=1.0, name="chat-webhook"),
        retry=Retry(
            attempts=3, deadline=8.0, budget=RetryBudget(0.2, seconds=10), name="chat-webhook"
        ),
        breaker=breaker,
        timeout=5.0,
    )
    async def forward(url: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
        answer = await post_json(
            url, payload, idempotency_key=key, client=chat.client, retry=None, timeout=5.0
        )
        return answer if isinstance(answer, dict) else {"reply": answer}

    chat.forward = forward
    return chat


def canned(message: str) -> dict[str, Any]:
    return {"reply": f"You said {len(message)} characters; see a doctor if unsure."}


@validate
async def chat(request: Request, body: ChatIn) -> ChatOut:
    """``POST /api/chat`` ``{"message": "..."}``: the assistant's answer.

    A bad body is a 422/400/413/415 before anything is sent upstream. When the webhook is
    failing: 503 with ``Retry-After`` (``CircuitOpen``, ``UpstreamError``, ``BulkheadFull``,
    ``CallTimeout``; the app's problem handlers)."""
    user = request.client.host if request.client else "anonymous"
    upstream: Chat = request.app.state.chat
    answer = await upstream.reply(body.message, user)
    return ChatOut(reply=str(answer.get("reply", "")))


async def demo_webhook(request: Request) -> JSONResponse:
    """``POST /_demo/webhook``: a stand-in for the n8n workflow, for the offline demo."""
    body = await request.json()
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    return JSONResponse(
        {
            "reply": canned(message)["reply"],
            "idempotency_key": request.headers.get("idempotency-key", ""),
        }
    )
