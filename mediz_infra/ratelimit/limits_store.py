"""An adapter over any ``limits.aio`` storage (Memcached, MongoDB, ...): ``limits``' own strategies.

For stores mediz-infra has no client for. ``limits``' strategies take several round trips per
decision (a test and a hit per limit, then the window statistics), and the check of several
limits is not atomic across processes: under contention a rule with several limits may admit a
little more than its tightest limit. Prefer a Redis URL (one script, exact) where you can. GCRA
is not available here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import limits
import limits.aio.storage
import limits.aio.strategies

from ..errors import ConfigError

__all__ = ["LimitsStore"]

_STRATEGIES: dict[
    str,
    type[
        limits.aio.strategies.FixedWindowRateLimiter
        | limits.aio.strategies.MovingWindowRateLimiter
        | limits.aio.strategies.SlidingWindowCounterRateLimiter
    ],
] = {
    "f": limits.aio.strategies.FixedWindowRateLimiter,
    "m": limits.aio.strategies.MovingWindowRateLimiter,
    "s": limits.aio.strategies.SlidingWindowCounterRateLimiter,
}


class LimitsStore:
    """Counters in a ``limits.aio`` storage, decided by ``limits``' strategies.

    Args:
        storage: a ``limits.aio.storage.Storage``, or its URL (``"async+memcached://..."``).

    Raises:
        ConfigError: the URL names no ``limits`` storage (or its driver is missing).
    """

    strategies = frozenset(_STRATEGIES)
    """Strategy codes this store can decide (no GCRA)."""

    def __init__(self, storage: limits.aio.storage.Storage | str) -> None:
        if isinstance(storage, str):
            try:
                built = limits.storage.storage_from_string(storage)
            except Exception as exc:  # limits raises ConfigurationError or a driver's ImportError
                raise ConfigError("storage", f"{exc}") from None
            if not isinstance(built, limits.aio.storage.Storage):
                raise ConfigError("storage", f"{storage!r} is not an async+ limits storage URL")
            storage = built
        self.storage = storage
        self._limiters = {code: cls(storage) for code, cls in _STRATEGIES.items()}

    async def decide(self, keys: Sequence[str], args: Sequence[str | int]) -> list[int]:
        """See :class:`~mediz_infra.ratelimit.store.LimiterStore` (several round trips)."""
        code, cost = str(args[0]), int(args[1])
        limiter = self._limiters[code]
        items = [
            limits.RateLimitItemPerSecond(int(args[2 + 3 * i]), int(args[3 + 3 * i]) // 1_000_000)
            for i in range(len(keys))
        ]
        fits = [
            await limiter.test(item, key, cost=cost) for item, key in zip(items, keys, strict=True)
        ]
        allowed = all(fits)
        if allowed:
            for item, key in zip(items, keys, strict=True):
                allowed = await limiter.hit(item, key, cost=cost) and allowed
        out = [1 if allowed else 0]
        now = time.time()
        for item, key, fit in zip(items, keys, fits, strict=True):
            stats = await limiter.get_window_stats(item, key)
            reset_ms = max(0, math.ceil((stats.reset_time - now) * 1000))
            retry_ms = 0 if fit else max(1, reset_ms)
            out += [stats.remaining, reset_ms, retry_ms]
        return out

    async def aclose(self) -> None:
        """Nothing owned: the ``limits`` storage belongs to the caller."""
