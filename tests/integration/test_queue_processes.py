"""Worker processes against the real Redis: killed with SIGKILL mid-run, no job is lost."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
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
    async def record(n: int, gate_from: int | None = None) -> int:
        return n

    gate = JOBS // 2
    try:
        for start in range(0, JOBS, 1000):
            await record.enqueue_many([(n, gate) for n in range(start, start + 1000)])
        assert (await queue.counts())["waiting"] == JOBS

        first = start_worker(redis_url, name, "--lease", "2")
        workers.append(first)

        async def held_at_gate() -> bool:
            ran = int(await client.hlen(f"{name}:runs"))
            return ran >= gate and (await queue.counts())["active"] == 50

        # every job below the gate ran; the worker holds 50 more, waiting at the gate
        await wait_until(held_at_gate, 60, f"the first worker to run {gate:,} jobs")
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        before = await queue.counts()
        assert before["active"] == 50  # it died holding a full batch
        await client.set(f"{name}:gate", 1)

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
        await client.delete(f"{name}:runs", f"{name}:gate")
        await client.aclose()


async def test_a_redis_restart_mid_run_loses_no_job(
    workers: list[subprocess.Popen[bytes]],
) -> None:
    from tests._servers import RedisServer
    from tests.conftest import _require

    _require("redis")
    port_dir = f"mediz-aof-{uuid.uuid4().hex[:8]}"
    # appendfsync always: the server is killed (SIGKILL) and must keep every acknowledged write
    server = RedisServer(
        extra=("--appendonly", "yes", "--appendfsync", "always", "--appenddirname", port_dir)
    ).start()
    name = f"restart{uuid.uuid4().hex[:8]}"
    client = create_redis(server.url)
    queue = Queue(name, client, prefix="test")

    @queue.task(name="record")
    async def record(n: int) -> int:
        return n

    jobs = 2000
    try:
        await record.enqueue_many([(n,) for n in range(jobs)])
        workers.append(start_worker(server.url, name, "--lease", "5"))

        async def ran(at_least: int) -> bool:
            try:
                return int(await client.hlen(f"{name}:runs")) >= at_least
            except Exception:  # the server is restarting
                return False

        await wait_until(lambda: ran(300), 60, "300 jobs to run before the restart")
        server.restart()

        async def all_done() -> bool:
            try:
                return (await queue.counts()).get("completed", 0) >= jobs
            except Exception:  # the server is restarting
                return False

        await wait_until(all_done, 120, f"all {jobs} jobs to complete after the restart")
        runs = {int(k): int(v) for k, v in (await client.hgetall(f"{name}:runs")).items()}
        counts = await queue.counts()
        assert sorted(runs) == list(range(jobs))
        assert counts["waiting"] == counts["active"] == counts["dead"] == 0
        proc = workers[-1]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        assert "broker errors" in err.decode()
    finally:
        await client.aclose()
        server.stop()
        shutil.rmtree(Path(tempfile.gettempdir()) / port_dir, ignore_errors=True)


async def test_sigterm_mid_batch_finishes_running_jobs_and_loses_none(
    redis_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    name = f"term{uuid.uuid4().hex[:8]}"
    client = create_redis(redis_url)
    queue = Queue(name, client, prefix="test")

    @queue.task(name="record")
    async def record(n: int) -> int:
        return n

    jobs = 1000
    try:
        await record.enqueue_many([(n,) for n in range(jobs)])
        proc = start_worker(redis_url, name)
        workers.append(proc)

        async def some_ran() -> bool:
            return int(await client.hlen(f"{name}:runs")) >= 200

        await wait_until(some_ran, 60, "200 jobs to run")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        runs = {int(k): int(v) for k, v in (await client.hgetall(f"{name}:runs")).items()}
        counts = await queue.counts()
        assert counts["active"] == 0  # every running job finished (or was handed back)
        assert set(runs.values()) == {1}  # none ran twice
        assert counts["completed"] == len(runs)  # every run that started was completed
        assert counts["completed"] + counts["waiting"] == jobs  # the rest wait: none lost
        assert counts["waiting"] > 0  # it stopped fetching mid-batch
    finally:
        await client.delete(f"{name}:runs")
        await client.aclose()
