"""What a job is on its way through a queue: the record enqueued, the lease a worker holds,
the state a caller reads back, and :class:`Job`, the caller's handle.

A job's status moves ``waiting -> active -> complete``; a failure with retries left goes
``active -> delayed -> waiting`` again, the last failure (or a poison payload) ends in ``dead``.
A ``_delay``/``_at`` job starts ``delayed``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..errors import InfraError
from .dedup import Dedup

__all__ = [
    "EnqueueOutcome",
    "Job",
    "JobFailed",
    "JobFailure",
    "JobInfo",
    "JobRecord",
    "JobStatus",
    "Lease",
]

JobStatus = Literal["waiting", "delayed", "active", "complete", "dead"]
"""Where a job is: ``waiting`` for a worker, ``delayed`` until its time (or its next retry),
``active`` on a worker, ``complete`` with a result, ``dead`` in the dead letters."""

EnqueueOutcome = Literal["created", "ignored", "replaced"]
"""What an enqueue did: made a new job; added nothing (the ``_job_id`` exists, or a
:class:`~.dedup.Throttle` window holds the key); or updated the pending job of a
:class:`~.dedup.Debounce` key (its arguments, and its start moved to the window's new end)."""


class JobFailed(InfraError, RuntimeError):
    """A job ended in the dead letters; carries its ``job_id``, ``error`` and ``traceback``."""

    def __init__(self, job_id: str, error: str, traceback: str = "") -> None:
        self.job_id = job_id
        self.error = error
        self.traceback = traceback
        super().__init__(
            f"job {job_id!r} is dead: {error}; retry it from the dead letters "
            "(Queue.retry_dead) once the cause is fixed"
        )


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job to enqueue: its id, task name, JSON payload, attempt budget, times (seconds) and
    its deduplication mode, if any."""

    id: str
    task: str
    payload: str
    max_attempts: int
    enqueued_at: float
    eta: float
    dedup: Dedup | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """A job a worker picked up. ``token`` fences it: settling with an older token is refused."""

    id: str
    token: int
    attempts: int
    task: str
    payload: str
    max_attempts: int
    enqueued_at: float


@dataclass(frozen=True, slots=True)
class JobFailure:
    """One failed attempt, as a worker hands it to the queue's failure listeners
    (:meth:`~.queue.Queue.on_failure`). It carries no task arguments: they may hold secrets.

    Attributes:
        queue: the queue's name.
        task: the task's name.
        job_id: the job's id.
        attempt: this attempt's number (1 for the first run).
        max_attempts: the job's attempt budget (``retries + 1``).
        final: true when this attempt sent the job to the dead letters.
        error: the exception the task raised (a ``TimeoutError`` past the task's timeout),
            as raised: its text may hold a secret (a URL with a password); log
            ``message``, or mask it with an error tracker (``JobErrorTracker`` does).
        message: ``"<type>: <text>"`` of ``error`` with URL passwords, ``password=``/
            ``token=``-style values and bearer credentials masked: safe to log.
    """

    queue: str
    task: str
    job_id: str
    attempt: int
    max_attempts: int
    final: bool
    error: BaseException
    message: str = ""


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A job's state as the broker holds it."""

    id: str
    task: str
    status: JobStatus
    attempts: int
    result: str | None = None
    error: str | None = None
    traceback: str | None = None


class _JobSource(Protocol):
    """What a :class:`Job` handle reads from: the broker's ``info``."""

    async def info(self, job_id: str) -> JobInfo | None: ...


class Job:
    """The handle :meth:`Task.enqueue` returns: ask a job's status, wait for its result.

    Args:
        job_id: the job's id.
        broker: the queue's broker.
        outcome: what the enqueue did (see :data:`EnqueueOutcome`); for ``ignored`` and
            ``replaced`` the handle is the job already there.
    """

    __slots__ = ("_broker", "id", "outcome")

    def __init__(
        self, job_id: str, broker: _JobSource, *, outcome: EnqueueOutcome = "created"
    ) -> None:
        self.id = job_id
        self._broker = broker
        self.outcome: EnqueueOutcome = outcome

    def __repr__(self) -> str:
        return f"Job({self.id!r})"

    @property
    def created(self) -> bool:
        """True when the enqueue made this job (``outcome == "created"``)."""
        return self.outcome == "created"

    async def info(self) -> JobInfo | None:
        """The job's full state, or None once it is gone (deleted, or its result expired)."""
        return await self._broker.info(self.id)

    async def status(self) -> JobStatus | None:
        """The job's status, or None once it is gone (deleted, or its result expired)."""
        info = await self._broker.info(self.id)
        return None if info is None else info.status

    async def result(self, timeout: float | None = None, *, poll: float = 0.05) -> Any:
        """Wait for the job to finish and return its result (decoded from JSON).

        Args:
            timeout: give up after this many seconds (None: wait for ever).
            poll: the first polling interval; it doubles up to 1 s.

        Raises:
            JobFailed: the job is in the dead letters.
            TimeoutError: it did not finish within ``timeout`` (it keeps running).
            LookupError: no such job (never enqueued, deleted, or its result expired).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = await self._broker.info(self.id)
            if info is None:
                raise LookupError(
                    f"job {self.id!r} not found: never enqueued, deleted, or its result expired "
                    "(raise the queue's result_ttl to keep results longer)"
                )
            if info.status == "complete":
                return None if info.result is None else json.loads(info.result)
            if info.status == "dead":
                raise JobFailed(self.id, info.error or "", info.traceback or "")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"job {self.id!r} still {info.status} after {timeout} s; it keeps its place"
                )
            wait = poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(wait)
            poll = min(poll * 2, 1.0)
