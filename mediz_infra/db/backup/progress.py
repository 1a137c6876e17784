"""A progress line for long commands: bytes so far and the rate, then a summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "human_bytes"]


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class Progress:
    """Counts bytes; redraws ``label: 12.3 MiB at 45.6 MiB/s`` at most every ``every`` seconds.

    ``stream=None`` stays silent (library use); the CLI passes stderr. The clock is injectable.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        *,
        every: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.done = 0
        self._stream = stream
        self._every = every
        self._clock = clock
        self._started = clock()
        self._shown = self._started
        self._tty = bool(stream is not None and stream.isatty())

    def __call__(self, count: int) -> None:
        self.done += count
        now = self._clock()
        if self._stream is not None and now - self._shown >= self._every:
            self._shown = now
            end = "\r" if self._tty else "\n"
            print(f"{self.label}: {self._figures(now)}", end=end, file=self._stream, flush=True)

    def _figures(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        return f"{human_bytes(self.done)} at {human_bytes(self.done / elapsed)}/s"

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    def summary(self) -> str:
        now = self._clock()
        return f"{human_bytes(self.done)} in {now - self._started:.1f} s ({self._figures(now)})"
