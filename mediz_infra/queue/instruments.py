"""A queue's OpenTelemetry instruments, made once per queue (no-ops without an SDK)."""

from __future__ import annotations

from .. import telemetry

__all__ = ["QueueInstruments"]


class QueueInstruments:
    """Job counts by event, wait before the first start, and attempt durations.

    Names and units are declared in :mod:`mediz_infra.telemetry` (``QUEUE_*``).
    """

    __slots__ = ("duration", "jobs", "queue", "wait")

    def __init__(self, queue: str) -> None:
        meter = telemetry.get_meter("queue")
        self.queue = queue
        self.jobs = meter.create_counter(telemetry.QUEUE_JOBS, unit="{job}")
        self.wait = meter.create_histogram(telemetry.QUEUE_JOB_WAIT, unit="s")
        self.duration = meter.create_histogram(telemetry.QUEUE_JOB_DURATION, unit="s")

    def event(self, task: str, event: str, count: int = 1) -> None:
        """Count ``count`` jobs of ``task`` reaching ``event``."""
        self.jobs.add(count, {"queue": self.queue, "task": task, "event": event})
