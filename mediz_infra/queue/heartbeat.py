"""Worker presence: each running worker says who it is and that it is alive, for the monitor.

A :class:`~.worker.Worker` started with :meth:`~.worker.Worker.run` registers a
:class:`WorkerInfo` with its queue's broker and refreshes it every ``ttl / 5`` seconds; the
registration expires ``ttl`` seconds after the last refresh, so a worker killed with SIGKILL
drops out of the list on its own, and one that stops cleanly removes itself at once. This is
not the lease heartbeat (that one extends the jobs a worker holds); a lapse here loses nothing,
it only hides the worker from the monitor until its next refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass

from ..backends import BACKEND_ERRORS
from ..errors import ConfigError
from .brokers.base import Broker

__all__ = ["WorkerInfo", "WorkerPresence"]

log = logging.getLogger("mediz_infra.queue")


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker as the monitor lists it (times are epoch seconds)."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    started: float
    last_seen: float
    running: int
    completed: int

    def to_json(self) -> str:
        """The JSON the broker stores."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> WorkerInfo | None:
        """Parse what :meth:`to_json` wrote; None for anything else (never raises)."""
        try:
            data = json.loads(text)
            return cls(
                str(data["id"]),
                str(data["host"]),
                int(data["pid"]),
                tuple(str(q) for q in data["queues"]),
                int(data["concurrency"]),
                float(data["started"]),
                float(data["last_seen"]),
                int(data["running"]),
                int(data["completed"]),
            )
        except (ValueError, TypeError, KeyError):
            return None


async def live_workers(broker: Broker) -> list[WorkerInfo]:
    """The workers registered with ``broker`` whose registration has not expired, by id."""
    found = (WorkerInfo.from_json(text) for text in await broker.workers())
    return sorted((w for w in found if w is not None), key=lambda w: w.id)


class WorkerPresence:
    """Keeps one worker's registration fresh while :meth:`run` runs.

    Args:
        broker: the queue's broker.
        worker_id: the worker's id.
        queues: the queues it serves.
        concurrency: its concurrency.
        activity: returns ``(jobs running now, jobs completed since start)``.
        clock: seconds since the epoch (the queue's clock).
        ttl: seconds a registration lives without a refresh; refreshed every ``ttl / 5``.

    Raises:
        ConfigError: ``ttl`` is not positive.
    """

    def __init__(
        self,
        broker: Broker,
        worker_id: str,
        *,
        queues: tuple[str, ...],
        concurrency: int,
        activity: Callable[[], tuple[int, int]],
        clock: Callable[[], float],
        ttl: float = 5.0,
    ) -> None:
        if ttl <= 0:
            raise ConfigError("presence_ttl", f"must be > 0 seconds, got {ttl}")
        self.broker = broker
        self.worker_id = worker_id
        self.queues = queues
        self.concurrency = concurrency
        self.activity = activity
        self.clock = clock
        self.ttl = ttl
        self.started = clock()

    def info(self) -> WorkerInfo:
        """The registration as of now."""
        running, completed = self.activity()
        return WorkerInfo(
            self.worker_id,
            socket.gethostname(),
            os.getpid(),
            self.queues,
            self.concurrency,
            self.started,
            self.clock(),
            running,
            completed,
        )

    async def beat(self) -> None:
        """Register or refresh once."""
        await self.broker.beat_worker(self.worker_id, self.info().to_json(), self.ttl)

    async def run(self) -> None:
        """Refresh every ``ttl / 5`` seconds until cancelled; then remove the registration."""
        try:
            while True:
                try:
                    await self.beat()
                except BACKEND_ERRORS as exc:  # the monitor may miss us; nothing else does
                    log.debug(
                        "worker %s: presence refresh failed (%s)",
                        self.worker_id,
                        type(exc).__name__,
                    )
                await asyncio.sleep(self.ttl / 5)
        finally:
            # shielded: a cancelled run must still say goodbye, or the worker lingers a TTL
            with contextlib.suppress(asyncio.CancelledError, *BACKEND_ERRORS):
                await asyncio.shield(self.broker.remove_worker(self.worker_id))
