"""Job queue: tasks enqueued from requests, run by workers with retries, leases and dead letters.

At-least-once on Redis (lists and sorted sets moved by Lua scripts under one hash tag) or in one
process (``memory://``). See ``docs/queue.md``.
"""

from __future__ import annotations

from .backoff import Backoff
from .brokers.base import Broker
from .brokers.memory import MemoryBroker
from .brokers.redis import RedisBroker
from .cron import Cron, Every, Schedule
from .jobs import Job, JobFailed, JobFailure, JobInfo, JobRecord, JobStatus, Lease
from .outbox import Executor, Outbox, OutboxConnection, outbox_schema
from .queue import FailureListener, JobCall, Queue, Task
from .scheduler import CronJob, Misfire
from .worker import Worker, WorkerStats

__all__ = [
    # backoff
    "Backoff",
    # brokers
    "Broker",
    "MemoryBroker",
    "RedisBroker",
    # cron
    "Cron",
    "Every",
    "Schedule",
    # jobs
    "Job",
    "JobFailed",
    "JobFailure",
    "JobInfo",
    "JobRecord",
    "JobStatus",
    "Lease",
    # outbox
    "Executor",
    "Outbox",
    "OutboxConnection",
    "outbox_schema",
    # queue
    "FailureListener",
    "JobCall",
    "Queue",
    "Task",
    # scheduler
    "CronJob",
    "Misfire",
    # worker
    "Worker",
    "WorkerStats",
]
