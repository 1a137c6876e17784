"""Failed jobs reach the error tracking: every failed attempt, the dead letter, no arguments."""

from __future__ import annotations

import logging

import pytest

from mediz_infra.metrics import JobErrorTracker, MemoryMetricsStore, Recorder
from mediz_infra.queue import Backoff, JobFailure, Queue, Worker

NOW_AND_AGAIN = Backoff(base=0.0, cap=0.0)  # retries due at once: run_burst runs them all


def failing_queue() -> Queue:
    queue = Queue("tracked", "memory://")

    @queue.task(name="notify", retries=2, backoff=NOW_AND_AGAIN)
    async def notify(user: int, api_key: str) -> None:
        raise ValueError(f"provider refused user {user}: token=abc123def")

    @queue.task(name="fine")
    async def fine() -> str:
        return "ok"

    return queue


async def test_each_failed_attempt_is_reported_and_the_last_is_final() -> None:
    queue = failing_queue()
    seen: list[JobFailure] = []
    queue.on_failure(seen.append)
    job = await queue.tasks["notify"].enqueue(7, "s3cret-pw", _job_id="n-7")
    await queue.tasks["fine"].enqueue()
    await Worker(queue).run_burst()

    assert await job.status() == "dead"
    assert [(f.attempt, f.max_attempts, f.final) for f in seen] == [(1, 3, False), (2, 3, False),
                                                                    (3, 3, True)]  # fmt: skip
    assert {(f.queue, f.task, f.job_id) for f in seen} == {("tracked", "notify", "n-7")}
    assert all(isinstance(f.error, ValueError) for f in seen)


async def test_the_tracker_groups_job_errors_with_job_id_and_attempt_and_no_arguments() -> None:
    queue = failing_queue()
    store = MemoryMetricsStore()
    recorder = Recorder(store)
    queue.on_failure(JobErrorTracker(recorder))
    await queue.tasks["notify"].enqueue(7, "s3cret-pw", _job_id="n-7")
    await Worker(queue).run_burst()
    await recorder.aclose()

    (row,) = await store.read_errors()
    assert row["route"] == "job notify"
    assert row["type"] == "ValueError"
    assert row["count"] == 3  # one per attempt, one group (same type and place)
    assert row["context"] == {
        "queue": "tracked",
        "job_id": "n-7",
        "attempt": "3/3",
        "outcome": "dead",
    }
    assert row["message"] == "provider refused user 7: token=***"
    shown = repr(row)
    assert "s3cret-pw" not in shown and "abc123def" not in shown


async def test_final_only_reports_the_dead_letter_alone() -> None:
    queue = failing_queue()
    store = MemoryMetricsStore()
    recorder = Recorder(store)
    queue.on_failure(JobErrorTracker(recorder, final_only=True))
    await queue.tasks["notify"].enqueue(1, "k")
    await Worker(queue).run_burst()
    await recorder.aclose()
    (row,) = await store.read_errors()
    assert row["count"] == 1 and row["context"]["outcome"] == "dead"


async def test_a_broken_listener_is_logged_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = failing_queue()
    seen: list[JobFailure] = []

    def broken(failure: JobFailure) -> None:
        raise RuntimeError("reporter down")

    queue.on_failure(broken)
    queue.on_failure(seen.append)  # later listeners still run
    job = await queue.tasks["notify"].enqueue(1, "k")
    ok = await queue.tasks["fine"].enqueue()
    with caplog.at_level(logging.ERROR, logger="mediz_infra.queue"):
        stats = await Worker(queue).run_burst()
    assert await job.status() == "dead" and await ok.result(timeout=1) == "ok"
    assert stats.retried == 2 and stats.dead == 1 and stats.completed == 1
    assert len(seen) == 3
    assert "failure listener" in caplog.text


async def test_a_timeout_is_reported_as_a_failed_attempt() -> None:
    import asyncio

    queue = Queue("slow", "memory://")

    @queue.task(name="slow", retries=0, timeout=0.01)
    async def slow() -> None:
        await asyncio.sleep(5)

    seen: list[JobFailure] = []
    queue.on_failure(seen.append)
    await slow.enqueue()
    await Worker(queue).run_burst()
    (failure,) = seen
    assert failure.final and isinstance(failure.error, TimeoutError)
