"""The queue: tasks registered with ``@queue.task``, jobs enqueued through them.

``Queue("reminders", "redis://...")`` (or a client, or ``"memory://"``) holds a broker and the
tasks. ``@queue.task(retries=5, backoff=Backoff(...), timeout=30)`` registers a coroutine
function under its qualified name; ``await send.enqueue(user_id, _delay=60, _job_id=...)``
enqueues one job in one round trip and returns its :class:`~.jobs.Job` handle. Payloads are
JSON, never pickle. When Redis is down the queue refuses to enqueue with
:class:`~mediz_infra.errors.BackendUnavailable`: nothing is pretended.
"""

from __future__ import annotations

import inspect
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, ParamSpec, TypeVar, overload

from redis.asyncio import Redis, RedisCluster

from ..backends import BACKEND_ERRORS, RedisClient, create_redis
from ..errors import BackendUnavailable, ConfigError
from .backoff import Backoff
from .brokers.base import Broker, RateLimit
from .brokers.memory import MemoryBroker
from .brokers.redis import RedisBroker
from .cron import Cron, Every
from .dedup import Debounce, Dedup, Throttle
from .instruments import QueueInstruments
from .jobs import Job, JobFailure, JobInfo, JobRecord
from .outbox import DEFAULT_TABLE, Executor, Outbox, OutboxConnection
from .scheduler import CronJob, Misfire

__all__ = ["FailureListener", "JobCall", "Lifespan", "Queue", "Task"]

P = ParamSpec("P")
R = TypeVar("R")

FailureListener = Callable[[JobFailure], object]
"""Called by a worker for each failed attempt of a job (see :meth:`Queue.on_failure`)."""

Lifespan = Callable[[], AbstractAsyncContextManager[object]]
"""What a worker enters before its first job and leaves after its last (see
:meth:`Queue.lifespan`)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class JobCall:
    """One prepared call of a task (from :meth:`Task.call`), for :meth:`Queue.enqueue_many`."""

    task: Task[Any, Any]
    record: JobRecord


class Task(Generic[P, R]):
    """A registered task: call it directly (it is still the function) or enqueue it.

    Attributes:
        name: the name jobs carry (the function's module and qualified name by default).
        retries: how many times a failed job is retried before it goes to the dead letters.
        backoff: the delay before each retry.
        timeout: seconds one attempt may run before it is cancelled and counted as failed.
    """

    def __init__(
        self,
        queue: Queue,
        func: Callable[P, Awaitable[R]],
        *,
        name: str,
        retries: int,
        backoff: Backoff,
        timeout: float | None,
    ) -> None:
        self.queue = queue
        self.func = func
        self.name = name
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def __repr__(self) -> str:
        return f"Task({self.name!r}, queue={self.queue.name!r})"

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self.func(*args, **kwargs)

    def call(
        self,
        *args: Any,
        _delay: float | None = None,
        _at: datetime | float | None = None,
        _job_id: str | None = None,
        _dedup: Dedup | None = None,
        **kwargs: Any,
    ) -> JobCall:
        """Prepare one job (for :meth:`Queue.enqueue_many`); arguments as :meth:`enqueue`.

        Raises:
            ConfigError: an argument is not JSON-serialisable, or ``_delay``/``_at``/``_dedup``
                are wrong.
        """
        try:
            payload = json.dumps({"args": args, "kwargs": kwargs}, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{self.name} arguments",
                f"not JSON-serialisable ({exc}); pass plain values (ids, strings, numbers) "
                "and load objects inside the task",
            ) from None
        now = self.queue.clock()
        if _delay is not None and _at is not None:
            raise ConfigError("_delay", "give _delay or _at, not both")
        if _delay is not None and _delay < 0:
            raise ConfigError("_delay", f"must be >= 0 seconds, got {_delay}")
        eta = now + (_delay or 0.0)
        if _at is not None:
            if isinstance(_at, datetime):
                if _at.tzinfo is None:
                    raise ConfigError("_at", "a naive datetime is ambiguous; give it a tzinfo")
                eta = _at.timestamp()
            else:
                eta = float(_at)
        if _job_id is not None and (not _job_id or len(_job_id) > 200):
            raise ConfigError("_job_id", "must be a non-empty string of at most 200 characters")
        if _dedup is not None:
            if not isinstance(_dedup, (Throttle, Debounce)):
                raise ConfigError("_dedup", f"must be a Throttle or a Debounce, got {_dedup!r}")
            if _job_id is not None:
                raise ConfigError("_dedup", "give _job_id or _dedup, not both")
            if isinstance(_dedup, Debounce):
                if _delay is not None or _at is not None:
                    raise ConfigError(
                        "_dedup", "a debounced job starts when its window ends: no _delay/_at"
                    )
                eta = now + _dedup.window
        record = JobRecord(
            _job_id or uuid.uuid4().hex, self.name, payload, self.retries + 1, now, eta, _dedup
        )
        return JobCall(self, record)

    async def enqueue(
        self,
        *args: Any,
        _delay: float | None = None,
        _at: datetime | float | None = None,
        _job_id: str | None = None,
        _dedup: Dedup | None = None,
        connection: Executor | None = None,
        **kwargs: Any,
    ) -> Job:
        """Enqueue one job (one round trip) and return its handle.

        Args:
            *args, **kwargs: the task's arguments, JSON-serialisable.
            _delay: run no sooner than this many seconds from now.
            _at: run no sooner than this time (an aware datetime, or epoch seconds).
            _job_id: the job's id; enqueueing an id that exists enqueues nothing and returns
                a handle to the existing job (``job.created`` is False), so a retried request
                cannot queue its work twice.
            _dedup: :class:`~.dedup.Throttle` ``(key, window)``: the first enqueue with the
                key wins, the rest within the window are ignored (``job.outcome ==
                "ignored"``, the handle is the first job); or :class:`~.dedup.Debounce`
                ``(key, window)``: the job starts ``window`` seconds after the last enqueue
                with the key, with that enqueue's arguments (``"replaced"``). Keys are
                per task. Not with ``_job_id`` or ``connection``.
            connection: a Postgres connection inside your transaction (asyncpg's, or anything
                with ``execute``): the job goes to the queue's outbox table with your
                transaction and reaches the broker when :meth:`Queue.relay_outbox` runs
                after the commit; a rollback enqueues nothing. Not a task argument, so a task
                cannot take a parameter named ``connection``.

        Raises:
            ConfigError: bad arguments (see :meth:`call`).
            BackendUnavailable: the broker could not be reached: the job was NOT enqueued.
        """
        if connection is not None and _dedup is not None:
            raise ConfigError(
                "_dedup", "not with connection=: the outbox relays jobs later, outside the window"
            )
        call = self.call(*args, _delay=_delay, _at=_at, _job_id=_job_id, _dedup=_dedup, **kwargs)
        if connection is not None:
            await self.queue.outbox.write(connection, [call.record])
            return Job(call.record.id, self.queue.broker)
        (job,) = await self.queue.enqueue_many([call])
        return job

    async def enqueue_many(self, calls: Iterable[Sequence[Any]]) -> list[Job]:
        """Enqueue one job per tuple of positional arguments, in one round trip."""
        return await self.queue.enqueue_many([self.call(*args) for args in calls])


class Queue:
    """A named job queue on a broker.

    Args:
        name: the queue's name (a part of its Redis keys).
        url_or_client: ``redis://...`` (any scheme :func:`~mediz_infra.backends.create_redis`
            takes), a client it built, ``memory://`` (this process only), or a
            :class:`~.brokers.base.Broker`.
        prefix: the first part of the queue's Redis keys.
        result_ttl: seconds a completed job's result is kept.
        clock: seconds since the epoch (``time.time``); injectable for tests.
        outbox_table: the Postgres table of transactional enqueues (see
            :func:`~.outbox.outbox_schema`).
        rate_limit: jobs started per second across every worker of the queue (None: no
            limit); on Redis one token bucket shared by all processes, in memory this
            process's. Workers of one queue should agree on it.
        rate_burst: starts allowed at once after a quiet spell (the bucket's size; default
            ``rate_limit`` rounded up, at least 1). 1 paces starts evenly.

    Raises:
        ConfigError: an empty name, a name with braces, an unknown URL scheme, a bad
            ``rate_limit`` or ``rate_burst``.
    """

    def __init__(
        self,
        name: str,
        url_or_client: str | RedisClient | Broker = "memory://",
        *,
        prefix: str = "mediz",
        result_ttl: float = 3600.0,
        clock: Callable[[], float] = time.time,
        outbox_table: str = DEFAULT_TABLE,
        rate_limit: float | None = None,
        rate_burst: int | None = None,
    ) -> None:
        if not name or "{" in name or "}" in name:
            raise ConfigError("name", f"must be non-empty without braces, got {name!r}")
        if result_ttl <= 0:
            raise ConfigError("result_ttl", f"must be > 0 seconds, got {result_ttl}")
        self.rate: RateLimit | None = _rate(rate_limit, rate_burst)
        self.name = name
        self.result_ttl = result_ttl
        self.clock = clock
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.crons: dict[str, CronJob] = {}
        self.failure_listeners: list[FailureListener] = []
        self.lifespans: list[Lifespan] = []
        self.outbox = Outbox(name, outbox_table)
        self.instruments = QueueInstruments(name)
        self.broker: Broker
        if isinstance(url_or_client, str):
            if url_or_client.startswith("memory://"):
                self.broker = MemoryBroker()
            else:
                client = create_redis(url_or_client)
                self.broker = RedisBroker(client, name, prefix=prefix, owned=True)
        elif isinstance(url_or_client, (Redis, RedisCluster)):
            self.broker = RedisBroker(url_or_client, name, prefix=prefix)
        else:
            self.broker = url_or_client

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, broker={type(self.broker).__name__})"

    def task(
        self,
        func: Callable[P, Awaitable[R]] | None = None,
        *,
        name: str | None = None,
        retries: int = 3,
        backoff: Backoff | None = None,
        timeout: float | None = 300.0,
    ) -> Any:
        """Register a coroutine function as a task: ``@queue.task`` or ``@queue.task(...)``.

        Args:
            name: the name jobs carry (default ``module.qualname``); keep it stable across
                deploys, or jobs already queued under the old name go to the dead letters.
            retries: retries after the first attempt (0: none).
            backoff: delay before each retry (default :class:`~.backoff.Backoff()`).
            timeout: seconds an attempt may run (None: no limit).

        Raises:
            ConfigError: a negative ``retries``, a non-positive ``timeout``, a name used twice.
        """
        if retries < 0:
            raise ConfigError("retries", f"must be >= 0, got {retries}")
        if timeout is not None and timeout <= 0:
            raise ConfigError("timeout", f"must be > 0 seconds or None, got {timeout}")

        def register(f: Callable[P, Awaitable[R]]) -> Task[P, R]:
            task_name = name or f"{f.__module__}.{f.__qualname__}"
            if task_name in self.tasks:
                raise ConfigError("name", f"task {task_name!r} is registered twice on {self!r}")
            task = Task(
                self,
                f,
                name=task_name,
                retries=retries,
                backoff=backoff or Backoff(),
                timeout=timeout,
            )
            self.tasks[task_name] = task
            return task

        return register if func is None else register(func)

    def cron(
        self,
        expression: str | None = None,
        *,
        every: float | None = None,
        name: str | None = None,
        misfire: Misfire = "skip",
        misfire_grace: float = 30.0,
        skip_if_running: bool = False,
        retries: int = 0,
        timeout: float | None = 300.0,
    ) -> Callable[[Callable[[], Awaitable[Any]]], Task[[], Any]]:
        """Register a coroutine function (no arguments) to run on a schedule.

        ``@queue.cron("* * * * *")`` (five-field cron, UTC) or ``@queue.cron(every=10)``
        (seconds, for sub-minute intervals). Each tick runs exactly once however many workers
        run; no scheduler process is needed.

        Args:
            misfire: ticks missed while no worker ran: ``"skip"`` (default), ``"once"`` or
                ``"all"`` (see :data:`~.scheduler.Misfire`).
            misfire_grace: under ``"skip"``, how late a tick may still run, in seconds.
            skip_if_running: drop a tick while the previous tick's job is not finished.
            retries, timeout: as for :meth:`task`.

        Raises:
            ConfigError: neither or both of ``expression`` and ``every``, a bad expression
                (the field is named), a bad policy.
        """
        if (expression is None) == (every is None):
            raise ConfigError("expression", "give a cron expression or every=seconds, not both")
        schedule = Cron(expression) if expression is not None else Every(float(every or 0))

        def register(f: Callable[[], Awaitable[Any]]) -> Task[[], Any]:
            task: Task[[], Any] = self.task(name=name, retries=retries, timeout=timeout)(f)
            cron = CronJob(task.name, task, schedule, misfire, misfire_grace, skip_if_running)
            self.crons[task.name] = cron
            return task

        return register

    def on_failure(self, listener: FailureListener) -> FailureListener:
        """Call ``listener`` with a :class:`~.jobs.JobFailure` for every failed attempt that a
        worker of this queue settles (a retry or, with ``final`` set, the dead letter).

        Usable as a decorator. A listener runs in the worker's event loop and must not block;
        what it raises is logged and ignored (a failing error reporter must not fail jobs).
        Jobs dead-lettered without running (a poison payload, an unknown task, too many
        stalls) are not reported here: they are in :meth:`dead_letters` with their error.
        To send failures to the metrics dashboard's error list, register
        :class:`mediz_infra.metrics.JobErrorTracker`.
        """
        self.failure_listeners.append(listener)
        return listener

    def set_rate_limit(self, rate_limit: float | None, rate_burst: int | None = None) -> None:
        """Change the queue's start rate (as ``rate_limit`` and ``rate_burst`` of the
        constructor; None: no limit); workers started afterwards use it.

        Raises:
            ConfigError: a bad ``rate_limit`` or ``rate_burst``, named.
        """
        self.rate = _rate(rate_limit, rate_burst)

    @overload
    def lifespan(self, func: Callable[[], AsyncIterator[T]]) -> Callable[[], AsyncIterator[T]]: ...
    @overload
    def lifespan(
        self, func: Callable[[], AbstractAsyncContextManager[T]]
    ) -> Callable[[], AbstractAsyncContextManager[T]]: ...
    def lifespan(self, func: Callable[[], Any]) -> Callable[[], Any]:
        """Register what a worker of this queue opens before its first job and closes after
        its last: a database pool, an HTTP client, an error tracker to flush.

        ``func`` is an async generator function (code before its ``yield`` is the startup,
        after it the shutdown) or a function returning an async context manager; it takes no
        arguments (tasks reach what it opens through the module, as they reach the queue).
        Usable as a decorator; several run in the order registered and close in reverse.

        :meth:`Worker.run` (and so ``mediz-infra worker``) enters them once before it fetches
        a job and leaves them once after it stopped: running jobs finished or were handed
        back, failure listeners were called. :meth:`Worker.run_burst` does the same around
        its run. A startup that raises stops the worker before any job runs (the lifespans
        already entered are closed); the error propagates.
        """
        self.lifespans.append(
            asynccontextmanager(func) if inspect.isasyncgenfunction(func) else func
        )
        return func

    async def enqueue_many(self, calls: Sequence[JobCall]) -> list[Job]:
        """Enqueue prepared calls (:meth:`Task.call`) in one round trip; their handles in order.

        Raises:
            BackendUnavailable: the broker could not be reached: no job of the batch is
                guaranteed to be enqueued (ids given with ``_job_id`` make a retry safe).
        """
        if not calls:
            return []
        try:
            created = await self.broker.enqueue([c.record for c in calls])
        except BACKEND_ERRORS as exc:
            raise BackendUnavailable(
                f"queue {self.name!r}: cannot enqueue {len(calls)} job(s): the broker is "
                f"unreachable ({type(exc).__name__}); nothing was pretended: retry later "
                "(pass _job_id so a retry cannot enqueue twice) or check REDIS_URL"
            ) from exc
        jobs = []
        for call, (outcome, job_id) in zip(calls, created, strict=True):
            jobs.append(Job(job_id, self.broker, outcome=outcome))
            self.instruments.event(
                call.record.task, "enqueued" if outcome == "created" else outcome
            )
        return jobs

    async def relay_outbox(self, connection: OutboxConnection, limit: int = 500) -> int:
        """Move up to ``limit`` committed transactional enqueues to the broker; how many.

        Run it after commits, or on a timer (a worker's cron job does:
        ``@queue.cron(every=1)``). Rows stay in the outbox when the broker refuses them.

        Raises:
            BackendUnavailable: the broker could not be reached (the rows stay).
        """
        try:
            return await self.outbox.relay(connection, self.broker, limit)
        except BACKEND_ERRORS as exc:
            raise BackendUnavailable(
                f"queue {self.name!r}: cannot relay the outbox: the broker is unreachable "
                f"({type(exc).__name__}); the jobs stay in {self.outbox.table} for the next relay"
            ) from exc

    def job(self, job_id: str) -> Job:
        """A handle to a job by its id."""
        return Job(job_id, self.broker)

    async def counts(self) -> dict[str, int]:
        """Job counts by state and the queue's counters (see :meth:`Broker.counts`)."""
        return await self.broker.counts()

    async def dead_letters(self, limit: int = 50) -> list[JobInfo]:
        """The newest dead jobs with their errors and tracebacks."""
        return await self.broker.dead(limit)

    async def retry_dead(self, job_id: str) -> bool:
        """Send a dead job back to waiting with a fresh attempt budget; False if not dead."""
        return await self.broker.retry_dead(job_id)

    async def delete(self, job_id: str) -> bool:
        """Delete a job wherever it is; False if there was none."""
        return await self.broker.delete(job_id)

    async def pause(self) -> None:
        """Stop workers from leasing jobs (running ones finish)."""
        await self.broker.set_paused(True)

    async def resume(self) -> None:
        """Let workers lease jobs again."""
        await self.broker.set_paused(False)

    async def aclose(self) -> None:
        """Close the broker's client when the queue built it from a URL."""
        await self.broker.aclose()


def _rate(rate_limit: float | None, rate_burst: int | None) -> RateLimit | None:
    """Check a queue's start rate; ``(per second, burst)`` or None for no limit."""
    if rate_limit is None:
        if rate_burst is not None:
            raise ConfigError("rate_burst", "needs a rate_limit")
        return None
    if (
        isinstance(rate_limit, bool)
        or not isinstance(rate_limit, (int, float))
        or not math.isfinite(rate_limit)
        or rate_limit <= 0
    ):
        raise ConfigError("rate_limit", f"must be > 0 jobs per second or None, got {rate_limit!r}")
    if rate_burst is None:
        return float(rate_limit), max(1, math.ceil(rate_limit))
    if isinstance(rate_burst, bool) or not isinstance(rate_burst, int) or rate_burst < 1:
        raise ConfigError("rate_burst", f"must be a whole number >= 1, got {rate_burst!r}")
    return float(rate_limit), rate_burst
