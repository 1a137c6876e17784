"""The rate limiter on real Redis: exact across processes, scripts survive, outages declared."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.ratelimit import RateLimiter, RateLimitMiddleware, Rule
from tests._servers import RedisServer, free_port
from tests.unit.ratelimit._asgi import call, ok_app

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from mediz_infra.ratelimit import RateLimiter, RateLimitMiddleware, Rule
    from tests.unit.ratelimit._asgi import call, ok_app

    url, prefix, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    RULES = [
        Rule("moving", "100/minute", strategy="moving-window"),
        Rule("fixed", "100/minute", strategy="fixed-window"),
        Rule("gcra", "100/hour", strategy="gcra"),
    ]

    async def main():
        limiter = RateLimiter(url, prefix=prefix, timeout=30.0)
        await limiter.store.client.ping()  # connect before the start line
        admitted = {}
        while time.time() < start_at:
            await asyncio.sleep(0.005)
        for rule in RULES:
            mw = RateLimitMiddleware(ok_app, rules=[rule], limiter=limiter)
            results = await asyncio.gather(*(call(mw) for _ in range(250)))
            admitted[rule.name] = sum(r[0] == 200 for r in results)
            assert all(r[0] in (200, 429) for r in results), [r[0] for r in results]
        await limiter.aclose()
        print(json.dumps(admitted))

    asyncio.run(main())
    """
)


def test_four_processes_admit_exactly_the_limit(redis_url: str) -> None:
    prefix = f"exact-{uuid.uuid4().hex[:8]}"
    start_at = time.time() + 3.0
    env = {**os.environ, "PYTHONPATH": ROOT}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_url, prefix, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(4)
    ]
    totals = {"moving": 0, "fixed": 0, "gcra": 0}
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        for name, admitted in json.loads(out).items():
            totals[name] += admitted
    assert totals == {"moving": 100, "fixed": 100, "gcra": 100}


@pytest.fixture
async def redis_limiter(redis_url: str) -> AsyncIterator[RateLimiter]:
    client = create_redis(redis_url)
    try:
        yield RateLimiter(client, prefix=f"t-{uuid.uuid4().hex[:8]}", timeout=2.0)
    finally:
        await client.aclose()


async def test_script_flush_mid_run_recovers(redis_limiter: RateLimiter) -> None:
    rule = Rule("flush", "5/hour", strategy="moving-window")
    client = redis_limiter.store.client  # type: ignore[attr-defined]
    assert (await redis_limiter.hit(rule, "x")).allowed
    await client.script_flush()
    decisions = [await redis_limiter.hit(rule, "x") for _ in range(5)]
    assert [d.allowed for d in decisions] == [True] * 4 + [False]
    assert all(d.error is None for d in decisions)


async def test_one_round_trip_per_decision(redis_limiter: RateLimiter) -> None:
    client = redis_limiter.store.client  # type: ignore[attr-defined]
    rule = Rule("trips", "20/minute;200/day;1000/month")
    await redis_limiter.hit(rule, "warm")
    calls: list[str] = []
    original = client.execute_command

    async def counting(*args: object, **kwargs: object) -> object:
        calls.append(str(args[0]))
        return await original(*args, **kwargs)

    client.execute_command = counting
    try:
        await redis_limiter.hit(rule, "warm")
    finally:
        del client.execute_command
    assert calls == ["EVALSHA"]


@contextlib.asynccontextmanager
async def _silent_server() -> AsyncIterator[int]:
    """Accepts connections and never answers: a stalled Redis."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def _app(url: str, timeout: float) -> RateLimitMiddleware:
    return RateLimitMiddleware(
        ok_app,
        rules=[
            Rule("closed", "5/minute", paths=["/closed"], on_backend_error="closed"),
            Rule("open", "5/minute", paths=["/open"]),
        ],
        storage=url,
        timeout=timeout,
    )


async def _assert_policy(mw: RateLimitMiddleware, timeout: float) -> None:
    for path, expected in (("/open", 200), ("/closed", 503)):
        began = time.monotonic()
        status, headers, body = await call(mw, path)
        elapsed = time.monotonic() - began
        assert status == expected
        assert elapsed < timeout + 1.0, f"{path} hung {elapsed:.2f} s past a {timeout} s timeout"
        if status == 503:
            assert headers["retry-after"] == "1"
            assert json.loads(body)["rule"] == "closed"


async def test_dead_port_applies_declared_policy() -> None:
    mw = _app(f"redis://127.0.0.1:{free_port()}/0", 0.3)
    try:
        await _assert_policy(mw, 0.3)
    finally:
        await mw.limiter.aclose()


async def test_dead_cluster_applies_declared_policy() -> None:
    # redis-py raises RedisClusterException (not a RedisError) when no startup node answers
    mw = _app(f"redis+cluster://127.0.0.1:{free_port()}", 0.3)
    try:
        await _assert_policy(mw, 0.3)
    finally:
        await mw.limiter.aclose()


async def test_stalled_server_does_not_hang_past_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with _silent_server() as port:
        mw = _app(f"redis://127.0.0.1:{port}/0?socket_timeout=30", 0.3)
        try:
            with caplog.at_level("WARNING", logger="mediz_infra.ratelimit"):
                await _assert_policy(mw, 0.3)
        finally:
            await mw.limiter.aclose()
    lines = [r.getMessage() for r in caplog.records if "store failed" in r.getMessage()]
    assert lines and all("(no answer within 0.3 s)" in line for line in lines), lines


async def test_killed_redis_applies_policy_then_recovers(throwaway_redis: RedisServer) -> None:
    mw = _app(throwaway_redis.url, 0.5)
    try:
        assert (await call(mw, "/closed"))[0] == 200
        await asyncio.to_thread(throwaway_redis.stop)
        await _assert_policy(mw, 0.5)
        await asyncio.to_thread(throwaway_redis.start)  # a restart: empty script cache
        deadline = time.monotonic() + 10
        while (await call(mw, "/closed"))[0] != 200:
            assert time.monotonic() < deadline, "never recovered after the restart"
            await asyncio.sleep(0.05)
    finally:
        await mw.limiter.aclose()


async def test_one_node_cluster_runs_the_script_on_one_slot() -> None:
    """Redis Cluster refuses a script whose keys span slots (CROSSSLOT), even on one node."""
    import tempfile

    import redis.asyncio

    config = os.path.join(tempfile.mkdtemp(prefix="mediz-cluster-"), "nodes.conf")
    server = RedisServer(extra=("--cluster-enabled", "yes", "--cluster-config-file", config))
    await asyncio.to_thread(server.start)
    try:
        admin = redis.asyncio.Redis(port=server.port)
        await admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        deadline = time.monotonic() + 10
        while b"cluster_state:ok" not in await admin.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "the one-node cluster never became ok"
            await asyncio.sleep(0.05)
        await admin.aclose()
        limiter = RateLimiter(f"redis+cluster://127.0.0.1:{server.port}", timeout=5.0)
        rule = Rule("cluster", "3/minute;10/hour;100/day", strategy="moving-window")
        decisions = [await limiter.hit(rule, "ip:192.0.2.1") for _ in range(4)]
        assert all(d.error is None for d in decisions), [d.error for d in decisions]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        await limiter.store.client.script_flush()  # type: ignore[attr-defined]
        after = await limiter.hit(Rule("cluster-g", "1/minute"), "x")
        assert after.error is None and after.allowed
        await limiter.aclose()
    finally:
        await asyncio.to_thread(server.stop)


async def test_refused_store_decides_by_policy_at_once_then_redis_again(
    throwaway_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """After the first failure no decision touches the store; a probe notices the restart."""
    client = create_redis(throwaway_redis.url)  # the app's client: retries, 5 s timeouts
    limiter = RateLimiter(client, prefix=f"o-{uuid.uuid4().hex[:8]}", timeout=0.25, log_every=0)
    closed = Rule("closed", "100/minute", on_backend_error="closed")
    open_ = Rule("open", "100/minute")
    attempts = 0
    decide = limiter.store.decide  # type: ignore[attr-defined]

    async def counting(*args: object) -> list[int]:
        nonlocal attempts
        attempts += 1
        return await decide(*args)  # type: ignore[no-any-return]

    limiter.store.decide = counting  # type: ignore[method-assign]
    try:
        assert (await limiter.hit(closed, "x")).error is None
        await asyncio.to_thread(throwaway_redis.stop)
        with caplog.at_level("WARNING", logger="mediz_infra.ratelimit"):
            # the first decision meets the refusal, possibly while redis-py retries it until
            # the deadline (then it knows only "no answer"); the probe asks at once and knows
            first = await limiter.hit(closed, "x")
            assert not first.allowed and first.error is not None
            assert limiter.outage.down()
            deadline = time.monotonic() + 5
            while limiter.outage.kind != "refused":
                assert time.monotonic() < deadline, f"still {limiter.outage.kind!r}"
                await asyncio.sleep(0.01)
            caplog.clear()
            before = attempts
            later = [await limiter.hit(rule, "x") for rule in (closed, open_) * 10]
        assert attempts == before, "a decision asked the store during the outage"
        assert [d.allowed for d in later] == [False, True] * 10
        assert all(d.error is not None for d in later)
        lines = [r.getMessage() for r in caplog.records if "store failed" in r.getMessage()]
        assert len(lines) == 20
        assert all("(connection refused)" in line for line in lines), lines

        await asyncio.to_thread(throwaway_redis.start)  # same port, empty script cache
        deadline = time.monotonic() + 10
        while limiter.outage.down():  # the probe, not a caller, sees it back
            assert time.monotonic() < deadline, "the probe never saw Redis back"
            await asyncio.sleep(0.01)
        before = attempts
        back = await limiter.hit(closed, "x")
        assert back.allowed and back.error is None
        assert attempts == before + 1
    finally:
        await limiter.aclose()
        await client.aclose()
    assert not limiter.outage.probing


@pytest.mark.parametrize(("expired", "live"), [(0, 5), (1, 5), (37, 13), (50, 0), (1, 0), (300, 1)])
async def test_moving_window_trims_exactly_the_expired_prefix(
    redis_limiter: RateLimiter, expired: int, live: int
) -> None:
    """The log is a list, oldest first: whatever prefix expired is dropped, nothing else."""
    client = redis_limiter.store.client  # type: ignore[attr-defined]
    rule = Rule("trim", "1000/minute", strategy="moving-window")
    plan = redis_limiter.plan(rule)
    key = plan.head + "c" + plan.suffixes[0]
    seconds, micros = await client.time()
    now = seconds * 1_000_000 + micros
    old = [now - 60_000_000 - 1000 * (expired - n) for n in range(expired)]  # oldest first
    young = [now - 30_000_000 + 1000 * n for n in range(live)]
    await client.rpush(key, *old, *young)
    decision = await redis_limiter.hit(rule, "c")
    assert decision.allowed and decision.states[0].remaining == 1000 - live - 1
    assert await client.llen(key) == live + 1
    assert [int(x) for x in await client.lrange(key, 0, -1)][:live] == young
    if live:  # the oldest live hit frees a unit 30 s from now
        assert 29 < decision.states[0].reset <= 30
