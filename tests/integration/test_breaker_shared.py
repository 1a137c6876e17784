"""The Redis-shared circuit breaker across two OS processes, and with Redis taken away."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mediz_infra.resilience import CircuitBreaker, CircuitOpen, CountWindow
from tests._servers import RedisServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    """A breaker in another process, driven line by line."""

    def __init__(self, url: str, name: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration._breaker_worker", url, name],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.read() == "ready"

    def read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def ask(self, command: str) -> str:
        self.send(command)
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send("quit")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def name() -> str:
    return f"upstream-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pair(redis_url: str, name: str) -> Iterator[tuple[Worker, Worker]]:
    a = Worker(redis_url, name)
    b = Worker(redis_url, name)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def until(check: object, deadline: float) -> float:
    """Poll ``check()`` until it is true; the seconds it took (fails past ``deadline``)."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - start > deadline:
            raise AssertionError(f"not true within {deadline} s")
        time.sleep(0.01)
    return time.monotonic() - start


def test_one_process_opens_it_the_other_refuses_then_trials_close_it(
    pair: tuple[Worker, Worker],
) -> None:
    a, b = pair
    # with the first call (ok), 2 of 3 failed: A opens
    assert [a.ask("fail") for _ in range(2)] == ["failed"] * 2
    assert a.ask("state") == "open"
    assert a.ask("ok") == "refused"
    # B made no failing call at all, yet refuses within a second (pub/sub, not polling)
    until(lambda: b.ask("ok") == "refused", deadline=1.0)
    assert b.ask("state") == "open"
    # after open_for, the two trial calls may come from either process; both succeed: closed
    until(lambda: b.ask("ok") == "ok", deadline=5.0)
    assert a.ask("ok") == "ok"
    until(lambda: a.ask("state") == "closed" and b.ask("state") == "closed", deadline=1.0)


def test_half_open_admits_exactly_the_trials_across_processes(
    pair: tuple[Worker, Worker],
) -> None:
    a, b = pair
    for _ in range(2):
        a.ask("fail")
    until(lambda: b.ask("state") == "open", deadline=1.0)
    time.sleep(0.6)  # open_for (0.5 s) passes: the next calls are trials
    a.send("burst 25")
    b.send("burst 25")
    assert int(a.read()) + int(b.read()) == 2


def test_a_failed_trial_reopens_it_everywhere(pair: tuple[Worker, Worker]) -> None:
    a, b = pair
    for _ in range(2):
        a.ask("fail")
    until(lambda: b.ask("state") == "open", deadline=1.0)
    until(lambda: b.ask("fail") == "failed", deadline=5.0)  # B's trial fails
    assert b.ask("state") == "open"
    until(lambda: a.ask("state") == "open" and a.ask("ok") == "refused", deadline=1.0)


async def test_redis_away_falls_back_to_local_state_and_counts_it(
    throwaway_redis: RedisServer,
) -> None:
    breaker = CircuitBreaker(
        "away",
        storage=throwaway_redis.url,
        window=CountWindow(2),
        minimum_calls=2,
        failure_rate=1.0,
        open_for=60,
    )
    calls = 0

    async def ok() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    async def fail() -> None:
        raise ConnectionRefusedError

    try:
        assert await breaker.call(ok) == "ok"
        assert breaker.shared is not None
        await asyncio.to_thread(throwaway_redis.stop)
        for _ in range(20):  # no call fails because Redis is gone
            assert await breaker.call(ok) == "ok"
        for _ in range(2):
            with pytest.raises(ConnectionRefusedError):
                await breaker.call(fail)
        assert breaker.state == "open"  # judged locally, announced in vain
        with pytest.raises(CircuitOpen):
            await breaker.call(ok)
        deadline = time.monotonic() + 5
        while breaker.shared.fallbacks == 0:  # the announcement failed in the background
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert breaker.shared.down()
        assert calls == 21
    finally:
        await breaker.aclose()


async def test_a_local_open_during_the_outage_is_announced_when_redis_is_back(
    throwaway_redis: RedisServer,
) -> None:
    breaker = CircuitBreaker("back", storage=throwaway_redis.url, minimum_calls=2, open_for=60)
    raw = aioredis.Redis.from_url(throwaway_redis.url)

    async def ok() -> str:
        return "ok"

    async def fail() -> None:
        raise ConnectionRefusedError

    try:
        await breaker.call(ok)
        await asyncio.to_thread(throwaway_redis.stop)
        with pytest.raises(ConnectionRefusedError):
            await breaker.call(fail)  # 1 of 2 failed: open
        assert breaker.state == "open"
        await asyncio.to_thread(throwaway_redis.start)
        deadline = time.monotonic() + 10
        while await _shared_state(raw, "back") != b"open":
            assert time.monotonic() < deadline, "the local open was never announced"
            await asyncio.sleep(0.02)
    finally:
        await breaker.aclose()
        await raw.aclose()


async def _shared_state(raw: aioredis.Redis, name: str) -> bytes | None:
    try:
        value: bytes | None = await raw.hget(f"mediz:breaker:{{{name}}}", "s")
    except (ConnectionError, OSError, aioredis.RedisError):
        return None
    return value


async def test_a_success_costs_no_redis_round_trip(redis_url: str, name: str) -> None:
    breaker = CircuitBreaker(name, storage=redis_url)
    sent: list[str] = []

    async def ok() -> str:
        return "ok"

    try:
        await breaker.call(ok)  # the first call syncs
        assert breaker.shared is not None
        script = breaker.shared.script

        async def counting(keys: object, args: list[object]) -> object:
            sent.append(str(args[0]))
            return await script(keys, args)  # type: ignore[arg-type]

        breaker.shared.script = counting  # type: ignore[assignment]
        for _ in range(1000):
            await breaker.call(ok)
        assert sent == []
    finally:
        await breaker.aclose()
