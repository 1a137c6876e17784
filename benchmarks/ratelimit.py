"""The ``ratelimit`` benchmark: RateLimitMiddleware against slowapi, raw limits and raw Redis.

Everything runs on an in-process ASGI driver: the app is called directly with a minimal scope,
``receive`` and ``send`` (no sockets, no HTTP client), so what is measured is the limiter.

- **Per-request overhead** (µs, c=1) on the same Starlette route, limit never reached: the time
  of a request through the limiter minus the time of the same request to the bare app, measured
  in alternating batches of 200. Ours: ``RateLimitMiddleware(app, rules=[Rule(..., strategy=
  "fixed-window")])`` with headers on; slowapi 0.1.9: ``Limiter(key_func=get_remote_address,
  default_limits=[...], storage_uri=..., strategy="fixed-window")`` with its pure ASGI
  ``SlowAPIASGIMiddleware`` (its documented faster option; headers off, its default). On Redis
  a third column is the floor: the same bare request plus one raw ``redis.asyncio`` ``EVALSHA``
  of an equivalent one-key fixed-window script, made by a 3-line ASGI wrapper.
- **Decisions per second** at concurrency 1 and 50: ``RateLimiter.hit()`` (ours) against raw
  ``limits`` (``limits.aio`` ``FixedWindowRateLimiter.hit`` on ``MemoryStorage`` /
  ``RedisStorage``), one raw ``EVALSHA`` of the equivalent script, and ``PING``.
- **A decision while Redis refuses connections** (µs, c=1), after the first failure: the
  limiter is built on ``create_redis`` for a port nothing listens on, one decision meets the
  refusal (and the timeout), then every decision is made by the rule's ``on_backend_error``
  while the background probe keeps asking. No peer: the figure is checked against 1 ms.

Environment variable ``TEST_REDIS_URL`` overrides the Redis (default
``redis://127.0.0.1:6379/15``); keys live under ``bench-rl:`` and expire.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import limits
import limits.aio.storage
import limits.aio.strategies
import redis.asyncio
import redis.exceptions
from slowapi import Limiter, _rate_limit_exceeded_handler
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware
from slowapi.util import get_remote_address
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from benchmarks._runner import (
    MICROSECONDS,
    QUERIES_PER_SECOND,
    Benchmark,
    Case,
    Check,
    Contender,
    Group,
    Measure,
    Options,
    driven,
    event_loop,
    overhead,
    redis_version,
)
from mediz_infra.backends.redis import create_redis
from mediz_infra.ratelimit import RateLimiter, RateLimitMiddleware, Rule, Strategy

__all__ = ["BENCHMARK"]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NEVER = "1000000000/hour"  # the limit is never reached: every request is allowed
# The other strategies, each against the same one-key floor (the cheapest exact Redis limiter).
OTHER_STRATEGIES: tuple[Strategy, ...] = ("moving-window", "sliding-window-counter", "gcra")
OURS = "mediz-infra"
FLOOR = "EVALSHA floor"

# The equivalent one-key script: a fixed-window count, its expiry, and the verdict.
FIXED_WINDOW_LUA = """
local c = redis.call('INCRBY', KEYS[1], ARGV[1])
if c == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {c <= tonumber(ARGV[3]) and 1 or 0, c, redis.call('PTTL', KEYS[1])}
"""

_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/r",
    "raw_path": b"/r",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"bench"), (b"user-agent", b"bench")],
    "client": ("192.0.2.10", 50000),
    "server": ("bench", 80),
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


def _request(app: Callable[..., Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    def one() -> Awaitable[None]:
        return app(dict(_SCOPE), _receive, _send)

    return one


async def _endpoint(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _bare() -> Starlette:
    return Starlette(routes=[Route("/r", _endpoint)])


def _slowapi(storage: str) -> Starlette:
    limiter = Limiter(
        key_func=get_remote_address,
        default_limits=[NEVER],
        storage_uri=storage,
        strategy="fixed-window",
        key_prefix="bench-rl-slowapi",
    )
    app = Starlette(routes=[Route("/r", _endpoint)], middleware=[Middleware(SlowAPIASGIMiddleware)])
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]
    return app


def _ours(app: Starlette, storage: Any, strategy: Strategy = "fixed-window") -> RateLimitMiddleware:
    rule = Rule("bench", NEVER, paths=["/r"], strategy=strategy)
    return RateLimitMiddleware(app, rules=[rule], storage=storage, timeout=5.0)


async def _floor_call(client: redis.asyncio.Redis, sha: str, key: str) -> Any:
    """One EVALSHA; after a ``SCRIPT FLUSH`` (tests on the same server run them), the script
    is loaded again, as our store does."""
    try:
        return await client.evalsha(sha, 1, key, 1, 3_600_000, 10**9)
    except redis.exceptions.NoScriptError:
        await client.script_load(FIXED_WINDOW_LUA)
        return await client.evalsha(sha, 1, key, 1, 3_600_000, 10**9)


def _evalsha_wrapper(app: Starlette, client: redis.asyncio.Redis, sha: str) -> Any:
    async def floor(scope: Any, receive: Any, send: Any) -> None:
        await _floor_call(client, sha, "bench-rl:floor:{ip:192.0.2.10}")
        await app(scope, receive, send)

    return floor


def _overhead(limited: Any, bare: Any) -> Measure:
    """Per-request time through ``limited`` minus through ``bare``, in alternating batches."""
    through, plain = _request(limited), _request(bare)
    return overhead(through, plain)


@contextlib.asynccontextmanager
async def _memory(options: Options) -> AsyncIterator[Sequence[Case]]:
    bare = _bare()
    ours = _ours(bare, "memory://")
    limiter = RateLimiter("memory://")
    rule = Rule("bench", NEVER, strategy="fixed-window")
    raw = limits.aio.strategies.FixedWindowRateLimiter(limits.aio.storage.MemoryStorage())
    item = limits.parse(NEVER)
    cases: list[Case] = [
        Case(
            "memory/overhead",
            {"storage": "memory", "measure": "per-request overhead", "c": "1"},
            MICROSECONDS,
            [
                Contender(OURS, _overhead(ours, bare), ours=True),
                Contender("slowapi", _overhead(_slowapi("memory://"), bare)),
            ],
        )
    ]
    for c in (1, 50):
        cases.append(
            Case(
                f"memory/decisions/c{c}",
                {"storage": "memory", "measure": "decisions", "c": str(c)},
                QUERIES_PER_SECOND,
                [
                    Contender(OURS, driven(lambda: limiter.hit(rule, "k"), c), ours=True),
                    Contender("limits", driven(lambda: raw.hit(item, "k"), c)),
                ],
            )
        )
    yield cases


@contextlib.asynccontextmanager
async def _redis(options: Options) -> AsyncIterator[Sequence[Case]]:
    ours_client = create_redis(REDIS_URL)
    raw_client = redis.asyncio.Redis.from_url(REDIS_URL)
    limits_storage = limits.aio.storage.RedisStorage("async+" + REDIS_URL, implementation="redispy")
    try:
        sha = await raw_client.script_load(FIXED_WINDOW_LUA)
        bare = _bare()
        ours = _ours(bare, ours_client)
        limiter = RateLimiter(ours_client, timeout=5.0, prefix="bench-rl")
        rule = Rule("bench", NEVER, strategy="fixed-window")
        raw = limits.aio.strategies.FixedWindowRateLimiter(limits_storage)
        item = limits.parse(NEVER)

        def evalsha() -> Awaitable[Any]:
            return _floor_call(raw_client, sha, "bench-rl:floor:{k}")

        cases: list[Case] = [
            Case(
                "redis/overhead",
                {"storage": "redis", "measure": "per-request overhead", "c": "1"},
                MICROSECONDS,
                [
                    Contender(OURS, _overhead(ours, bare), ours=True),
                    Contender(FLOOR, _overhead(_evalsha_wrapper(bare, raw_client, sha), bare)),
                    Contender("slowapi", _overhead(_slowapi(REDIS_URL), bare)),
                ],
            )
        ]
        floor_app = _evalsha_wrapper(bare, raw_client, sha)
        for strategy in OTHER_STRATEGIES:
            cases.append(
                Case(
                    f"redis/overhead/{strategy}",
                    {"storage": "redis", "measure": f"per-request overhead, {strategy}", "c": "1"},
                    MICROSECONDS,
                    [
                        Contender(
                            OURS, _overhead(_ours(bare, ours_client, strategy), bare), ours=True
                        ),
                        Contender(FLOOR, _overhead(floor_app, bare)),
                    ],
                )
            )
        for c in (1, 50):
            cases.append(
                Case(
                    f"redis/decisions/c{c}",
                    {"storage": "redis", "measure": "decisions", "c": str(c)},
                    QUERIES_PER_SECOND,
                    [
                        Contender(OURS, driven(lambda: limiter.hit(rule, "k"), c), ours=True),
                        Contender(FLOOR, driven(evalsha, c)),
                        Contender("limits", driven(lambda: raw.hit(item, "k"), c)),
                        Contender("PING", driven(raw_client.ping, c)),
                    ],
                )
            )
        yield cases
    finally:
        await ours_client.aclose()
        await raw_client.aclose()


def _dead_port() -> int:
    """A loopback port nothing listens on (bound and released: connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _refused(options: Options) -> AsyncIterator[Sequence[Case]]:
    client = create_redis(f"redis://127.0.0.1:{_dead_port()}/0")
    limiter = RateLimiter(client, prefix="bench-rl", timeout=0.25)
    rule = Rule("bench", NEVER, strategy="fixed-window")
    try:
        first = await limiter.hit(rule, "k")  # meets the refusal: the outage starts
        if first.error is None or not limiter.outage.down():
            raise RuntimeError("the dead port answered: pick another")
        yield [
            Case(
                "refused/decision",
                {"storage": "refusing", "measure": "decision after a failure", "c": "1"},
                MICROSECONDS,
                [Contender(OURS, driven(lambda: limiter.hit(rule, "k"), 1), ours=True)],
            )
        ]
    finally:
        await limiter.aclose()
        await client.aclose()


async def _environment() -> dict[str, str]:
    return {
        "Redis": f"{await redis_version(REDIS_URL)} (loopback TCP, {REDIS_URL})",
        "event loop": event_loop(),
    }


BENCHMARK = Benchmark(
    name="ratelimit",
    title="ratelimit: per-request overhead and decisions per second",
    groups=(Group("memory", _memory), Group("redis", _redis), Group("refused", _refused)),
    peers=("mediz-infra", "slowapi", "limits", "redis", "starlette"),
    checks=(
        Check(
            "overhead, memory: slowapi ÷ ours (goal: ours at most half)",
            ("memory/overhead", OURS),
            ("memory/overhead", "slowapi"),
            2.0,
        ),
        Check(
            "overhead, Redis: ours vs one raw EVALSHA (goal: at most 1.2x)",
            ("redis/overhead", OURS),
            ("redis/overhead", FLOOR),
            1 / 1.2,
        ),
        *(
            Check(
                f"overhead, Redis, {strategy}: ours vs one raw EVALSHA (goal: at most 1.2x)",
                (f"redis/overhead/{strategy}", OURS),
                (f"redis/overhead/{strategy}", FLOOR),
                1 / 1.2,
            )
            for strategy in OTHER_STRATEGIES
        ),
        Check(
            "decisions, Redis, c=1: ours vs raw EVALSHA (goal: at most 1.2x)",
            ("redis/decisions/c1", OURS),
            ("redis/decisions/c1", FLOOR),
            1 / 1.2,
        ),
        Check(
            "decisions, Redis, c=50: ours vs raw EVALSHA (goal: at most 1.2x)",
            ("redis/decisions/c50", OURS),
            ("redis/decisions/c50", FLOOR),
            1 / 1.2,
        ),
    ),
    environment=_environment,
    notes=(
        "Overhead = time of a request through the limiter minus the same request to the bare "
        "Starlette app (alternating batches of 200, in-process ASGI calls, limit never "
        "reached). Ours: `RateLimitMiddleware` with one fixed-window rule, IETF headers on. "
        "slowapi 0.1.9: `SlowAPIASGIMiddleware` + `default_limits`, fixed window, headers off "
        "(its defaults); on Redis it calls the synchronous redis client, blocking the loop. "
        "*EVALSHA floor*: one raw `redis.asyncio` EVALSHA of an equivalent one-key "
        "fixed-window script (INCRBY, PEXPIRE, PTTL) — the physical floor of any exact Redis "
        "limiter. Ours uses the pool from `create_redis`; the floor and PING a plain "
        "`redis.asyncio.Redis.from_url`. *limits*: `limits.aio` `FixedWindowRateLimiter.hit` "
        "(no stats; ours also returns remaining and reset)."
    ),
)
