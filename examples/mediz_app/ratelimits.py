"""The reference app's rate limits, as a real deployment of meDIZ would set them.

- ``POST /api/chat`` costs money upstream on every call: per user (per IP when anonymous),
  10 a minute and 100 a day, GCRA so a user gets a short burst and then a steady pace; if Redis
  is down it fails *closed* (503) — an unlimited burst would cost more than an error.
- ``POST /api/push/subscribe`` is cheap but spammable: 5 a minute, 30 a day per client.
- ``/api/admin/*`` is one budget for the whole admin area: 60 a minute per user, fail closed.
- Everything else: 300 a minute per client, failing open. ``/health`` and ``/health/*`` are
  exempt (probes).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from mediz_infra import RedisClient
from mediz_infra.ratelimit import RateLimitMiddleware, Rule, by_ip, by_user
from mediz_infra.validation import validate

from .schemas import PushSubscription, Subscribed


def rate_limit_middleware(
    storage: RedisClient | str, trusted_proxies: Sequence[str] = ()
) -> Middleware:
    """The app's ``RateLimitMiddleware`` on the app's own Redis client (one pool).

    Without Redis (``REDIS_URL`` unset or ``memory://name``) ``storage`` is an in-process store
    name: the counters live in this process only.
    """
    client_ip = by_ip(trusted_proxies=trusted_proxies)
    per_user = by_user(fallback=client_ip)
    rules = [
        Rule(
            "chat",
            "10/minute;100/day",
            paths=["/api/chat"],
            methods=["POST"],
            key=per_user,
            on_backend_error="closed",
        ),
        Rule(
            "push-subscribe",
            "5/minute;30/day",
            paths=["/api/push/subscribe"],
            methods=["POST"],
            strategy="moving-window",
        ),
        Rule("admin", "60/minute", paths=["/api/admin/*"], key=per_user, on_backend_error="closed"),
    ]
    return Middleware(
        RateLimitMiddleware,
        rules=rules,
        default="300/minute",
        exempt=["/health", "/health/*"],
        storage=storage,
        key=client_ip,
    )


@validate(status_code=201)
async def push_subscribe(body: PushSubscription) -> Subscribed:
    """Register a browser's push endpoint (https only)."""
    return Subscribed(subscribed=body.endpoint)


async def health(request: Request) -> JSONResponse:
    """``GET /health``: the process is up (never rate limited)."""
    return JSONResponse({"status": "ok"})
