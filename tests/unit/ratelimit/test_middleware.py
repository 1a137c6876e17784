"""Middleware, decorator and identity on the memory store (no network)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mediz_infra.errors import ConfigError
from mediz_infra.ratelimit import (
    MemoryStore,
    RateLimiter,
    RateLimitExceeded,
    RateLimitMiddleware,
    Rule,
    by_api_key,
    by_ip,
    by_user,
    composite,
    rate_limit,
)
from tests.unit.ratelimit._asgi import call, ok_app

PROXY = "10.0.0.5"


def _xff(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", value.encode())]


async def test_forged_forwarded_for_from_untrusted_client_is_ignored() -> None:
    mw = RateLimitMiddleware(ok_app, default="2/minute", key=by_ip(trusted_proxies=["10.0.0.0/8"]))
    statuses = [(await call(mw, headers=_xff(f"198.51.100.{n}")))[0] for n in range(4)]
    assert statuses == [200, 200, 429, 429]  # one client, however it spells its header


async def test_forwarded_for_from_trusted_proxy_is_the_client() -> None:
    mw = RateLimitMiddleware(ok_app, default="1/minute", key=by_ip(trusted_proxies=["10.0.0.0/8"]))
    first = await call(mw, client=PROXY, headers=_xff("198.51.100.1"))
    second = await call(mw, client=PROXY, headers=_xff("198.51.100.2"))
    again = await call(mw, client=PROXY, headers=_xff("198.51.100.1"))
    assert (first[0], second[0], again[0]) == (200, 200, 429)
    # a client prepending a forged entry stays itself: the proxy appended the real one
    forged = await call(mw, client=PROXY, headers=_xff("192.0.2.99, 198.51.100.1"))
    assert forged[0] == 429


def test_ip_identity_details() -> None:
    ident = by_ip(trusted_proxies=["10.0.0.0/8", "2001:db8:ffff::/48"], header="forwarded")
    scope = {
        "client": (PROXY, 1),
        "headers": [(b"forwarded", b'for="[2001:db8::1]:4711", for=10.0.0.9')],
    }
    assert ident(scope) == "ip:2001:db8::/64"  # skips the trusted hop, groups the /64
    assert by_ip()({"client": ("::ffff:192.0.2.1", 1), "headers": []}) == "ip:192.0.2.1"
    assert by_ip()({"client": None, "headers": []}) is None
    garbage = by_ip(["10.0.0.0/8"])({"client": (PROXY, 1), "headers": _xff("nonsense")})
    assert garbage == "ip:" + PROXY


def test_user_key_and_composite_identity() -> None:
    class User:
        is_authenticated = True
        identity = "u42"

    scope = {"client": ("192.0.2.1", 1), "headers": [(b"x-api-key", b"s3cret")], "user": User()}
    assert by_user()(scope) == "user:u42"
    assert by_user()({**scope, "user": None}) == "ip:192.0.2.1"  # anonymous: per IP
    assert by_user(header="x-user")({**scope, "headers": [(b"x-user", b"7")]}) == "user:7"
    key = by_api_key()(scope)
    assert key is not None and key.startswith("key:") and "s3cret" not in key
    assert composite(by_api_key(), by_ip())(scope) == f"{key}|ip:192.0.2.1"


async def test_exempt_and_non_http_scopes_pass_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(str(scope["type"]))
        if scope["type"] == "http":
            await ok_app(scope, receive, send)

    mw = RateLimitMiddleware(app, default="1/minute", exempt=["/health", "/static/*"])
    for _ in range(3):
        status, headers, _ = await call(mw, "/health")
        assert status == 200 and "ratelimit" not in headers
        assert (await call(mw, "/static/app.js"))[0] == 200
    await mw({"type": "websocket", "path": "/ws"}, None, None)  # type: ignore[arg-type]
    assert seen.count("websocket") == 1


async def test_429_is_problem_json_with_retry_after_and_headers() -> None:
    mw = RateLimitMiddleware(
        ok_app, rules=[Rule("chat", "2/minute;10/day", paths=["/api/chat"])], legacy_headers=True
    )
    status, headers, _ = await call(mw, "/api/chat")
    assert status == 200
    assert headers["ratelimit-policy"] == '"chat-60s";q=2;w=60, "chat-86400s";q=10;w=86400'
    assert headers["ratelimit"].startswith('"chat-60s";r=1;t=')
    assert headers["x-ratelimit-limit"] == "2" and headers["x-ratelimit-remaining"] == "1"
    await call(mw, "/api/chat")
    status, headers, body = await call(mw, "/api/chat")
    assert status == 429 and headers["content-type"] == "application/problem+json"
    assert int(headers["retry-after"]) >= 1
    problem = json.loads(body)
    assert problem["status"] == 429 and problem["rule"] == "chat"
    assert (await call(mw, "/elsewhere"))[0] == 200  # no rule, no default


async def test_cost_and_methods() -> None:
    rule = Rule("upload", "10/minute", methods=["POST"], cost=lambda scope: 4)
    mw = RateLimitMiddleware(ok_app, rules=[rule])
    assert [(await call(mw, method="POST"))[0] for _ in range(3)] == [200, 200, 429]
    assert (await call(mw, method="GET"))[0] == 200


async def test_dry_run_limits_nothing_but_counts(caplog: pytest.LogCaptureFixture) -> None:
    mw = RateLimitMiddleware(ok_app, rules=[Rule("new", "1/minute", dry_run=True)])
    with caplog.at_level(logging.INFO, "mediz_infra.ratelimit"):
        results = [await call(mw) for _ in range(3)]
    assert [r[0] for r in results] == [200, 200, 200]
    assert all("ratelimit" not in r[1] for r in results)
    # two would-be refusals, one log line: dry-run logging is throttled per rule like errors
    assert sum("would limit" in r.message for r in caplog.records) == 1


async def test_dry_run_log_reports_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]  # the throttle's clock: no sleeping, no race with a busy machine
    limiter = RateLimiter("memory://", log_every=10, clock=lambda: now[0])
    mw = RateLimitMiddleware(
        ok_app, rules=[Rule("quiet", "1/minute", dry_run=True)], limiter=limiter
    )
    with caplog.at_level(logging.INFO, "mediz_infra.ratelimit"):
        for _ in range(4):  # one allowed, three would-be refusals: one line, two held back
            await call(mw)
        now[0] += 9
        await call(mw)  # still inside the period: held back too
        now[0] += 1
        await call(mw)
    lines = [r.getMessage() for r in caplog.records if "would limit" in r.getMessage()]
    assert len(lines) == 2
    assert "(3 more since the last message)" in lines[1]


async def test_decorator_group_shares_and_uses_middleware_limiter() -> None:
    @rate_limit("2/minute", group="uploads")
    async def one(request: Request) -> JSONResponse:
        return JSONResponse({"one": True})

    @rate_limit("2/minute", group="uploads")
    async def two(request: Request) -> JSONResponse:
        return JSONResponse({"two": True})

    app = RateLimitMiddleware(Starlette(routes=[Route("/one", one), Route("/two", two)]))
    assert [(await call(app, p))[0] for p in ("/one", "/two", "/one")] == [200, 200, 429]
    status, headers, _ = await call(app, "/two")
    assert status == 429 and int(headers["retry-after"]) >= 1


def test_same_named_endpoints_of_two_modules_are_refused_without_a_group() -> None:
    """They would silently share one budget: the second decoration says so and how to fix it."""

    async def chat(request: Request) -> JSONResponse:
        return JSONResponse({})

    async def other_chat(request: Request) -> JSONResponse:
        return JSONResponse({})

    other_chat.__qualname__ = chat.__qualname__
    other_chat.__module__ = "another.module"
    rate_limit("5/minute")(chat)
    rate_limit("5/minute")(chat)  # the same endpoint again (a reload) is fine
    with pytest.raises(ConfigError, match="group="):
        rate_limit("5/minute")(other_chat)
    shared = rate_limit("5/minute", group="chat")(other_chat)
    assert shared.rule.name == "chat"  # type: ignore[attr-defined]


async def test_windows_roll_on_the_memory_clock() -> None:
    now = [1000.0]
    client = MemoryStore(clock=lambda: now[0])
    for strategy in ("fixed-window", "moving-window", "sliding-window-counter", "gcra"):
        rule = Rule(f"roll-{strategy}", "2/minute", strategy=strategy)  # type: ignore[arg-type]
        mw = RateLimitMiddleware(ok_app, rules=[rule], storage=client)
        assert [(await call(mw))[0] for _ in range(2)] == [200, 200]
        status, headers, _ = await call(mw)
        assert status == 429
        wait = int(headers["retry-after"])
        assert 1 <= wait <= 120
        now[0] += wait - 0.5 if wait > 1 else 0
        if wait > 1:
            assert (await call(mw))[0] == 429  # not before the advertised time
        now[0] += 1.0
        status, headers, _ = await call(mw)
        assert status == 200, strategy
        now[0] += 300


async def test_gcra_is_exact_at_a_billion_a_minute_on_a_frozen_clock() -> None:
    store = MemoryStore(clock=lambda: 1_765_000_000.0)  # now, as floats go: ulp 0.25 µs
    limiter = RateLimiter(store)
    rule = Rule("fast", "1000000000/minute")
    decisions = [await limiter.hit(rule, "c") for _ in range(1000)]
    assert decisions[-1].states[0].remaining == 1_000_000_000 - 1000
    assert decisions[-1].states[0].reset == 0.001  # 1000 x 60 ns = 60 µs, rounded up to 1 ms


async def test_acquire_waits_boundedly() -> None:
    now = [0.0]
    limiter = RateLimiter(MemoryStore(clock=lambda: now[0]))
    assert (await limiter.acquire("2/hour", "hooks")).allowed
    assert (await limiter.acquire("2/hour", "hooks")).allowed
    with pytest.raises(RateLimitExceeded, match="'acquire'"):
        await limiter.acquire("2/hour", "hooks", max_wait=0.05)
    real = RateLimiter("memory://")
    await real.acquire("20/second", "fast", cost=20)
    decision = await real.acquire("20/second", "fast", max_wait=2.0)  # waits ~50 ms
    assert decision.allowed


class _ZeroRetryStore:
    """Always refuses and says "retry in 0 ms", as a store that lost a race can."""

    def __init__(self) -> None:
        self.calls = 0

    async def decide(self, keys: object, args: object) -> list[int]:
        self.calls += 1
        return [0, 0, 0, 0]

    async def aclose(self) -> None:
        return None


async def test_acquire_never_spins_on_a_zero_retry_time() -> None:
    store = _ZeroRetryStore()
    limiter = RateLimiter(store)
    with pytest.raises(RateLimitExceeded):
        await limiter.acquire("2/hour", "hooks", max_wait=0.03)
    assert 1 <= store.calls <= 31  # one try per ms at most, not a busy loop


class _SlowStore:
    """Answers after ``delay`` seconds (a stalled store when long); ``entered`` when asked."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.entered = asyncio.Event()

    async def decide(self, keys: object, args: object) -> list[int]:
        self.entered.set()
        await asyncio.sleep(self.delay)
        return [1, 0, 0, 0]

    async def aclose(self) -> None:
        return None


async def test_timeout_applies_the_policy_and_outside_cancellation_propagates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RateLimiter(_SlowStore(30), timeout=0.05)
    rule = Rule("slow", "1/second", on_backend_error="closed")
    with caplog.at_level(logging.WARNING, logger="mediz_infra.ratelimit"):
        decision = await asyncio.wait_for(limiter.hit(rule, "x"), 5)
    assert not decision.allowed and isinstance(decision.error, TimeoutError)
    # the line says what happened (it once read "store failed (TimeoutError: )")
    assert "store failed (no answer within 0.05 s); failing closed" in caplog.text
    assert (await limiter.hit(Rule("slow-open", "1/second"), "x")).allowed

    # the caller's own cancellation, while the store is being asked, is not mistaken for a
    # timeout (a long timeout: only the caller's cancel can end this call)
    patient = RateLimiter(store := _SlowStore(30), timeout=60)
    task = asyncio.create_task(patient.hit(rule, "y"))
    await asyncio.wait_for(store.entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    fast = RateLimiter(_SlowStore(0), timeout=0.05)
    assert (await fast.hit(rule, "z")).error is None


class _CleanupStore:
    """Stalls; when cancelled, cleans up until ``cleaned`` is set (redis-py closes its
    connection), so a second cancel can arrive during the clean-up, whatever the machine's load.
    """

    def __init__(self) -> None:
        self.cleaning = asyncio.Event()
        self.cleaned = asyncio.Event()

    async def decide(self, keys: object, args: object) -> list[int]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cleaning.set()
            await self.cleaned.wait()
            raise
        return [1, 0, 0, 0]

    async def aclose(self) -> None:
        return None


async def test_outside_cancellation_during_a_timeout_is_not_swallowed() -> None:
    store = _CleanupStore()
    limiter = RateLimiter(store, timeout=0.05)
    task = asyncio.create_task(limiter.hit(Rule("slow", "1/second"), "x"))
    await asyncio.wait_for(store.cleaning.wait(), 5)  # the deadline fired
    task.cancel()  # and the request is cancelled too (client gone, server shutting down)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
