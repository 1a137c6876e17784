"""A failed job's error text never carries a secret out of the worker: the log lines, what is
stored in Redis (the job, the failures list), the failure listeners' ``message``, ``JobFailed``
and the monitor's JSON all have the passwords of URLs quoted by the exception masked."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from mediz_infra.backends.redis import create_redis
from mediz_infra.queue import Backoff, JobFailed, JobFailure, Queue, Worker, monitor_routes

pytestmark = pytest.mark.integration

PG_SECRET = "pg-Secr3t-w0rd"
REDIS_SECRET = "rd-Secr3t-w0rd"
TOKEN_SECRET = "tk-Secr3t-w0rd"
SECRETS = (PG_SECRET, REDIS_SECRET, TOKEN_SECRET)
MESSAGE = (
    f"cannot reach postgresql://app:{PG_SECRET}@db.internal:5432/app nor "
    f"redis://:{REDIS_SECRET}@cache.internal:6379/0 (token={TOKEN_SECRET})"
)
ADMIN = "a" * 24


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.fixture
async def queue(redis_url: str) -> AsyncIterator[Queue]:
    client = create_redis(redis_url)
    queue = Queue(f"sec{uuid.uuid4().hex[:8]}", client, prefix="test")

    @queue.task(name="connect", retries=1, backoff=Backoff(base=0.0, cap=0.0))
    async def connect() -> None:
        raise ConnectionError(MESSAGE)

    yield queue
    async for key in client.scan_iter(match=f"test:{{{queue.name}}}*"):
        await client.delete(key)
    await client.aclose()


async def test_no_secret_in_logs_store_listeners_or_monitor(
    queue: Queue, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[JobFailure] = []
    queue.on_failure(seen.append)

    def broken(failure: JobFailure) -> None:  # a reporter quoting the error in its own
        raise RuntimeError(f"reporter down while sending {failure.error}")

    queue.on_failure(broken)
    job = await queue.tasks["connect"].enqueue(_job_id="leaky")
    with caplog.at_level(logging.DEBUG):
        stats = await Worker(queue).run_burst()
    assert stats.retried == 1 and stats.dead == 1

    # the log lines: the dead job's line and the broken listener's traceback, both masked
    dead_lines = [r.getMessage() for r in caplog.records if "is dead" in r.getMessage()]
    assert len(dead_lines) == 1 and "postgresql://app:***@db.internal" in dead_lines[0]
    assert any("failure listener" in r.getMessage() for r in caplog.records)
    assert leaks(caplog.text) == []
    assert all(r.exc_info is None for r in caplog.records)  # no raw traceback by the handler

    # what the listeners get to log; the exception itself is left as raised
    assert [f.final for f in seen] == [False, True]
    assert all(f.message.startswith("ConnectionError: cannot reach") for f in seen)
    assert all(leaks(f.message) == [] for f in seen)
    assert all(str(f.error) == MESSAGE for f in seen)

    # what is stored: the job's error and traceback, the failures list, every key of the queue
    info = await job.info()
    assert info is not None and info.error is not None and info.traceback is not None
    assert "redis://:***@cache.internal:6379/0" in info.error and "token=***" in info.error
    assert leaks(info.error + info.traceback) == []
    failures = await queue.broker.failures(10)
    assert [f.outcome for f in failures] == ["dead", "retry"]
    assert all(leaks(f.error) == [] for f in failures)
    raw = create_redis(redis_url)
    try:
        async for key in raw.scan_iter(match=f"test:{{{queue.name}}}*"):
            kind = await raw.type(key)
            if kind in (b"hash", "hash"):
                dump = repr(await raw.hgetall(key))
            elif kind in (b"list", "list"):
                dump = repr(await raw.lrange(key, 0, -1))
            elif kind in (b"string", "string"):
                dump = repr(await raw.get(key))
            else:
                dump = repr(await raw.dump(key))
            assert leaks(dump) == [], key
    finally:
        await raw.aclose()
    with pytest.raises(JobFailed) as failed:
        await job.result(timeout=1)
    assert leaks(str(failed.value) + failed.value.traceback) == []

    # the monitor's JSON
    app = Starlette(routes=monitor_routes([queue], token=ADMIN))
    auth = {"authorization": f"Bearer {ADMIN}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        overview = await http.get(f"/admin/queues/api/{queue.name}", headers=auth)
        one = await http.get(f"/admin/queues/api/{queue.name}/jobs/leaky", headers=auth)
    assert overview.status_code == one.status_code == 200
    assert "cache.internal" in overview.text and leaks(overview.text + one.text) == []
