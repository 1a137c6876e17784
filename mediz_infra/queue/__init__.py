"""Job queue: tasks enqueued from requests, run by workers with retries, leases and dead letters.

At-least-once on Redis (lists and sorted sets moved by Lua scripts under one hash tag) or in one
process (``memory://``). See ``docs/queue.md``.
"""

from __future__ import annotations

from .backoff import Backoff
from .brokers.base import COUNTERS, SIZES, Broker, Failure, MinuteCount
from .brokers.memory import MemoryBroker
from .brokers.redis import RedisBroker
from .cron import Cron, Every, Schedule
from .dedup import Debounce, Dedup, Throttle
from .heartbeat import WorkerInfo, WorkerPresence
from .jobs import (
    EnqueueOutcome,
    Job,
    JobFailed,
    JobFailure,
    JobInfo,
    JobRecord,
    JobStatus,
    Lease,
)
from .monitor import QueueMonitor, monitor_routes
from .monitor_page import MonitorPage
from .outbox import Executor, Outbox, OutboxConnection, outbox_schema
from .queue import FailureListener, JobCall, Lifespan, Queue, Task
from .scheduler import CronJob, Misfire
from .worker import Worker, WorkerStats

__all__ = [
    # backoff
    "Backoff",
    # brokers
    "COUNTERS",
    "SIZES",
    "Broker",
    "Failure",
    "MinuteCount",
    "MemoryBroker",
    "RedisBroker",
    # cron
    "Cron",
    "Every",
    "Schedule",
    # dedup
    "Debounce",
    "Dedup",
    "Throttle",
    # heartbeat
    "WorkerInfo",
    "WorkerPresence",
    # jobs
    "EnqueueOutcome",
    "Job",
    "JobFailed",
    "JobFailure",
    "JobInfo",
    "JobRecord",
    "JobStatus",
    "Lease",
    # monitor
    "MonitorPage",
    "QueueMonitor",
    "monitor_routes",
    # outbox
    "Executor",
    "Outbox",
    "OutboxConnection",
    "outbox_schema",
    # queue
    "FailureListener",
    "Lifespan",
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
