"""The shared outage tracker with a probe the test answers by hand: no network, no timing.

Every check waits for an event (the probe being called, the tracker changing state), never for
a duration: the probe's period is a millisecond and each wait is bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from mediz_infra.backends import Outage, describe_failure


class ScriptedProbe:
    """A probe whose every call waits for the test's answer: an exception to raise, or None."""

    def __init__(self) -> None:
        self.calls = 0
        self.answers: asyncio.Queue[BaseException | None] = asyncio.Queue()

    async def __call__(self) -> None:
        self.calls += 1
        answer = await self.answers.get()
        if answer is not None:
            raise answer


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.001)


def refused() -> RedisConnectionError:
    """What redis-py raises for a refused connect: its own error, the socket's as context."""
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")
        except OSError as exc:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1.") from exc
    except RedisConnectionError as exc:
        return exc


async def test_down_at_once_then_up_only_when_the_probe_answers() -> None:
    probe = ScriptedProbe()
    counted: list[BaseException] = []
    outage = Outage("t", probe=probe, backoff=0.001, on_probe_failure=counted.append)
    try:
        assert not outage.until and not outage.down()
        outage.trip(refused(), "read")
        assert outage.down() and outage.probing
        assert (outage.kind, outage.reason) == ("refused", "connection refused")
        await until(lambda: probe.calls == 1)
        probe.answers.put_nowait(TimeoutError())
        await until(lambda: probe.calls == 2)  # the failed probe is followed by another
        assert outage.down() and outage.kind == "timeout"
        assert len(counted) == 1
        outage.trip(refused(), "read")  # a caller's failure meanwhile: still one probe task
        probe.answers.put_nowait(None)
        await until(lambda: not outage.probing)
        assert not outage.until and not outage.down()
        assert probe.calls == 2
    finally:
        await outage.aclose()


async def test_one_failure_line_per_interval_and_never_an_empty_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("mediz_infra.test_outage")
    outage = Outage("c", backoff=5.0, log_every=60.0, logger=logger, degraded="serving uncached")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for _ in range(5):
            outage.trip(TimeoutError(), "read")
    assert caplog.text.count("Redis failed") == 1
    assert "no answer within 0.25 s; serving uncached" in caplog.text
    outage.reset()
    assert not outage.down()


async def test_without_a_probe_the_back_off_lapses_and_the_next_caller_tries() -> None:
    outage = Outage("t", backoff=0.001)
    outage.trip(RedisConnectionError("reset"), "read")
    assert outage.down() and not outage.probing
    await until(lambda: not outage.down())
    assert outage.kind == "connection"


async def test_a_probe_task_that_died_lets_callers_try_and_restart_it() -> None:
    probe = ScriptedProbe()
    outage = Outage("t", probe=probe, backoff=0.001, timeout=0.001)
    try:
        outage.trip(refused(), "read")
        await until(lambda: probe.calls == 1)
        task = outage._task
        assert task is not None
        task.cancel()  # e.g. the loop shutting down under it
        await asyncio.gather(task, return_exceptions=True)
        assert not outage.probing
        await until(lambda: not outage.down())  # its lease lapses: a caller may try
        outage.trip(refused(), "read")  # and fails: a new probe starts
        assert outage.probing
        await until(lambda: probe.calls == 2)
        probe.answers.put_nowait(None)
        await until(lambda: not outage.down())
    finally:
        await outage.aclose()


async def test_close_cancels_and_awaits_the_probe_and_starts_no_other() -> None:
    probe = ScriptedProbe()
    outage = Outage("t", probe=probe, backoff=0.001)
    outage.trip(refused(), "read")
    await until(lambda: probe.calls == 1)
    task = outage._task
    await outage.aclose()
    assert task is not None and task.done()
    outage.trip(refused(), "read")
    assert not outage.probing and outage.down()  # closed: skipped for good, nothing started


def test_failures_are_described_by_kind_with_a_reason() -> None:
    assert describe_failure(refused(), 0.25) == ("refused", "connection refused")
    assert describe_failure(TimeoutError(), 0.25) == ("timeout", "no answer within 0.25 s")
    # a deadline that cut short redis-py's retries of a refused connect: the refusal counts
    try:
        try:
            raise refused()
        except RedisConnectionError:
            raise asyncio.CancelledError from None
    except asyncio.CancelledError as cancelled:
        cut = TimeoutError()
        cut.__context__ = cancelled
        cancelled.__context__ = refused()
    assert describe_failure(cut, 0.25)[0] == "refused"
    kind, reason = describe_failure(RedisConnectionError("Connection reset by peer"), 1)
    assert kind == "connection" and reason == "ConnectionError: Connection reset by peer"
    assert describe_failure(ValueError(), 1) == ("error", "ValueError: (no message)")


def test_without_redis_loaded_failures_are_still_classified() -> None:
    # the outage tracker loads redis-py only where Redis is used (the Postgres pool's replicas
    # use it too): in a fresh interpreter without redis-py, OS errors are classified as before
    code = (
        "import sys\n"
        "from mediz_infra.backends.outage import _backend_errors, describe_failure\n"
        "assert 'redis' not in sys.modules\n"
        "assert OSError in _backend_errors() and TimeoutError in _backend_errors()\n"
        "assert describe_failure(ConnectionRefusedError(111, 'x'), 1)[0] == 'refused'\n"
        "assert describe_failure(TimeoutError(), 2) == ('timeout', 'no answer within 2 s')\n"
        "assert describe_failure(ConnectionResetError('reset'), 1)[0] == 'connection'\n"
        "assert describe_failure(ValueError('bad'), 1) == ('error', 'ValueError: bad')\n"
        "assert 'redis' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
