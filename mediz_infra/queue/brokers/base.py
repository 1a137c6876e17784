"""The broker contract: what a queue needs from its store, in one Protocol.

Two brokers implement it: :class:`~.redis.RedisBroker` (the real one, Lua scripts on one hash
tag) and :class:`~.memory.MemoryBroker` (one process: tests and the single-process demo). One
contract suite (``tests/integration/test_queue_contract.py``) runs over both. Times are seconds
from the queue's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..jobs import EnqueueOutcome, JobInfo, JobRecord, Lease

__all__ = [
    "RateLimit",
    "COUNTERS",
    "FAILURES_KEPT",
    "MINUTES_KEPT",
    "SIZES",
    "Broker",
    "Failure",
    "MinuteCount",
    "Outcome",
]

SIZES = ("waiting", "delayed", "active", "complete", "dead")
"""The keys of :meth:`Broker.counts` that are sizes: the jobs in each state now, named by
:data:`~..jobs.JobStatus` (``complete``: finished jobs whose results are still kept)."""

COUNTERS = (
    "completed",
    "failed",
    "retried",
    "dead_lettered",
    "reclaimed",
    "released",
    "stale_refused",
)
"""The keys of :meth:`Broker.counts` that are counters, totals since the queue's first job,
named by event: attempts that completed or failed, failures retried or dead-lettered, leases
taken back, jobs handed back on shutdown, stale settlements refused."""

MINUTES_KEPT = 120
"""Per-minute throughput buckets expire after this many minutes."""

FAILURES_KEPT = 100
"""How many recent failures a queue keeps (older ones are dropped; dead jobs stay dead)."""

Outcome = Literal["complete", "retry", "dead", "release"]
"""How a leased job is settled: done, failed with a retry at ``retry_at``, failed for good
(dead letters), or handed back untouched (a worker shutting down)."""

RateLimit = tuple[float, int]
"""A queue's start rate for :meth:`Broker.fetch_limited`: ``(jobs per second, burst)``, a token
bucket of ``burst`` starts refilled at the rate, shared by every worker of the queue."""


@dataclass(frozen=True, slots=True)
class MinuteCount:
    """Attempts settled in one minute: ``minute`` is its start (epoch seconds, UTC)."""

    minute: int
    completed: int
    failed: int


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt: the job, its task, the error, when (epoch seconds), the attempt it
    was, and what followed (``retry`` or ``dead``)."""

    id: str
    task: str
    error: str
    at: float
    attempt: int
    outcome: str


class Broker(Protocol):
    """A queue's store. Every method that touches several structures is atomic."""

    async def enqueue(self, records: Sequence[JobRecord]) -> list[tuple[EnqueueOutcome, str]]:
        """Add jobs in order; per record what happened and the id of the job it is now:
        ``created`` (its own id), ``ignored`` (its id already existed, or a throttle window
        holds its dedup key: that job's id) or ``replaced`` (the pending job of its debounce
        key took its payload and due time: that job's id)."""
        ...

    async def fetch(self, count: int, lease: float, now: float, max_stalls: int) -> list[Lease]:
        """Promote due delayed jobs, take back leases expired by ``now``, then lease up to
        ``count`` waiting jobs until ``now + lease``. A job taken back more than ``max_stalls``
        times goes to the dead letters."""
        ...

    async def fetch_limited(
        self, count: int, lease: float, now: float, max_stalls: int, rate: RateLimit
    ) -> tuple[list[Lease], float]:
        """:meth:`fetch`, leasing no more jobs than the queue's start-rate bucket holds tokens
        for (one token a lease); with the seconds until the next token when jobs are left
        waiting for one (0 otherwise)."""
        ...

    async def heartbeat(self, leases: Sequence[tuple[str, int]], deadline: float) -> list[bool]:
        """Extend each ``(id, token)`` lease to ``deadline``; False for each one lost."""
        ...

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
        """Settle a leased job; False (and counted as ``stale_refused``) when ``token`` is no
        longer the job's lease."""
        ...

    async def info(self, job_id: str) -> JobInfo | None:
        """A job's state, or None."""
        ...

    async def counts(self) -> dict[str, int]:
        """Every key of :data:`SIZES` (jobs there now) and :data:`COUNTERS` (totals), 0 when
        none: the same keys on every broker."""
        ...

    async def dead(self, limit: int = 50) -> list[JobInfo]:
        """The newest dead letters, newest first."""
        ...

    async def retry_dead(self, job_id: str) -> bool:
        """Put a dead job back to waiting with its attempts reset; False if it is not dead."""
        ...

    async def delete(self, job_id: str) -> bool:
        """Remove a job wherever it is; False if there was none."""
        ...

    async def set_paused(self, paused: bool) -> None:
        """Pause (workers lease nothing) or resume the queue."""
        ...

    async def cron_last(self, name: str) -> float | None:
        """The last tick claimed for cron schedule ``name`` (None before the first)."""
        ...

    async def cron_advance(self, name: str, previous: float | None, tick: float) -> bool:
        """Claim ``tick`` if the last claimed tick is still ``previous``; False if another
        worker moved it first."""
        ...

    async def wait_for_work(self, timeout: float) -> None:
        """Return when a job may have become ready, or after ``timeout`` seconds."""
        ...

    async def aclose(self) -> None:
        """Release what the broker owns."""
        ...

    # -- for the admin monitor (mediz_infra.queue.monitor) --

    async def is_paused(self) -> bool:
        """Whether the queue is paused."""
        ...

    async def throughput(self, now: float, minutes: int) -> list[MinuteCount]:
        """Attempts completed and failed per minute over the last ``minutes`` minutes up to
        the one holding ``now``, oldest first (buckets are kept :data:`MINUTES_KEPT` min)."""
        ...

    async def failures(self, limit: int) -> list[Failure]:
        """The newest failed attempts (up to :data:`FAILURES_KEPT`), newest first."""
        ...

    async def beat_worker(self, worker_id: str, info: str, ttl: float) -> None:
        """Register or refresh a live worker (``info``: its JSON) for ``ttl`` seconds."""
        ...

    async def remove_worker(self, worker_id: str) -> None:
        """Forget a worker at once (it stopped cleanly)."""
        ...

    async def workers(self) -> list[str]:
        """The JSON of every worker whose registration has not expired."""
        ...
