"""The in-process broker: plain dicts and a deque, for tests and the single-process demo.

It keeps the same contract as :class:`~.redis.RedisBroker` (one suite runs over both) but only
within one process and one event loop: nothing survives a restart. Each method runs without an
``await`` between its reads and writes, so each is atomic as a Lua script is.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

from ..jobs import EnqueueOutcome, JobInfo, JobRecord, JobStatus, Lease
from .base import (
    COUNTERS,
    FAILURES_KEPT,
    MINUTES_KEPT,
    SIZES,
    Failure,
    MinuteCount,
    Outcome,
    RateLimit,
)

__all__ = ["MemoryBroker"]


@dataclass(slots=True)
class _Job:
    record: JobRecord
    status: JobStatus = "waiting"
    attempts: int = 0
    stalls: int = 0
    lease: int = 0
    result: str | None = None
    error: str | None = None
    traceback: str | None = None
    expires: float | None = None


class MemoryBroker:
    """A broker in this process's memory. See :class:`~.base.Broker`."""

    def __init__(self) -> None:
        self._jobs: dict[str, _Job] = {}
        self._waiting: deque[str] = deque()  # popleft = next
        self._delayed: dict[str, float] = {}
        self._active: dict[str, float] = {}
        self._dead: dict[str, float] = {}
        self._done: dict[str, float] = {}
        self._stats: dict[str, int] = {}
        self._paused = False
        self._cron: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._dedup: dict[str, tuple[str, float]] = {}  # mode:task:key -> (job id, until)
        self._dedup_sweep = 64
        self._bucket: tuple[float, float] | None = None  # start-rate tokens, as of when
        self._minutes: dict[int, dict[str, int]] = {}  # epoch minute -> completed, failed
        self._failures: deque[Failure] = deque(maxlen=FAILURES_KEPT)
        self._workers: dict[str, tuple[str, float]] = {}  # id -> (JSON, monotonic expiry)

    def _count(self, name: str) -> None:
        self._stats[name] = self._stats.get(name, 0) + 1

    def _expire(self, now: float) -> None:
        """Forget completed jobs whose result time is up (completion order is time order)."""
        for job_id in list(self._done):
            job = self._jobs.get(job_id)
            if job is not None and job.expires is not None and job.expires > now:
                break
            del self._done[job_id]
            self._jobs.pop(job_id, None)

    def _deduplicate(self, record: JobRecord) -> tuple[EnqueueOutcome, str] | None:
        """Apply the record's throttle or debounce: what happened instead of a new job, or None
        (make it, its key now held)."""
        dedup = record.dedup
        if dedup is None:
            return None
        now = record.enqueued_at
        if len(self._dedup) >= self._dedup_sweep:
            for slot, (_, until) in list(self._dedup.items()):
                if until <= now:
                    del self._dedup[slot]
            self._dedup_sweep = max(64, 2 * len(self._dedup))
        slot = f"{dedup.mode}:{record.task}:{dedup.key}"
        held = self._dedup.get(slot)
        if held is not None:
            job_id, until = held
            if dedup.mode == "throttle" and until > now:
                return "ignored", job_id
            job = self._jobs.get(job_id)
            due = self._delayed.get(job_id)
            if dedup.mode == "debounce" and job and due and due > now and job.attempts == 0:
                job.record = replace(job.record, payload=record.payload)
                self._delayed[job_id] = record.eta
                self._dedup[slot] = (job_id, record.eta)
                return "replaced", job_id
        self._dedup[slot] = (record.id, now + dedup.window)
        return None

    async def enqueue(self, records: Sequence[JobRecord]) -> list[tuple[EnqueueOutcome, str]]:
        created: list[tuple[EnqueueOutcome, str]] = []
        for record in records:
            self._expire(record.enqueued_at)
            if record.id in self._jobs:
                created.append(("ignored", record.id))
                continue
            instead = self._deduplicate(record)
            if instead is not None:
                created.append(instead)
                continue
            job = _Job(record)
            self._jobs[record.id] = job
            if record.eta > record.enqueued_at:
                job.status = "delayed"
                self._delayed[record.id] = record.eta
            else:
                self._waiting.append(record.id)
                self._wake.set()
            created.append(("created", record.id))
        return created

    async def fetch(self, count: int, lease: float, now: float, max_stalls: int) -> list[Lease]:
        for job_id, eta in sorted(self._delayed.items(), key=lambda item: item[1]):
            if eta > now:
                break
            del self._delayed[job_id]
            if job_id in self._jobs:
                self._jobs[job_id].status = "waiting"
                self._waiting.append(job_id)
        for job_id, deadline in list(self._active.items()):
            if deadline > now:
                continue
            del self._active[job_id]
            job = self._jobs.get(job_id)
            if job is None:
                continue
            self._count("reclaimed")
            job.attempts -= 1
            job.stalls += 1
            if job.stalls > max_stalls:
                job.status = "dead"
                job.error = (
                    f"LeaseLost: the job's worker stopped heart-beating {job.stalls} times "
                    "(killed, or blocked the event loop past the lease); "
                    "fix the task, then retry it"
                )
                job.traceback = ""
                self._dead[job_id] = now
                self._count("dead")
            else:
                job.status = "waiting"
                self._waiting.appendleft(job_id)
        leases: list[Lease] = []
        while not self._paused and len(leases) < count and self._waiting:
            job_id = self._waiting.popleft()
            job = self._jobs.get(job_id)
            if job is None:
                continue
            job.lease += 1
            job.attempts += 1
            job.status = "active"
            self._active[job_id] = now + lease
            r = job.record
            leases.append(
                Lease(
                    job_id,
                    job.lease,
                    job.attempts,
                    r.task,
                    r.payload,
                    r.max_attempts,
                    r.enqueued_at,
                )
            )
        return leases

    async def fetch_limited(
        self, count: int, lease: float, now: float, max_stalls: int, rate: RateLimit
    ) -> tuple[list[Lease], float]:
        per_second, burst = rate
        tokens, since = self._bucket or (float(burst), now)
        if now > since:
            tokens, since = min(float(burst), tokens + (now - since) * per_second), now
        leases = await self.fetch(min(count, int(tokens + 1e-9)), lease, now, max_stalls)
        tokens -= len(leases)
        self._bucket = (tokens, since)
        held_back = tokens + 1e-9 < 1 and bool(self._waiting) and not self._paused
        return leases, (1 - tokens) / per_second if held_back else 0.0

    async def heartbeat(self, leases: Sequence[tuple[str, int]], deadline: float) -> list[bool]:
        held = []
        for job_id, token in leases:
            job = self._jobs.get(job_id)
            ok = job is not None and job.lease == token and job_id in self._active
            if ok:
                self._active[job_id] = deadline
            held.append(ok)
        return held

    async def settle(
        self,
        job_id: str,
        token: int,
        outcome: Outcome,
        now: float,
        *,
        result: str = "",
        error: str = "",
        traceback: str = "",
        retry_at: float = 0.0,
        result_ttl: float = 3600.0,
    ) -> bool:
        job = self._jobs.get(job_id)
        if job is None or job.lease != token or job_id not in self._active:
            self._count("stale_refused")
            return False
        del self._active[job_id]
        if outcome == "complete":
            job.status, job.result, job.expires = "complete", result, now + result_ttl
            self._done[job_id] = now
            self._expire(now)
            self._count("completed")
            self._per_minute(now, "completed")
        elif outcome == "release":
            job.attempts -= 1
            job.status = "waiting"
            self._waiting.appendleft(job_id)
            self._wake.set()
            self._count("released")
        else:
            self._count("failed")
            self._per_minute(now, "failed")
            job.error, job.traceback = error, traceback
            self._failures.appendleft(
                Failure(job_id, job.record.task, error[:2000], now, job.attempts, outcome)
            )
            if outcome == "retry":
                job.status = "delayed"
                self._delayed[job_id] = retry_at
                self._count("retried")
            else:
                job.status = "dead"
                self._dead[job_id] = now
                self._count("dead")
        return True

    async def info(self, job_id: str) -> JobInfo | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        return JobInfo(
            job_id, job.record.task, job.status, job.attempts, job.result, job.error, job.traceback
        )

    async def counts(self) -> dict[str, int]:
        sizes = (self._waiting, self._delayed, self._active, self._done, self._dead)
        out = {name: len(held) for name, held in zip(SIZES, sizes, strict=True)}
        stats = {**self._stats, "dead_lettered": self._stats.get("dead", 0)}
        out.update({name: stats.get(name, 0) for name in COUNTERS})
        return out

    async def dead(self, limit: int = 50) -> list[JobInfo]:
        newest = sorted(self._dead.items(), key=lambda item: item[1], reverse=True)[:limit]
        return [cast(JobInfo, await self.info(job_id)) for job_id, _ in newest]

    async def retry_dead(self, job_id: str) -> bool:
        if self._dead.pop(job_id, None) is None:
            return False
        job = self._jobs[job_id]
        job.status, job.attempts, job.stalls = "waiting", 0, 0
        self._waiting.append(job_id)
        self._wake.set()
        return True

    async def delete(self, job_id: str) -> bool:
        if self._jobs.pop(job_id, None) is None:
            return False
        for index in (self._delayed, self._active, self._dead, self._done):
            index.pop(job_id, None)
        if job_id in self._waiting:
            self._waiting.remove(job_id)
        return True

    async def set_paused(self, paused: bool) -> None:
        self._paused = paused
        if not paused:
            self._wake.set()

    async def cron_last(self, name: str) -> float | None:
        return self._cron.get(name)

    async def cron_advance(self, name: str, previous: float | None, tick: float) -> bool:
        if self._cron.get(name) != previous:
            return False
        self._cron[name] = tick
        return True

    async def wait_for_work(self, timeout: float) -> None:
        if self._waiting and not self._paused:
            return
        self._wake.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def aclose(self) -> None:
        return None

    def _per_minute(self, now: float, field: str) -> None:
        minute = int(now // 60)
        bucket = self._minutes.setdefault(minute, {"completed": 0, "failed": 0})
        bucket[field] += 1
        for old in [m for m in self._minutes if m <= minute - MINUTES_KEPT]:
            del self._minutes[old]

    async def is_paused(self) -> bool:
        return self._paused

    async def throughput(self, now: float, minutes: int) -> list[MinuteCount]:
        last = int(now // 60)
        out = []
        for minute in range(last - minutes + 1, last + 1):
            bucket = self._minutes.get(minute, {})
            out.append(
                MinuteCount(minute * 60, bucket.get("completed", 0), bucket.get("failed", 0))
            )
        return out

    async def failures(self, limit: int) -> list[Failure]:
        return list(self._failures)[: max(0, limit)]

    async def beat_worker(self, worker_id: str, info: str, ttl: float) -> None:
        self._workers[worker_id] = (info, time.monotonic() + ttl)

    async def remove_worker(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    async def workers(self) -> list[str]:
        now = time.monotonic()
        for worker_id in [w for w, (_, expires) in self._workers.items() if expires <= now]:
            del self._workers[worker_id]
        return [info for info, _ in self._workers.values()]
