"""GCRA and window arithmetic, pure (the Lua script mirrors these); GCRA in integer ticks."""

from __future__ import annotations

import pytest

from mediz_infra.errors import ConfigError
from mediz_infra.ratelimit import Rule
from mediz_infra.ratelimit.gcra import emission, gcra
from mediz_infra.ratelimit.windows import fixed_window, moving_window, sliding_window

S = 1_000_000


def test_gcra_burst_then_exact_retry_after() -> None:
    interval = 1_000_000_000  # 10 per 10 s, in ns
    debt = 0
    for n in range(10):  # a burst of 10 fits at once
        result = gcra(debt, interval, 10, 1)
        assert result.allowed and result.remaining == 9 - n
        debt = result.debt
    denied = gcra(debt, interval, 10, 1)
    assert not denied.allowed and denied.retry == interval  # exactly one emission interval
    assert denied.debt == debt and denied.reset == debt  # a denial changes nothing
    assert gcra(debt - interval, interval, 10, 1).allowed  # one interval later


def test_gcra_burst_below_amount_and_cost() -> None:
    first = gcra(0, S, 2, 2)
    assert first.allowed and first.remaining == 0
    assert gcra(first.debt, S, 2, 1).retry == 1 * S
    assert not gcra(0, S, 2, 3).allowed  # cost above the burst never fits


def test_gcra_counts_every_unit_at_a_billion_a_minute() -> None:
    """Floats lost the 60 ns interval next to a 1.7e15 µs timestamp: 1,000 hits took nothing."""
    rule = Rule("fast", "1000000000/minute")
    (fast,) = rule.emissions
    assert fast == (60, 1, 1_000_000_000)
    debt = 0
    for _ in range(1000):
        result = gcra(debt, fast.interval, fast.burst, 1)
        debt = result.debt
    assert result.remaining == 1_000_000_000 - 1000


def test_gcra_intervals_are_whole_ticks_or_refused() -> None:
    assert emission(7, 1, 7) == (142_857_143, 1, 7)  # rounding drifts far below one unit
    assert emission(10, 365 * 86_400, 10).tick == 1000  # a year counts in µs
    with pytest.raises(ConfigError, match=r"rule 'x': the limit '3000000000/1 second'"):
        Rule("x", "3000000000/second")  # a third of a nanosecond
    with pytest.raises(ConfigError, match="'7000000000/1 minute'"):
        Rule("x", "7000000000/minute")  # 8.57 ns: whole ns would gain 3e8 units a window
    with pytest.raises(ConfigError, match="burst"):
        Rule("x", "1/day", burst=10**6)
    assert Rule("x", "3000000000/second", strategy="fixed-window")  # only GCRA needs ticks


def test_fixed_window() -> None:
    assert fixed_window(0, None, 2, 60 * S, 1) == (True, 1, 60 * S, 0)
    assert fixed_window(2, 5 * S, 2, 60 * S, 1) == (False, 0, 5 * S, 5 * S)
    assert fixed_window(1, 5 * S, 2, 60 * S, 1).allowed


def test_moving_window_retry_is_when_enough_entries_expire() -> None:
    log = [0, 1 * S, 2 * S]
    out = moving_window(log, 3 * S, 3, 10 * S, 1)
    assert not out.allowed and out.retry == 7 * S and out.remaining == 0
    out = moving_window(log, 3 * S, 3, 10 * S, 2)  # needs two entries gone
    assert out.retry == 8 * S


def test_sliding_window_weights_previous_window() -> None:
    # previous window had 10 of 10; halfway through the next, 5 still count
    verdict, *_ = sliding_window(0, 10, 0, 15 * S, 10, 10 * S, 5)
    assert verdict.allowed
    verdict, *_ = sliding_window(0, 10, 0, 15 * S, 10, 10 * S, 6)
    assert not verdict.allowed and 0 < verdict.retry <= 1 * S
