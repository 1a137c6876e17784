"""The broker contract: what a queue needs from its store, in one Protocol.

Two brokers implement it: :class:`~.redis.RedisBroker` (the real one, Lua scripts on one hash
tag) and :class:`~.memory.MemoryBroker` (one process: tests and the single-process demo). One
contract suite (``tests/integration/test_queue_contract.py``) runs over both. Times are seconds
from the queue's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from ..jobs import EnqueueOutcome, JobInfo, JobRecord, Lease

__all__ = ["Broker", "Outcome", "RateLimit"]

Outcome = Literal["complete", "retry", "dead", "release"]
"""How a leased job is settled: done, failed with a retry at ``retry_at``, failed for good
(dead letters), or handed back untouched (a worker shutting down)."""

RateLimit = tuple[float, int]
"""A queue's start rate for :meth:`Broker.fetch_limited`: ``(jobs per second, burst)``, a token
bucket of ``burst`` starts refilled at the rate, shared by every worker of the queue."""


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
        """Sizes (``waiting``, ``delayed``, ``active``, ``complete``, ``dead``) and counters
        (``completed``, ``failed``, ``retried``, ``reclaimed``, ``stale_refused``, ...)."""
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
