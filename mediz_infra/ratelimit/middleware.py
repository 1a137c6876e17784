"""``RateLimitMiddleware``: global rules by path and method, as a pure ASGI middleware."""

from __future__ import annotations

import re
from collections.abc import Sequence

import limits.aio.storage

from ..backends.redis import RedisClient
from ..errors import ConfigError
from ..types import ASGIApp, Message, Receive, Scope, Send
from .decision import Decision
from .headers import problem_body
from .identity import ClientIdentifier
from .limiter import RateLimiter
from .rules import Rule
from .store import LimiterStore

__all__ = ["SCOPE_KEY", "RateLimitMiddleware", "send_refusal"]

SCOPE_KEY = "mediz.ratelimiter"
"""The scope entry through which :func:`rate_limit` routes find the middleware's limiter."""


async def send_refusal(decision: Decision, headers: list[tuple[bytes, bytes]], send: Send) -> None:
    """Send the 429 (or 503, store down and failing closed) problem+json response."""
    status, body = problem_body(decision)
    extra = headers if status == 429 else [(b"retry-after", b"1")]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimitMiddleware:
    """Limits requests by the first rule whose path pattern and method match.

    Put it inside the metrics middleware (so 429s are counted) and outside the router. A
    request matching no rule is decided by ``default`` (when given), exempt paths are passed
    through before any work, and non-HTTP scopes are never touched. Routes decorated with
    :func:`~mediz_infra.ratelimit.rate_limit` use this middleware's limiter.

    Args:
        app: the ASGI app to wrap.
        rules: :class:`Rule` values, tried in order; the first match decides.
        default: a limit string or rule for requests no rule matches (None: not limited).
        exempt: paths never limited: exact (``"/health"``) or prefix patterns (``"/static/*"``).
        storage: URL, client or store (ignored when ``limiter`` is given).
        limiter: a :class:`RateLimiter` to share with decorators and ``acquire()`` callers.
        key: the default identity for rules without ``key`` (default: client IP).
        headers: send ``RateLimit-Policy`` / ``RateLimit`` on limited routes.
        legacy_headers: also send ``X-RateLimit-*``.
        timeout: seconds before a store failure policy applies (ignored with ``limiter``).

    Raises:
        ConfigError: a malformed rule or exempt pattern, or two rules with one name.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rules: Sequence[Rule] = (),
        default: str | Rule | None = None,
        exempt: Sequence[str] = (),
        storage: str | RedisClient | LimiterStore | limits.aio.storage.Storage = "memory://",
        limiter: RateLimiter | None = None,
        key: ClientIdentifier | None = None,
        headers: bool = True,
        legacy_headers: bool = False,
        timeout: float = 0.25,
    ) -> None:
        self.app = app
        self._owns = limiter is None
        self.limiter = limiter or RateLimiter(
            storage, key=key, legacy_headers=legacy_headers, timeout=timeout
        )
        if isinstance(default, str):
            default = Rule(name="default", limits=default)
        self.rules = tuple(rules)
        self.default = default
        names = [r.name for r in self.rules] + ([default.name] if default else [])
        if len(set(names)) != len(names):
            raise ConfigError("rules", f"rule names must be unique, got {names}")
        for rule in (*self.rules, *([default] if default else [])):
            self.limiter.plan(rule)  # build keys and header bytes now, not on a request
        self.headers = headers
        self._exact = frozenset(p for p in exempt if "*" not in p)
        prefixes = [p.rstrip("*") for p in exempt if "*" in p]
        for p in exempt:
            if not p.startswith("/"):
                raise ConfigError("exempt", f"path {p!r} must start with '/'")
        self._prefix = re.compile("|".join(re.escape(p) for p in prefixes)) if prefixes else None

    def rule_for(self, path: str, method: str) -> Rule | None:
        """The rule deciding a request for ``path`` with ``method`` (None: not limited)."""
        for rule in self.rules:
            if rule.matches(path, method):
                return rule
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self._owns:
                await self.app(scope, receive, self._closing(send))
                return
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in self._exact or (self._prefix is not None and self._prefix.match(path)):
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = self.limiter
        rule = self.rule_for(path, scope["method"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.check(rule, scope)
        if not decision.allowed:
            await send_refusal(decision, self.limiter.headers(decision), send)
            return
        if not self.headers or rule.dry_run or not decision.reply:
            await self.app(scope, receive, send)
            return
        extra = self.limiter.headers(decision)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _closing(self, send: Send) -> Send:
        """Close the limiter's own connections when the app has shut down."""

        async def send_closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.limiter.aclose()
            await send(message)

        return send_closing
