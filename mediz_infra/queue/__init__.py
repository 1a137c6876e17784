"""Job queue: tasks enqueued from requests, run by workers with retries, leases and dead letters.

At-least-once on Redis (lists and sorted sets moved by Lua scripts under one hash tag) or in one
process (``memory://``). See ``docs/queue.md``.
"""

from __future__ import annotations

from .backoff import Backoff
from .brokers.base import Broker
from .brokers.memory import MemoryBroker
from .brokers.redis import RedisBroker
from .jobs import Job, JobFailed, JobInfo, JobRecord, JobStatus, Lease
from .queue import JobCall, Queue, Task
from .worker import Worker, WorkerStats

__all__ = [
    # backoff
    "Backoff",
    # brokers
    "Broker",
    "MemoryBroker",
    "RedisBroker",
    # jobs
    "Job",
    "JobFailed",
    "JobInfo",
    "JobRecord",
    "JobStatus",
    "Lease",
    # queue
    "JobCall",
    "Queue",
    "Task",
    # worker
    "Worker",
    "WorkerStats",
]
