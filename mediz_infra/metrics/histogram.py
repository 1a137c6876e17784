"""Fixed latency buckets and the quantiles read from them: pure maths, no I/O.

Every process counts request durations into the same fixed buckets, so counts from many
processes and many seconds add up, and p50/p95/p99 are read from the sum the way Prometheus'
``histogram_quantile`` does: find the bucket holding the rank, interpolate linearly inside it.
The answer is exact to within its bucket; the bounds below are the OpenTelemetry HTTP
semantic-conventions boundaries, with three more below 5 ms for fast endpoints.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["BOUNDS", "bucket_of", "quantile"]

BOUNDS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""Upper bounds (seconds, inclusive) of the buckets; one more bucket holds everything above."""


def bucket_of(seconds: float, bounds: Sequence[float] = BOUNDS) -> int:
    """The index of the bucket ``seconds`` falls in (``len(bounds)`` above the last bound)."""
    return bisect_left(bounds, seconds)


def quantile(q: float, counts: Sequence[int], bounds: Sequence[float] = BOUNDS) -> float | None:
    """The ``q`` quantile (0..1) of a histogram, in seconds; ``None`` when it is empty.

    ``counts[i]`` is the number of observations in bucket ``i`` (``len(bounds) + 1`` buckets).
    A rank in the overflow bucket answers the last finite bound, as Prometheus does.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return bounds[-1]
            lower = bounds[index - 1] if index else 0.0
            upper = bounds[index]
            return lower + (upper - lower) * max(0.0, rank - seen) / count
        seen += count
    return bounds[-1] if bounds else math.nan
