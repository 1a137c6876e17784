"""A clock the tests move by hand."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that only change when :meth:`advance` is called."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
