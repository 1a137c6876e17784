"""The in-process side of the metrics: record a request in a dict, flush about once a second.

Recording is one dictionary update and no I/O; a background task owned by the recorder turns
what piled up into counter increments and hands them to the store in one call (one pipeline on
Redis), so the store's cost per request is a fraction of one round trip whatever the traffic.
A failed flush keeps its counts for the next one (merged, never double counted: an increment
is either in the store or still here) and skips the store while the shared outage back-off
says it is down. What cannot be kept (more than ``max_pending`` seconds piled up during a
long outage) is dropped oldest first and counted in :attr:`Recorder.dropped`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..backends import BACKEND_ERRORS, Outage
from ..errors import ConfigError
from .histogram import bucket_of
from .keys import FIELD_SEP, SERIES_SEP, KeySchema

if TYPE_CHECKING:
    from .store import Increments, MetricsStore
    from .tracking import ErrorEvent

__all__ = ["Recorder", "status_class"]

log = logging.getLogger("mediz_infra.metrics")

_MAX_PENDING_ERRORS = 1000
_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

# (epoch second, route, method, status class, bucket) -> [count, summed µs]
_Pending = dict[tuple[int, str, str, str, int], list[int]]


def status_class(status: int) -> str:
    """``"2xx"`` for 200..299 and so on; anything outside 100..599 is ``"5xx"``."""
    index = status // 100 - 1
    return _CLASSES[index] if 0 <= index < 5 else "5xx"


class Recorder:
    """Counts finished requests in process and flushes them to a :class:`~.store.MetricsStore`.

    Args:
        store: where the counts go.
        flush_interval: seconds between two flushes.
        max_pending: distinct seconds kept while the store is down; older ones are dropped.
        clock: wall-clock seconds (``time.time``); injectable for tests.

    Raises:
        ConfigError: ``flush_interval`` is not positive or ``max_pending`` below 1.
    """

    def __init__(
        self,
        store: MetricsStore,
        *,
        flush_interval: float = 1.0,
        max_pending: int = 600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if flush_interval <= 0:
            raise ConfigError("flush_interval", f"expected seconds > 0, got {flush_interval!r}")
        if max_pending < 1:
            raise ConfigError("max_pending", f"expected at least 1, got {max_pending!r}")
        self.store = store
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.clock = clock
        self.schema: KeySchema = store.schema
        self.outage: Outage = store.outage
        self._pending: _Pending = {}
        self._errors: list[ErrorEvent] = []
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        #: requests recorded in this process (flushed or not)
        self.recorded = 0
        #: requests whose counts were dropped because the store stayed down too long
        self.dropped = 0
        #: error events dropped because too many piled up while the store was down
        self.dropped_errors = 0

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request; starts the flush task on first use (needs a loop)."""
        key = (int(self.clock()), route, method, status_class(status), bucket_of(seconds))
        slot = self._pending.get(key)
        if slot is None:
            self._pending[key] = [1, int(seconds * 1_000_000)]
        else:
            slot[0] += 1
            slot[1] += int(seconds * 1_000_000)
        self.recorded += 1
        task = self._task
        if task is None or task.done():
            self._start()

    def record_error(self, event: ErrorEvent) -> None:
        """Keep an unhandled exception for the next flush (at most ``max_errors`` pending)."""
        if len(self._errors) >= _MAX_PENDING_ERRORS:
            self.dropped_errors += 1
            return
        self._errors.append(event)
        task = self._task
        if task is None or task.done():  # a worker process may record errors and no request
            self._start()

    def _start(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # recorded outside a loop (a sync test): flush() sends it
            return
        self._task = loop.create_task(self._flushing(), name="mediz metrics flush")

    async def _flushing(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            # shielded: aclose() cancels this task, and a pipeline cut off half-way would leave
            # its counts neither surely stored nor safe to send again
            await asyncio.shield(self.flush())

    async def flush(self) -> bool:
        """Send what piled up to the store now; ``False`` when the store failed (kept for later).

        Never raises for a store failure: the counts stay here and the next flush retries.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._pending and not self._errors:
                return True
            if self.outage.until:
                if self.outage.down():
                    self._trim()
                    return False
                self.outage.reset()
            pending, self._pending = self._pending, {}
            errors, self._errors = self._errors, []
            try:
                await self.store.apply(self._increments(pending), errors)
            except BACKEND_ERRORS as exc:
                self._merge(pending)
                self._errors[:0] = errors[: _MAX_PENDING_ERRORS - len(self._errors)]
                self.outage.trip(exc, "a metrics flush")
                return False
            return True

    def _increments(self, pending: _Pending) -> Increments:
        out: Increments = {}
        schema = self.schema
        for (second, route, method, cls, bucket), (count, micros) in pending.items():
            series = f"{route}{SERIES_SEP}{method}{SERIES_SEP}{cls}{FIELD_SEP}"
            per_second = out.setdefault(schema.second(second), {})
            per_minute = out.setdefault(schema.minute(second // 60), {})
            total = out.setdefault(schema.total, {})
            fields = [("n", count), ("d", micros), (f"b{bucket}", count)]
            if cls == "5xx":
                fields.append(("e", count))
            for name, value in fields:
                per_second[name] = per_second.get(name, 0) + value
                field = series + name
                per_minute[field] = per_minute.get(field, 0) + value
                total[field] = total.get(field, 0) + value
        return out

    def _merge(self, pending: _Pending) -> None:
        for key, (count, micros) in pending.items():
            slot = self._pending.get(key)
            if slot is None:
                self._pending[key] = [count, micros]
            else:
                slot[0] += count
                slot[1] += micros
        self._trim()

    def _trim(self) -> None:
        seconds = sorted({key[0] for key in self._pending})
        if len(seconds) <= self.max_pending:
            return
        cut = seconds[-self.max_pending]
        for key in [k for k in self._pending if k[0] < cut]:
            self.dropped += self._pending.pop(key)[0]
        log.warning(
            "metrics store down for over %d s: dropped the oldest counts (%d requests so far)",
            self.max_pending,
            self.dropped,
        )

    @property
    def pending(self) -> int:
        """Requests counted here and not yet in the store."""
        return sum(slot[0] for slot in self._pending.values())

    async def aclose(self) -> None:
        """Stop the flush task and flush what is left once (a last try; kept on failure)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.flush()
