"""A primary's read replicas: started together, taken in turn, skipped while in back-off.

A replica is a pool of its own (``min_size=0``, the primary's other settings) that keeps its own
outage back-off (:meth:`~mediz_infra.backends.postgres.PoolManager.note_outage`).
:class:`ReplicaSet` owns the replicas and the round robin over them: ``read()`` asks it for a
connection from the next healthy replica, and falls back to the primary when none gives one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import BackendTimeout, BackendUnavailable, PoolClosed, PoolExhausted

if TYPE_CHECKING:
    from .connection import TrackedConnection

__all__ = ["Replica", "ReplicaSet"]

log = logging.getLogger("mediz_infra.postgres")


class Replica(Protocol):
    """What a :class:`ReplicaSet` needs of each replica's pool."""

    url: str

    @property
    def started(self) -> bool: ...

    @property
    def retry_at(self) -> float: ...

    async def start(self) -> Any: ...

    async def close(self) -> None: ...

    async def expire_connections(self) -> None: ...

    def checkout_nowait(self) -> TrackedConnection | None: ...

    async def checkout(self, timeout: float | None = None) -> TrackedConnection: ...

    def release_nowait(self, con: TrackedConnection) -> bool: ...

    async def release(self, con: TrackedConnection) -> None: ...

    def note_outage(self, exc: BaseException) -> None: ...

    async def check(self, timeout: float = 2.0) -> dict[str, Any]: ...


class ReplicaSet:
    """A primary's replicas, in turn: the next ``read()`` starts one further along."""

    __slots__ = ("_next", "_replicas")

    def __init__(self, replicas: Sequence[Replica]) -> None:
        self._replicas = tuple(replicas)
        self._next = 0

    def __len__(self) -> int:
        return len(self._replicas)

    def __iter__(self) -> Iterator[Replica]:
        return iter(self._replicas)

    async def start(self) -> None:
        """Start each replica's pool; one that is down is noted (``read()`` retries it later)."""
        for replica in self._replicas:
            try:
                await replica.start()
            except BackendUnavailable as exc:  # not fatal: read() retries it later
                replica.note_outage(exc)
                log.warning("replica %s unavailable at start: %s", replica.url, exc)

    async def close(self) -> None:
        for replica in self._replicas:
            await replica.close()

    async def expire_connections(self) -> None:
        for replica in self._replicas:
            await replica.expire_connections()

    def healthy(self) -> Iterator[Replica]:
        """The replicas not in back-off, starting one further along at each call."""
        replicas = self._replicas
        count = len(replicas)
        start = self._next
        self._next = (start + 1) % count
        now = time.monotonic()
        for i in range(count):
            replica = replicas[(start + i) % count]
            if replica.retry_at <= now:
                yield replica

    async def checkout(
        self, timeout: float | None
    ) -> tuple[Replica, TrackedConnection] | None:
        """A connection from the next healthy replica that gives one, with that replica.

        ``None`` when every replica is in back-off or failed now; the caller uses the primary.
        """
        for replica in self.healthy():
            try:
                if not replica.started:  # down at start: try again after its back-off
                    await replica.start()
                con = await replica.checkout(timeout)
            except (BackendUnavailable, BackendTimeout) as exc:
                if not replica.started:
                    replica.note_outage(exc)
                log.warning("replica %s unavailable, trying the next: %s", replica.url, exc)
                continue
            return replica, con
        return None

    async def check(self, timeout: float) -> list[dict[str, Any]]:
        """Each replica's health detail, or ``status: down`` with the error."""
        details = []
        for replica in self._replicas:
            try:
                details.append({"status": "ok", **await replica.check(timeout)})
            except (BackendUnavailable, BackendTimeout, PoolExhausted, PoolClosed) as exc:
                details.append({"status": "down", "url": replica.url, "error": str(exc)})
        return details
