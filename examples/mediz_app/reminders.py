"""Reminders through the job queue: ``POST /api/push/check-reminders`` enqueues, workers send.

meDIZ used to send every due reminder inside one HTTP request, which timed out. Here the
request only enqueues one job per due reminder and answers ``202`` at once with how many it
enqueued; workers send each reminder to the push provider through a resilient HTTP call and
mark it sent. A cron job on the same queue runs the same check every minute, so the route is
only needed to force a check now.

- **Idempotent enqueue.** A job's id is ``reminder:<id>:<due time in µs>``: a second check
  (a double POST, the cron tick meeting a POST) finds the job and enqueues nothing; a reminder
  moved to another time is a new job.
- **At-least-once sending, made safe.** The task skips a reminder already marked sent, sends
  with ``Idempotency-Key`` set to the job's id (a re-run after a crash between the push and
  the ``UPDATE`` is deduplicated by the provider), then marks it sent.
- **Resilience.** ``post_json`` with two quick attempts and a circuit breaker shared through
  Redis (``push-provider``); when the provider keeps failing, the queue retries the job with
  exponential back-off and, after the last retry, keeps it in the dead letters.
- **Error tracking.** Every failed attempt goes to the metrics dashboard's error list
  (``JobErrorTracker``) as ``job mediz.reminders.send`` with the job id and attempt, never the
  job's arguments.

The worker runs in the app process (``create_app(reminder_worker=True)``, the default) or, with
Redis, in processes of its own: ``mediz-infra worker examples.mediz_app.worker:queue``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, Field
from starlette.requests import Request

from mediz_infra import Infra, PoolManager, Settings
from mediz_infra.metrics import JobErrorTracker, MetricsStore, Recorder, metrics_store
from mediz_infra.queue import Backoff, JobFailure, Queue, Worker
from mediz_infra.resilience import CircuitBreaker, Retry, post_json
from mediz_infra.validation import validate

from .push import FakePushProvider

__all__ = [
    "CHECK_TASK",
    "SEND_TASK",
    "CheckAccepted",
    "CheckQuery",
    "Reminders",
    "check_reminders",
]

log = logging.getLogger("examples.mediz_app.reminders")

QUEUE = "reminders"
SEND_TASK = "mediz.reminders.send"
CHECK_TASK = "mediz.reminders.check"
DEMO_PUSH_URL = "http://fake-push.local/"  # answered in process by FakePushProvider

DUE_SQL = """
SELECT id, due_at FROM reminders
WHERE sent_at IS NULL AND due_at <= now()
ORDER BY due_at, id
LIMIT $1
"""
LOAD_SQL = "SELECT user_id, message, due_at, sent_at FROM reminders WHERE id = $1"
MARK_SENT_SQL = "UPDATE reminders SET sent_at = now() WHERE id = $1 AND sent_at IS NULL"


class CheckQuery(BaseModel):
    """``POST /api/push/check-reminders?limit=1000``: enqueue at most ``limit`` due reminders
    (the oldest first; the next check takes the rest)."""

    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000


class CheckAccepted(BaseModel):
    """The ``202`` answer: how many reminders were due and how many jobs this call enqueued
    (due reminders already queued by an earlier check are not enqueued again)."""

    due: int
    enqueued: int
    queue: str


def job_key(reminder_id: int, due_us: int) -> str:
    """The job id, and the push's idempotency key, of one reminder at one due time."""
    return f"reminder:{reminder_id}:{due_us}"


class Reminders:
    """The reminders queue, its tasks and the push provider's client.

    Args:
        settings: ``REDIS_URL`` picks the broker (Redis, or ``memory://`` for one process);
            ``DATABASE_URL`` is used only by a standalone worker; ``MEDIZ_PREFIX`` prefixes
            the queue's and the breaker's keys.
        push_url: the push provider (``MEDIZ_PUSH_URL``); ``None``: the in-process
            :class:`~.push.FakePushProvider` (``self.provider``).
        retries: retries of a failed send before it goes to the dead letters.
        backoff: the delay before each retry (default 30 s doubling up to 30 min).
        batch: the most reminders one cron tick enqueues.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        push_url: str | None = None,
        retries: int = 5,
        backoff: Backoff | None = None,
        batch: int = 1000,
    ) -> None:
        self.settings = settings
        dsn = settings.redis_dsn() or ""
        self.redis_url = None if not dsn or dsn.startswith("memory://") else dsn
        self.queue = Queue(QUEUE, self.redis_url or "memory://", prefix=settings.prefix)
        self.batch = batch
        self.provider: FakePushProvider | None = None
        if push_url is None:
            self.provider = FakePushProvider()
            transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=self.provider)
            self.client = httpx.AsyncClient(transport=transport)
        else:
            self.client = httpx.AsyncClient()
        self.push_url = push_url or DEMO_PUSH_URL
        self.breaker = CircuitBreaker(
            "push-provider",
            failure_rate=0.5,
            minimum_calls=10,
            open_for=30.0,
            storage=self.redis_url,  # None: this process only
            prefix=settings.prefix,
        )
        self.retry = Retry(attempts=2, deadline=5.0, name="push-provider")
        self.send = self.queue.task(
            name=SEND_TASK,
            retries=retries,
            backoff=backoff or Backoff(base=30.0, cap=1800.0),
            timeout=30.0,
        )(self._send)
        self.check = self.queue.cron(
            "* * * * *", name=CHECK_TASK, misfire="once", skip_if_running=True
        )(self._check)
        self.queue.on_failure(self._track)
        self.recorder: Recorder | None = None
        self.db: PoolManager | None = None
        self._infra: Infra | None = None  # a standalone worker's own connections
        self._store: MetricsStore | None = None  # and its own metrics store
        self._starting = asyncio.Lock()

    def __repr__(self) -> str:
        return f"Reminders({self.queue!r}, provider={'in-process' if self.provider else 'url'})"

    def bind(self, db: PoolManager, store: MetricsStore) -> None:
        """Use the app's pool, and its metrics store for failed jobs (the app's lifespan)."""
        self.db = db
        self.recorder = Recorder(store)

    @asynccontextmanager
    async def running(
        self, db: PoolManager, store: MetricsStore, *, worker: bool
    ) -> AsyncIterator[Worker | None]:
        """Bind to the app's resources and, with ``worker``, run a worker in this process
        until the block ends; then close what this object owns."""
        self.bind(db, store)
        runner = Worker(self.queue, concurrency=20, grace=5.0) if worker else None
        task = asyncio.create_task(runner.run(), name="reminders-worker") if runner else None
        try:
            yield runner
        finally:
            if runner is not None and task is not None:
                runner.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.aclose()

    async def aclose(self) -> None:
        """Flush tracked errors and close the queue, the breaker, the client (and a standalone
        worker's own connections)."""
        if self.recorder is not None:
            await self.recorder.aclose()
        if self._store is not None:
            await self._store.aclose()
        await self.queue.aclose()
        await self.breaker.aclose()
        await self.client.aclose()
        if self._infra is not None:
            await self._infra.close()

    async def open(self) -> None:
        """Open a standalone worker's own connections now rather than on its first job: the
        database pool (``DATABASE_URL``) and the metrics store failed jobs are recorded in.
        Bound to an app (:meth:`bind`), it opens nothing. Close with :meth:`aclose`.

        Raises:
            RuntimeError: ``DATABASE_URL`` is unset.
        """
        await self._pool()
        if self.recorder is None:
            self._store = metrics_store(self.redis_url or "memory://", prefix=self.settings.prefix)
            self.recorder = Recorder(self._store)

    async def _pool(self) -> PoolManager:
        """The database pool; a standalone worker (the CLI) opens its own on first use."""
        if self.db is not None:
            return self.db
        async with self._starting:
            if self.db is None:
                infra = await Infra.from_settings(self.settings, embedded_postgres=False).start()
                self._infra = infra
                if infra.db is None:
                    raise RuntimeError("the reminders worker needs DATABASE_URL")
                self.db = infra.db
        return self.db

    def _track(self, failure: JobFailure) -> None:
        if self.recorder is None:  # a standalone worker: the store every process shares
            url = self.redis_url or "memory://"
            self._store = metrics_store(url, prefix=self.settings.prefix)
            self.recorder = Recorder(self._store)
        JobErrorTracker(self.recorder)(failure)

    async def enqueue_due(self, limit: int) -> tuple[int, int]:
        """Enqueue a send job per due, unsent reminder (at most ``limit``): ``(due, enqueued)``.

        Raises:
            BackendUnavailable: the broker is down (nothing was pretended; a retry is safe).
        """
        db = await self._pool()
        async with db.acquire() as con:
            rows = await con.fetch(DUE_SQL, limit)
        calls = []
        for row in rows:
            due_us = round(row["due_at"].timestamp() * 1_000_000)
            calls.append(self.send.call(row["id"], due_us, _job_id=job_key(row["id"], due_us)))
        jobs = await self.queue.enqueue_many(calls)
        return len(rows), sum(job.created for job in jobs)

    async def _check(self) -> int:
        """The cron job: the check every minute."""
        due, enqueued = await self.enqueue_due(self.batch)
        if enqueued:
            log.info("reminders: %d due, %d enqueued", due, enqueued)
        return enqueued

    async def _send(self, reminder_id: int, due_us: int) -> str:
        """Send one reminder through the push provider, once; mark it sent."""
        db = await self._pool()
        async with db.acquire() as con:
            row = await con.fetchrow(LOAD_SQL, reminder_id)
        if row is None:
            return "deleted"
        if row["sent_at"] is not None:
            return "already sent"
        push: dict[str, Any] = {
            "reminder_id": reminder_id,
            "user_id": row["user_id"],
            "title": "meDIZ",
            "body": row["message"],
        }
        await post_json(
            self.push_url,
            push,
            idempotency_key=job_key(reminder_id, due_us),
            client=self.client,
            retry=self.retry,
            breaker=self.breaker,
            timeout=5.0,
        )
        async with db.acquire() as con:
            await con.execute(MARK_SENT_SQL, reminder_id)
        return "sent"


@validate(status_code=202)
async def check_reminders(request: Request, query: CheckQuery) -> CheckAccepted:
    """``POST /api/push/check-reminders``: enqueue the due reminders; ``202`` at once.

    Behind the admin guard (``Authorization: Bearer $MEDIZ_ADMIN_TOKEN``): it is what an
    external scheduler calls, never a browser. A bad ``limit`` is a 422; Redis down a 503.
    """
    reminders: Reminders = request.app.state.reminders
    due, enqueued = await reminders.enqueue_due(query.limit)
    return CheckAccepted(due=due, enqueued=enqueued, queue=reminders.queue.name)
