"""Worker processes against the real Redis: killed with SIGKILL mid-run, no job is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.queue import Queue

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
JOBS = 5000


def start_worker(url: str, name: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QUEUE_TEST_URL": url, "QUEUE_TEST_NAME": name, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mediz_infra.cli",
            "worker",
            "tests.integration._queue_app:queue",
            "--concurrency",
            "50",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # reaps it and closes its pipes


async def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_worker_killed_mid_run_loses_no_job(
    redis_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    name = f"kill{uuid.uuid4().hex[:8]}"
    client = create_redis(redis_url)
    queue = Queue(name, client, prefix="test")

    @queue.task(name="record")
    async def record(n: int) -> int:
        return n

    try:
        for start in range(0, JOBS, 1000):
            await record.enqueue_many([(n,) for n in range(start, start + 1000)])
        assert (await queue.counts())["waiting"] == JOBS

        first = start_worker(redis_url, name, "--lease", "2")
        workers.append(first)

        async def some_ran() -> bool:
            return int(await client.hlen(f"{name}:runs")) >= 1000

        await wait_until(some_ran, 60, "the first worker to run 1,000 jobs")
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        before = await queue.counts()
        assert before["active"] > 0  # it died holding jobs
        assert before["completed"] < JOBS

        second = start_worker(redis_url, name, "--lease", "2")
        workers.append(second)

        async def all_done() -> bool:
            return (await queue.counts()).get("completed", 0) >= JOBS

        await wait_until(all_done, 120, f"all {JOBS} jobs to complete")
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
        out = err.decode()
        assert second.returncode == 0, out
        assert "stopped:" in out

        runs = {int(k): int(v) for k, v in (await client.hgetall(f"{name}:runs")).items()}
        counts = await queue.counts()
        duplicates = sum(runs.values()) - len(runs)
        print(
            f"{JOBS} jobs: {len(runs)} distinct completed, {duplicates} duplicate runs, "
            f"{counts.get('reclaimed', 0)} taken back"
        )
        assert sorted(runs) == list(range(JOBS))  # every job ran, none is missing
        assert counts["completed"] == JOBS  # each completed once: stale completions refused
        assert counts["waiting"] == counts["active"] == counts["dead"] == 0
        assert counts.get("reclaimed", 0) >= before["active"]
        assert duplicates <= counts.get("reclaimed", 0)  # only a taken-back job can run twice
    finally:
        await client.delete(f"{name}:runs")
        await client.aclose()
