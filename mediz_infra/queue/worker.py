"""The worker: leases jobs, runs them as asyncio tasks, heart-beats, settles, shuts down cleanly.

At-least-once: a job is settled only after its task returned, so a worker killed mid-job leaves
the job in flight until its lease lapses and another worker takes it back. Leases are fenced:
each pickup carries a token; when a heartbeat finds the lease lost (taken back after a stall)
the worker cancels the running coroutine, and a late completion is refused by the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from .._urls import redact_text
from ..backends import BACKEND_ERRORS
from ..errors import ConfigError
from .brokers.base import Outcome
from .heartbeat import WorkerPresence
from .jobs import JobFailure, Lease
from .queue import Queue
from .scheduler import CronScheduler

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger("mediz_infra.queue")


_EVENTS = {"complete": "completed", "retry": "retried", "dead": "dead", "release": "released"}


@dataclass
class WorkerStats:
    """What one worker did since it started."""

    completed: int = 0
    failed: int = 0
    retried: int = 0
    dead: int = 0
    lost_leases: int = 0
    refused: int = 0
    released: int = 0
    backend_errors: int = 0


@dataclass(eq=False)
class _Running:
    lease: Lease
    task: asyncio.Task[None] | None = None
    lost: bool = False
    handed_back: bool = False


class Worker:
    """Runs a queue's jobs.

    Args:
        queue: the queue (its tasks are what this worker can run).
        concurrency: jobs run at once (asyncio tasks).
        lease: seconds a pickup is held without a heartbeat; a job whose worker stops beating
            is taken back after this long. Longer than the longest event-loop stall you expect.
        heartbeat: seconds between heartbeats (default ``lease / 3``).
        grace: on shutdown, seconds running jobs get to finish before they are cancelled and
            handed back.
        poll: the longest idle wait before looking again (delayed jobs, taken-back leases).
        max_stalls: how often a job may be taken back from a dead worker before it goes to
            the dead letters (a job that kills its worker every time).
        clock: seconds since the epoch; default the queue's clock.
        presence_ttl: while :meth:`run` runs, the worker is listed in the admin monitor,
            refreshed every ``presence_ttl / 5`` s; a killed worker drops out after this long.

    Raises:
        ConfigError: a setting out of range.
    """

    def __init__(
        self,
        queue: Queue,
        *,
        concurrency: int = 10,
        lease: float = 30.0,
        heartbeat: float | None = None,
        grace: float = 30.0,
        poll: float = 1.0,
        max_stalls: int = 5,
        clock: Callable[[], float] | None = None,
        presence_ttl: float = 5.0,
    ) -> None:
        for field_name, value in (("concurrency", concurrency), ("lease", lease), ("poll", poll)):
            if value <= 0:
                raise ConfigError(field_name, f"must be > 0, got {value}")
        if grace < 0:
            raise ConfigError("grace", f"must be >= 0 seconds, got {grace}")
        self.queue = queue
        self.broker = queue.broker
        self.concurrency = concurrency
        self.lease = lease
        self.heartbeat_interval = heartbeat if heartbeat is not None else lease / 3
        if not 0 < self.heartbeat_interval < lease:
            raise ConfigError("heartbeat", f"must be > 0 and < lease ({lease}), got {heartbeat}")
        self.grace = grace
        self.poll = poll
        self.max_stalls = max_stalls
        self.clock = clock or queue.clock
        self.id = uuid.uuid4().hex[:12]
        self.stats = WorkerStats()
        # Keyed by pickup (job id, lease token): a retry of a job can be picked up while the
        # attempt before it is still leaving, and each must be tracked apart.
        self._running: dict[tuple[str, int], _Running] = {}
        self._stop = asyncio.Event()
        self._slot = asyncio.Event()
        # Jobs finished so far: a burst run that fetched nothing looks again if one finished
        # meanwhile (its retry may have become due after the fetch had already read the queue).
        self._finished_count = 0
        self.scheduler = CronScheduler(queue, self.clock)
        self.presence = WorkerPresence(
            self.broker,
            self.id,
            queues=(queue.name,),
            concurrency=concurrency,
            activity=lambda: (len(self._running), self.stats.completed),
            clock=self.clock,
            ttl=presence_ttl,
        )

    def __repr__(self) -> str:
        return f"Worker({self.queue.name!r}, id={self.id}, concurrency={self.concurrency})"

    def stop(self) -> None:
        """Ask :meth:`run` to stop fetching and shut down (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def run(self, *, handle_signals: bool = False) -> WorkerStats:
        """Run until :meth:`stop` (or SIGTERM/SIGINT with ``handle_signals``); then let running
        jobs finish within ``grace`` and hand back the rest. Returns the worker's stats.

        The queue's lifespans (:meth:`Queue.lifespan`) are entered before the first fetch and
        left after the shutdown, once each.
        """
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        try:
            async with self._lifespans():
                await self._serve()
        finally:
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
        return self.stats

    async def _serve(self) -> None:
        owned = [asyncio.create_task(self._heartbeat_loop(), name=f"queue-heartbeat-{self.id}")]
        owned.append(asyncio.create_task(self.presence.run(), name=f"queue-presence-{self.id}"))
        if self.queue.crons:
            owned.append(asyncio.create_task(self._cron_loop(), name=f"queue-cron-{self.id}"))
        try:
            await self._fetch_loop(burst=False)
            await self._shutdown()
        finally:
            for task in owned:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    @contextlib.asynccontextmanager
    async def _lifespans(self) -> AsyncIterator[None]:
        """Enter the queue's lifespans in order; leave them in reverse."""
        async with contextlib.AsyncExitStack() as stack:
            for lifespan in self.queue.lifespans:
                await stack.enter_async_context(lifespan())
            if self.queue.lifespans:
                log.info(
                    "queue %r: worker %s started %d lifespan(s)",
                    self.queue.name,
                    self.id,
                    len(self.queue.lifespans),
                )
            yield

    async def run_burst(self) -> WorkerStats:
        """Run every job ready now (and those they make ready now), then return; inside the
        queue's lifespans, as :meth:`run`."""
        async with self._lifespans():
            await self._fetch_loop(burst=True)
        return self.stats

    async def _fetch_loop(self, *, burst: bool) -> None:
        failures = 0
        while not self._stop.is_set():
            free = self.concurrency - len(self._running)
            if free <= 0:
                self._slot.clear()
                await self._until(self._slot.wait(), None)
                continue
            held_back = 0.0  # seconds until the queue's rate limit lets the next job start
            finished_before = self._finished_count
            try:
                if self.queue.rate is None:
                    leases = await self.broker.fetch(
                        free, self.lease, self.clock(), self.max_stalls
                    )
                else:
                    leases, held_back = await self.broker.fetch_limited(
                        free, self.lease, self.clock(), self.max_stalls, self.queue.rate
                    )
                failures = 0
            except BACKEND_ERRORS as exc:
                self.stats.backend_errors += 1
                failures += 1
                pause = min(2.0, 0.05 * 2**failures)
                log.warning(
                    "queue %r: fetch failed (%s); retrying in %.2f s",
                    self.queue.name,
                    type(exc).__name__,
                    pause,
                )
                await self._until(asyncio.sleep(pause), None)
                continue
            for lease in leases:
                self._start(lease)
            if held_back > 0:
                # rate-limited: nothing leased beyond the tokens, so wait for the next one
                # (a burst run counts the held-back jobs as not ready now)
                if not burst:
                    await self._until(asyncio.sleep(held_back), None)
                    continue
                if self._finished_count != finished_before:
                    continue
                if not self._running:
                    return
                self._slot.clear()
                await self._slot.wait()
                continue
            if leases:
                continue
            if burst:
                if self._finished_count != finished_before:
                    continue  # a job settled during the fetch: what it made ready is read now
                if not self._running:
                    return
                self._slot.clear()
                await self._slot.wait()
                continue
            try:
                await self._until(self.broker.wait_for_work(self.poll), self.poll + 5)
            except BACKEND_ERRORS:
                await self._until(asyncio.sleep(min(self.poll, 0.5)), None)

    async def _until(self, aw: Any, timeout: float | None) -> None:
        """Await ``aw`` but return early when the worker is asked to stop."""
        waiter = asyncio.ensure_future(aw)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait(
                {waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for fut in (waiter, stopper):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, *BACKEND_ERRORS):
                        await fut
            if waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
                raise waiter.exception()

    def _start(self, lease: Lease) -> None:
        running = _Running(lease)
        self._running[lease.id, lease.token] = running
        running.task = asyncio.create_task(self._execute(running), name=f"job-{lease.id}")

    def _finished(self, running: _Running) -> None:
        self._running.pop((running.lease.id, running.lease.token), None)
        self._finished_count += 1
        self._slot.set()

    async def _execute(self, running: _Running) -> None:
        lease = running.lease
        try:
            task = self.queue.tasks.get(lease.task)
            if task is None:
                known = ", ".join(sorted(self.queue.tasks)) or "none"
                await self._settle(
                    running,
                    "dead",
                    error=(
                        f"UnknownTask: no task {lease.task!r} is registered on queue "
                        f"{self.queue.name!r} in this worker (known: {known}); deploy the worker "
                        "with that task, then retry the job, or delete it"
                    ),
                )
                return
            try:
                payload = json.loads(lease.payload)
                args, kwargs = list(payload["args"]), dict(payload["kwargs"])
            except (ValueError, TypeError, KeyError) as exc:
                await self._settle(
                    running,
                    "dead",
                    error=(
                        f"UndecodablePayload: job {lease.id!r} of {lease.task!r} does not hold "
                        f'JSON {{"args": [...], "kwargs": {{...}}}} ({type(exc).__name__}: {exc}); '
                        "it was not written by Task.enqueue: delete it"
                    ),
                )
                return
            instruments = self.queue.instruments
            instruments.event(lease.task, "started")
            if lease.attempts == 1:
                wait = max(0.0, self.clock() - lease.enqueued_at)
                instruments.wait.record(wait, {"queue": self.queue.name, "task": lease.task})
            began = time.perf_counter()
            try:
                async with asyncio.timeout(task.timeout):
                    value = await task.func(*args, **kwargs)
                result = json.dumps(value)
            except asyncio.CancelledError:
                if running.lost:
                    instruments.event(lease.task, "lease_lost")
                    self.stats.lost_leases += 1
                    log.warning(
                        "queue %r: job %s lost its lease and was cancelled",
                        self.queue.name,
                        lease.id,
                    )
                    return
                if running.handed_back:
                    await self._settle(running, "release")
                    return
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, TimeoutError) and task.timeout is not None:
                    error = (
                        f"TimeoutError: the attempt ran past the task's timeout ({task.timeout} s)"
                    )
                tb = traceback.format_exc()
                self._measure(lease, began, "failed")
                instruments.event(lease.task, "failed")
                self.stats.failed += 1
                final = lease.attempts >= lease.max_attempts
                if not final:
                    retry_at = self.clock() + task.backoff.delay(lease.attempts)
                    settled = await self._settle(
                        running, "retry", error=error, tb=tb, retry_at=retry_at
                    )
                else:
                    settled = await self._settle(running, "dead", error=error, tb=tb)
                if settled:
                    self._report(lease, exc, final=final)
                return
            self._measure(lease, began, "completed")
            await self._settle(running, "complete", result=result)
        finally:
            self._finished(running)

    def _report(self, lease: Lease, exc: BaseException, *, final: bool) -> None:
        """Hand a failed attempt to the queue's failure listeners (error trackers)."""
        listeners = self.queue.failure_listeners
        if not listeners:
            return
        failure = JobFailure(
            self.queue.name,
            lease.task,
            lease.id,
            lease.attempts,
            lease.max_attempts,
            final,
            exc,
            message=redact_text(f"{type(exc).__name__}: {exc}"),
        )
        for listener in listeners:
            try:
                listener(failure)
            except Exception:  # a broken reporter must not break the worker
                # the traceback as text, masked: the listener's error may quote the job's
                log.error(
                    "queue %r: failure listener %r raised for job %s:\n%s",
                    self.queue.name,
                    listener,
                    lease.id,
                    redact_text(traceback.format_exc()).rstrip(),
                )

    def _measure(self, lease: Lease, began: float, outcome: str) -> None:
        attributes = {"queue": self.queue.name, "task": lease.task, "outcome": outcome}
        self.queue.instruments.duration.record(time.perf_counter() - began, attributes)

    async def _settle(
        self,
        running: _Running,
        outcome: Outcome,
        *,
        result: str = "",
        error: str = "",
        tb: str = "",
        retry_at: float = 0.0,
    ) -> bool:
        """Write the outcome; False when it was refused (a stale lease) or could not be written.

        The error and traceback are stored (and so shown and logged) with URL passwords and
        secret-looking values masked: an exception's text may quote a connection URL."""
        lease = running.lease
        error, tb = redact_text(error), redact_text(tb)
        # A broker hiccup (Redis restarting) must not lose the outcome: try until the lease
        # would lapse anyway; after that the job is taken back and run again (at-least-once).
        give_up = asyncio.get_running_loop().time() + self.lease
        pause = 0.05
        while True:
            try:
                ok = await asyncio.shield(
                    self.broker.settle(
                        lease.id,
                        lease.token,
                        outcome,
                        self.clock(),
                        result=result,
                        error=error,
                        traceback=tb,
                        retry_at=retry_at,
                        result_ttl=self.queue.result_ttl,
                    )
                )
                break
            except BACKEND_ERRORS as exc:
                self.stats.backend_errors += 1
                if asyncio.get_running_loop().time() + pause > give_up:
                    log.warning(
                        "queue %r: could not settle job %s (%s); it will be taken back",
                        self.queue.name,
                        lease.id,
                        type(exc).__name__,
                    )
                    return False
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
        if not ok:
            self.stats.refused += 1
            return False
        self.queue.instruments.event(lease.task, _EVENTS[outcome])
        if outcome == "complete":
            self.stats.completed += 1
        elif outcome == "retry":
            self.stats.retried += 1
        elif outcome == "dead":
            self.stats.dead += 1
            log.error(
                "queue %r: job %s (%s) is dead: %s", self.queue.name, lease.id, lease.task, error
            )
        else:
            self.stats.released += 1
        return True

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            held = list(self._running.values())
            if not held:
                continue
            try:
                alive = await self.broker.heartbeat(
                    [(r.lease.id, r.lease.token) for r in held], self.clock() + self.lease
                )
            except BACKEND_ERRORS as exc:
                self.stats.backend_errors += 1
                log.warning("queue %r: heartbeat failed (%s)", self.queue.name, type(exc).__name__)
                continue
            for running, ok in zip(held, alive, strict=True):
                if not ok and running.task is not None and not running.task.done():
                    running.lost = True
                    running.task.cancel()

    async def _cron_loop(self) -> None:
        while True:
            await self.scheduler.step()
            now = self.clock()
            due = self.scheduler.next_due(now)
            wait = self.poll if due is None else min(self.poll, max(0.005, due - now))
            await asyncio.sleep(wait)

    async def _shutdown(self) -> None:
        tasks = [r.task for r in self._running.values() if r.task is not None]
        if not tasks:
            return
        log.info(
            "queue %r: stopping; %d job(s) running get %.1f s to finish",
            self.queue.name,
            len(tasks),
            self.grace,
        )
        _, pending = await asyncio.wait(tasks, timeout=self.grace)
        for running in list(self._running.values()):
            if running.task in pending:
                running.handed_back = True
                running.task.cancel()
        if pending:
            await asyncio.wait(pending)
