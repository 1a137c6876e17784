"""The reference app's reminders through the queue, on the real Redis and Postgres.

``POST /api/push/check-reminders`` answers 202 with the jobs it enqueued; a worker (in a test,
in the app's process, or the ``mediz-infra worker`` command) sends one push per due reminder
to a real HTTP push provider; a failing provider ends in dead letters, tracked as errors.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from examples.mediz_app import create_app
from examples.mediz_app.reminders import SEND_TASK, Reminders
from mediz_infra import Settings
from mediz_infra.queue import Backoff, Worker

from ._upstream import Step, Upstream
from ._upstream import serve as serve_upstream
from .test_example_app import app_database

__all__ = ["app_database"]  # the fixture, imported for this module's tests

pytestmark = pytest.mark.integration

TOKEN = "admin-token-" + "r7" * 10
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
CHECK = "/api/push/check-reminders"
AT_ONCE = Backoff(base=0.0, cap=0.0)  # retries due at once: a burst worker runs them all


@pytest.fixture(scope="module")
def provider() -> Iterator[Upstream]:
    """A real push provider over HTTP (uvicorn on a free port) that records every request."""
    yield from serve_upstream(Upstream())


@pytest.fixture
def push(provider: Upstream) -> Upstream:
    provider.play(Step(status=202, body=b'{"accepted": true}'))
    return provider


def settings_for(database_url: str, redis_url: str) -> Settings:
    # a prefix of its own: this test's queue and breaker keys meet no other test's
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        prefix=prefix,
        admin_token=SecretStr(TOKEN),
    )


@asynccontextmanager
async def serve(
    settings: Settings, reminders: Reminders | None, *, worker: bool
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, embedded_postgres=False, reminders=reminders, reminder_worker=worker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield client


async def due_ids(database_url: str) -> set[int]:
    con = await asyncpg.connect(database_url)
    try:
        rows = await con.fetch("SELECT id FROM reminders WHERE sent_at IS NULL AND due_at <= now()")
    finally:
        await con.close()
    return {row["id"] for row in rows}


async def keep_due(database_url: str, count: int) -> set[int]:
    """Mark every due reminder sent but the first ``count``; their ids."""
    con = await asyncpg.connect(database_url)
    try:
        rows = await con.fetch(
            "UPDATE reminders SET sent_at = now() WHERE sent_at IS NULL AND due_at <= now()"
            " AND id NOT IN (SELECT id FROM reminders WHERE sent_at IS NULL AND due_at <= now()"
            " ORDER BY id LIMIT $1) RETURNING id",
            count,
        )
    finally:
        await con.close()
    assert rows, "the seed has more due reminders than the test keeps"
    return await due_ids(database_url)


async def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.05)


def pushed_ids(provider: Upstream) -> list[int]:
    import json

    return [json.loads(r["body"])["reminder_id"] for r in provider.requests]


async def test_check_answers_202_at_once_and_a_worker_sends_each_due_reminder_once(
    app_database: str, redis_url: str, push: Upstream
) -> None:
    settings = settings_for(app_database, redis_url)
    reminders = Reminders(settings, push_url=push.url)
    async with serve(settings, reminders, worker=False) as client:
        due = await due_ids(app_database)
        assert len(due) > 100  # the seed: a reminder due now for one premium user in 24

        assert (await client.post(CHECK)).status_code == 401  # behind the admin guard
        bad = await client.post(CHECK, params={"limit": 0}, headers=ADMIN)
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["location"] == ["query", "limit"]

        first = await client.post(CHECK, headers=ADMIN)
        assert first.status_code == 202
        assert first.json() == {"due": len(due), "enqueued": len(due), "queue": "reminders"}
        # answered before anything was sent: the jobs wait for a worker
        assert push.requests == []
        assert (await reminders.queue.counts())["waiting"] == len(due)

        again = await client.post(CHECK, headers=ADMIN)  # a double POST: the same job ids
        assert again.status_code == 202
        assert again.json()["enqueued"] == 0 and again.json()["due"] == len(due)

        async with asyncio.timeout(60):
            stats = await Worker(reminders.queue, concurrency=20).run_burst()
        assert stats.completed == len(due) and stats.failed == 0

        sent = pushed_ids(push)
        assert sorted(sent) == sorted(due)  # exactly one push per due reminder
        keys = {r["headers"]["idempotency-key"] for r in push.requests}
        assert len(keys) == len(due) and all(k.startswith("reminder:") for k in keys)
        assert await due_ids(app_database) == set()  # every one marked sent

        late = await client.post(CHECK, headers=ADMIN)
        assert late.json() == {"due": 0, "enqueued": 0, "queue": "reminders"}
        assert len(push.requests) == len(due)


async def test_a_failing_provider_is_retried_then_dead_lettered_with_errors_tracked(
    app_database: str, redis_url: str, push: Upstream
) -> None:
    push.play(Step(status=503, body=b'{"error": "down"}'))
    settings = settings_for(app_database, redis_url)
    reminders = Reminders(settings, push_url=push.url, retries=2, backoff=AT_ONCE)
    async with serve(settings, reminders, worker=False) as client:
        kept = await keep_due(app_database, 3)
        answer = await client.post(CHECK, headers=ADMIN)
        assert answer.status_code == 202 and answer.json()["enqueued"] == 3

        async with asyncio.timeout(60):
            stats = await Worker(reminders.queue).run_burst()
        assert stats.failed == 9 and stats.retried == 6 and stats.dead == 3  # 3 attempts each
        assert stats.completed == 0
        assert set(pushed_ids(push)) == kept  # tried (until the breaker opened), never sent
        dead = await reminders.queue.dead_letters()
        assert len(dead) == 3 and all(d.task == SEND_TASK for d in dead)
        assert all(("UpstreamError" in (d.error or "")) or ("CircuitOpen" in (d.error or ""))
                   for d in dead)  # fmt: skip
        assert await due_ids(app_database) == kept  # still due: nothing marked sent

        # every failed attempt is in the error tracking, with the job's id and attempt
        assert reminders.recorder is not None
        assert await reminders.recorder.flush()
        rows = await reminders.recorder.store.read_errors(limit=200)
        mine = [r for r in rows if r["context"].get("job_id") in {d.id for d in dead}]
        assert mine and {r["route"] for r in mine} == {f"job {SEND_TASK}"}
        assert sum(r["count"] for r in mine) >= 1
        assert any(r["context"]["outcome"] == "dead" and r["context"]["attempt"] == "3/3"
                   for r in mine)  # fmt: skip
        assert all("Log how you feel" not in r["traceback"] + r["message"] for r in mine)

        # a second check enqueues nothing: the dead jobs keep their ids
        again = await client.post(CHECK, headers=ADMIN)
        assert again.json() == {"due": 3, "enqueued": 0, "queue": "reminders"}


async def test_the_demo_runs_its_worker_in_process_with_the_fake_provider(
    app_database: str,
) -> None:
    settings = settings_for(app_database, f"memory://reminders-{uuid.uuid4().hex[:6]}")
    async with serve(settings, None, worker=True) as client:
        kept = await keep_due(app_database, 5)
        answer = await client.post(CHECK, headers=ADMIN)
        assert answer.status_code == 202 and answer.json()["enqueued"] == 5

        async def delivered() -> bool:
            return (await client.get("/_demo/push/")).json()["total"] >= 5

        await wait_for(delivered, 30, "five pushes to the in-process provider")
        got = (await client.get("/_demo/push/")).json()
        assert got["total"] == 5 and {p["reminder_id"] for p in got["received"]} == kept
        assert await due_ids(app_database) == set()
        again = await client.post(CHECK, headers=ADMIN)
        assert again.json()["enqueued"] == 0


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``mediz-infra worker examples.mediz_app.worker:queue`` in a process of its own."""
    command = [sys.executable, "-m", "mediz_infra.cli", "worker",
               "examples.mediz_app.worker:queue", "--grace", "5"]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop_worker(worker: subprocess.Popen[bytes]) -> bytes:
    """SIGTERM, then its stderr (killed if it does not stop within 30 s)."""
    worker.send_signal(signal.SIGTERM)
    try:
        _, err = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        _, err = worker.communicate()
    return err


@pytest.mark.slow
async def test_the_cli_worker_sends_what_the_app_enqueued(
    app_database: str, redis_url: str, push: Upstream
) -> None:
    settings = settings_for(app_database, redis_url)
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": app_database,
        "MEDIZ_PREFIX": settings.prefix,
        "MEDIZ_PUSH_URL": push.url,
        "PYTHONPATH": os.getcwd(),
    }
    async with serve(settings, Reminders(settings, push_url=push.url), worker=False) as client:
        kept = await keep_due(app_database, 10)  # the app has created the schema and seeded
        worker = start_worker(env)
        try:
            answer = await client.post(CHECK, headers=ADMIN)
            assert answer.status_code == 202 and answer.json()["enqueued"] == 10

            async def delivered() -> bool:
                return len(push.requests) >= 10 and not await due_ids(app_database)

            await wait_for(delivered, 60, "ten pushes from the worker process")
            assert sorted(pushed_ids(push)) == sorted(kept)
        finally:
            err = stop_worker(worker)
        assert worker.returncode == 0, err.decode()[-2000:]
        assert b"10 completed" in err
        assert b"started 1 lifespan(s)" in err  # worker.py's: the pool and the metrics store
