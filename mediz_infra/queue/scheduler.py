"""Cron ticks turned into jobs, by whichever worker gets there first: no scheduler process.

Every worker runs a :class:`CronScheduler`. For each schedule it reads the last claimed tick,
works out which due ticks to run under the schedule's misfire policy, enqueues each as a job
whose id is ``cron:<name>:<tick>`` (so two workers enqueueing the same tick make one job) and
then claims the tick with a compare-and-set on the last tick (so a tick whose job has long
expired is never enqueued again). Exactly once per tick, however many workers run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..backends import BACKEND_ERRORS
from ..errors import ConfigError
from .cron import Schedule

__all__ = ["CronJob", "CronScheduler", "Misfire"]

log = logging.getLogger("mediz_infra.queue")

Misfire = Literal["skip", "once", "all"]
"""What to do with ticks missed while no worker ran: ``skip`` them (a tick later than
``misfire_grace`` is dropped), run ``once`` for all of them, or run ``all`` of them in order."""


@dataclass(frozen=True)
class CronJob:
    """A task run on a schedule. See :meth:`~.queue.Queue.cron`."""

    name: str
    task: Any  # the Task
    schedule: Schedule
    misfire: Misfire = "skip"
    misfire_grace: float = 30.0
    skip_if_running: bool = False

    def __post_init__(self) -> None:
        if self.misfire not in ("skip", "once", "all"):
            raise ConfigError("misfire", f"must be 'skip', 'once' or 'all', got {self.misfire!r}")
        if self.misfire_grace < 0:
            raise ConfigError("misfire_grace", f"must be >= 0 seconds, got {self.misfire_grace}")

    def job_id(self, tick: float) -> str:
        """The id of this schedule's job for ``tick``: the same on every worker."""
        return f"cron:{self.name}:{int(tick * 1000)}"


class CronScheduler:
    """Enqueues a queue's cron jobs when due. Owned by a :class:`~.worker.Worker`."""

    def __init__(self, queue: Any, clock: Callable[[], float]) -> None:
        self.queue = queue
        self.clock = clock
        self.checked_at: float | None = None  # the clock value of the last completed step

    def next_due(self, now: float) -> float | None:
        """The earliest next tick of any schedule after ``now`` (None: no schedules)."""
        ticks = [c.schedule.next_after(now) for c in self.queue.crons.values()]
        return min(ticks) if ticks else None

    async def step(self) -> int:
        """Enqueue every tick due now; how many jobs this worker enqueued."""
        now = self.clock()
        enqueued = 0
        for cron in self.queue.crons.values():
            try:
                enqueued += await self._run(cron, now)
            except BACKEND_ERRORS as exc:
                log.warning(
                    "queue %r: cron %r not checked (%s); next step retries",
                    self.queue.name,
                    cron.name,
                    type(exc).__name__,
                )
        self.checked_at = now
        return enqueued

    async def _run(self, cron: CronJob, now: float) -> int:
        broker = self.queue.broker
        enqueued = 0
        while True:
            last = await broker.cron_last(cron.name)
            if last is None:  # first start ever: begin with the next tick, run no history
                if await broker.cron_advance(cron.name, None, now):
                    return enqueued
                continue
            due: list[float] = []
            tick = cron.schedule.next_after(last)
            while tick <= now and len(due) < 10_000:
                due.append(tick)
                tick = cron.schedule.next_after(tick)
            if not due:
                return enqueued
            if cron.misfire == "all":
                run, claim = due[:1], due[0]
            elif cron.misfire == "once":
                run, claim = due[-1:], due[-1]
            else:
                late = now - due[-1] > cron.misfire_grace
                run, claim = ([] if late else due[-1:]), due[-1]
            for t in run:
                if cron.skip_if_running and await self._previous_running(cron, last):
                    log.info(
                        "queue %r: cron %r tick skipped: the previous run is not done",
                        self.queue.name,
                        cron.name,
                    )
                    continue
                call = cron.task.call(_job_id=cron.job_id(t))
                (job,) = await self.queue.enqueue_many([call])
                enqueued += int(job.created)
            if not await broker.cron_advance(cron.name, last, claim):
                continue  # another worker moved first; its job id made ours a no-op
            if claim == due[-1]:
                return enqueued

    async def _previous_running(self, cron: CronJob, last: float) -> bool:
        info = await self.queue.broker.info(cron.job_id(last))
        return info is not None and info.status in ("waiting", "delayed", "active")
