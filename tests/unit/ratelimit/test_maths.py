"""GCRA and window arithmetic, pure (the Lua script mirrors these)."""

from __future__ import annotations

from mediz_infra.ratelimit.gcra import gcra
from mediz_infra.ratelimit.windows import fixed_window, moving_window, sliding_window

S = 1_000_000


def test_gcra_burst_then_exact_retry_after() -> None:
    tat = None
    for n in range(10):  # 10 per 10 s: a burst of 10 fits at once
        result = gcra(tat, 0, 10, 10 * S, 10, 1)
        assert result.allowed and result.remaining == 9 - n
        tat = result.tat
    denied = gcra(tat, 0, 10, 10 * S, 10, 1)
    assert not denied.allowed and denied.retry == 1 * S  # exactly one emission interval
    assert gcra(tat, 1 * S, 10, 10 * S, 10, 1).allowed


def test_gcra_burst_below_amount_and_cost() -> None:
    first = gcra(None, 0, 10, 10 * S, 2, 2)
    assert first.allowed and first.remaining == 0
    assert gcra(first.tat, 0, 10, 10 * S, 2, 1).retry == 1 * S
    assert not gcra(None, 0, 10, 10 * S, 2, 3).allowed  # cost above the burst never fits


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
