"""Deduplication modes for an enqueue: :class:`Throttle` (the first wins) and :class:`Debounce`
(the last wins), each a key and a window, scoped to the task.

``await push.enqueue(user_id, _dedup=Throttle(f"user-{user_id}", 60))`` enqueues one job per
user a minute and ignores the rest; ``_dedup=Debounce(f"user-{user_id}", 5)`` holds one pending
job that every later enqueue within the window replaces (its arguments) and postpones (to the
end of a fresh window). The handle's :attr:`~.jobs.Job.outcome` says what happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..errors import ConfigError

__all__ = ["Debounce", "Dedup", "Throttle"]

_MAX_KEY = 200


def _check(mode: str, key: str, window: float) -> None:
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY:
        raise ConfigError(
            f"{mode}.key", f"must be a non-empty string of at most {_MAX_KEY} characters"
        )
    if isinstance(window, bool) or not isinstance(window, (int, float)):
        raise ConfigError(f"{mode}.window", f"must be a number of seconds, got {window!r}")
    if not math.isfinite(window) or window <= 0:
        raise ConfigError(f"{mode}.window", f"must be > 0 seconds, got {window}")


@dataclass(frozen=True, slots=True)
class Throttle:
    """The first enqueue with ``key`` makes a job; more with the same key are ignored until
    ``window`` seconds after that first one, whatever became of its job.

    Raises:
        ConfigError: an empty or over-long ``key`` (``Throttle.key``), a ``window`` that is not
            a positive number of seconds (``Throttle.window``).
    """

    key: str
    window: float
    mode: ClassVar[str] = "throttle"

    def __post_init__(self) -> None:
        _check("Throttle", self.key, self.window)


@dataclass(frozen=True, slots=True)
class Debounce:
    """The last enqueue with ``key`` within ``window`` seconds wins: the first makes a job that
    starts ``window`` seconds later; each later one, while that job has not come due, replaces
    its arguments and moves its start to ``window`` seconds after itself. Once the job is due
    (or running, or done) the next enqueue makes a new job.

    Raises:
        ConfigError: an empty or over-long ``key`` (``Debounce.key``), a ``window`` that is not
            a positive number of seconds (``Debounce.window``).
    """

    key: str
    window: float
    mode: ClassVar[str] = "debounce"

    def __post_init__(self) -> None:
        _check("Debounce", self.key, self.window)


Dedup = Throttle | Debounce
"""What ``_dedup=`` takes."""
