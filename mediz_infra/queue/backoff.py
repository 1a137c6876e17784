"""How long a failed job waits before its next attempt: exponential, capped, with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with jitter: ``min(cap, base * factor ** (retry - 1))``, then a
    random share ``jitter`` of it taken off, so retries of many jobs that failed together (a
    push provider's outage) spread out instead of arriving in one wave.

    Args:
        base: the first retry's delay in seconds.
        factor: growth per retry.
        cap: the longest delay in seconds.
        jitter: 0 (none) to 1 (full jitter: anywhere between 0 and the delay).
        rng: the random source (a seeded ``random.Random`` in tests).

    Raises:
        ConfigError: a negative ``base`` or ``cap``, ``factor`` below 1, ``jitter`` outside 0..1.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base < 0:
            raise ConfigError("base", f"must be >= 0 seconds, got {self.base}")
        if self.cap < 0:
            raise ConfigError("cap", f"must be >= 0 seconds, got {self.cap}")
        if self.factor < 1:
            raise ConfigError("factor", f"must be >= 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise ConfigError("jitter", f"must be between 0 and 1, got {self.jitter}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.cap, self.base * self.factor ** max(0, retry - 1))
        return ceiling * (1 - self.jitter * self.rng.random())
