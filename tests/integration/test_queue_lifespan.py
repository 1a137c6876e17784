"""``mediz-infra worker`` runs the queue's lifespan in a real process: the startup once before
the first job, the shutdown once on SIGTERM after the running job ended."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.queue import Queue

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def start_worker(
    url: str, name: str, *extra: str, fail: str = ""
) -> asyncio.subprocess.Process:
    env = {**os.environ, "QUEUE_TEST_URL": url, "QUEUE_TEST_NAME": name, "PYTHONPATH": str(ROOT)}
    env["LIFESPAN_TEST_FAIL"] = fail
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mediz_infra.cli", "worker", "tests.integration._lifespan_app:queue",
        "--grace", "120", *extra,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def read_until(proc: asyncio.subprocess.Process, text: str, seen: list[str]) -> None:
    """Read the process's stderr lines into ``seen`` until one holds ``text``."""
    assert proc.stderr is not None
    while True:
        line = (await proc.stderr.readline()).decode()
        if not line:
            raise AssertionError(f"the worker ended before {text!r}: {''.join(seen)[-2000:]}")
        seen.append(line)
        if text in line:
            return


async def test_the_lifespan_wraps_the_jobs_and_ends_after_the_running_one(redis_url: str) -> None:
    name = f"life{uuid.uuid4().hex[:8]}"
    marks, gate = f"{name}:marks", f"{name}:gate"
    client = create_redis(redis_url)
    queue = Queue(name, client, prefix="test")

    @queue.task(name="hold", retries=0)
    async def hold(n: int) -> int:
        return n

    proc = await start_worker(redis_url, name)
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            await read_until(proc, "started 1 lifespan", seen)
            assert await client.lrange(marks, 0, -1) == [b"startup"]  # before any job
            job = await hold.enqueue(1)
            while await client.llen(marks) < 2:  # noqa: ASYNC110 - a Redis list, not an event
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            # the worker took the signal: it waits for the running job, the lifespan still open
            await read_until(proc, "1 job(s) running get 120.0 s to finish", seen)
            assert await client.lrange(marks, 0, -1) == [b"startup", b"start 1"]
            await client.set(gate, "1")
            _, err = await proc.communicate()
        seen.append(err.decode())
        assert proc.returncode == 0, "".join(seen)[-2000:]
        assert await client.lrange(marks, 0, -1) == [b"startup", b"start 1", b"end 1", b"shutdown"]
        assert await job.result(timeout=5) == 1
        assert "1 completed" in "".join(seen)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for key in [marks, gate]:
            await client.delete(key)
        async for key in client.scan_iter(match=f"test:{{{name}}}*"):
            await client.delete(key)
        await client.aclose()


async def test_a_failing_startup_stops_the_worker_before_any_job(redis_url: str) -> None:
    name = f"life{uuid.uuid4().hex[:8]}"
    client = create_redis(redis_url)
    queue = Queue(name, client, prefix="test")

    @queue.task(name="hold", retries=0)
    async def hold(n: int) -> int:
        return n

    try:
        job = await hold.enqueue(1)
        # the startup cannot open its pool, and says so quoting the URL with its password
        proc = await start_worker(
            redis_url, name, fail="postgresql://app:pg-s3cret@db.internal:5432/app"
        )
        async with asyncio.timeout(60):
            _, err = await proc.communicate()
        text = err.decode()
        assert proc.returncode == 1, text[-2000:]
        assert "error: the worker stopped:" in text
        assert "in resources" in text  # the masked traceback names the lifespan that failed
        assert "postgresql://app:***@db.internal:5432/app" in text and "pg-s3cret" not in text
        assert await job.status() == "waiting"  # no job was taken
    finally:
        async for key in client.scan_iter(match=f"test:{{{name}}}*"):
            await client.delete(key)
        await client.delete(f"{name}:marks")
        await client.aclose()
