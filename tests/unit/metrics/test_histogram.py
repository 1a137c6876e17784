"""Quantiles from fixed buckets: the maths the dashboard's p50/p95/p99 rest on."""

from __future__ import annotations

import pytest

from mediz_infra.metrics import BOUNDS, quantile
from mediz_infra.metrics.histogram import bucket_of


def test_bucket_bounds_are_inclusive_and_the_last_bucket_takes_the_rest() -> None:
    assert bucket_of(0.0) == 0
    assert bucket_of(BOUNDS[0]) == 0
    assert bucket_of(BOUNDS[0] * 1.01) == 1
    assert bucket_of(1e9) == len(BOUNDS)


def test_an_empty_histogram_has_no_quantile() -> None:
    assert quantile(0.5, [0] * (len(BOUNDS) + 1)) is None


def test_quantiles_interpolate_inside_the_bucket_that_holds_the_rank() -> None:
    counts = [0] * (len(BOUNDS) + 1)
    low, high = bucket_of(0.004), bucket_of(0.2)  # (2.5, 5] ms and (100, 250] ms
    counts[low], counts[high] = 90, 10
    p50 = quantile(0.5, counts)
    p95 = quantile(0.95, counts)
    p99 = quantile(0.99, counts)
    assert p50 is not None and BOUNDS[low - 1] < p50 <= BOUNDS[low]
    assert p95 is not None and BOUNDS[high - 1] < p95 <= BOUNDS[high]
    assert p99 is not None and p95 < p99 <= BOUNDS[high]


def test_a_rank_in_the_overflow_bucket_answers_the_last_bound() -> None:
    counts = [0] * len(BOUNDS) + [5]
    assert quantile(0.99, counts) == BOUNDS[-1]


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_quantiles_of_one_bucket_stay_inside_it(q: float) -> None:
    counts = [0] * (len(BOUNDS) + 1)
    counts[3] = 7
    value = quantile(q, counts)
    assert value is not None and BOUNDS[2] <= value <= BOUNDS[3]
