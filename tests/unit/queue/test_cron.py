"""Cron maths: next ticks of expressions and intervals, and errors naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mediz_infra.errors import ConfigError
from mediz_infra.queue import Cron, Every

SAT = datetime(2026, 12, 5, 13, 7, 30, tzinfo=UTC).timestamp()  # a Saturday


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * *", at(2026, 12, 5, 13, 8)),
        ("*/15 * * * *", at(2026, 12, 5, 13, 15)),
        ("0 9 * * 1-5", at(2026, 12, 7, 9, 0)),  # weekdays only: Monday
        ("0 0 * * 0", at(2026, 12, 6, 0, 0)),  # Sunday as 0
        ("0 0 * * 7", at(2026, 12, 6, 0, 0)),  # ... and as 7
        ("0 0 1 1 *", at(2027, 1, 1, 0, 0)),
        ("30 4 1,15 * 5", at(2026, 12, 11, 4, 30)),  # day-of-month OR day-of-week
        ("0 0 29 2 *", at(2028, 2, 29, 0, 0)),  # the next leap day
        ("5-10/5 13 * * *", at(2026, 12, 5, 13, 10)),
    ],
)
def test_next_tick_of_an_expression(expression: str, expected: float) -> None:
    assert Cron(expression).next_after(SAT) == expected


def test_a_tick_is_strictly_after_the_time_given() -> None:
    cron = Cron("* * * * *")
    assert cron.next_after(at(2026, 12, 5, 13, 8)) == at(2026, 12, 5, 13, 9)


def test_every_ticks_on_multiples_of_its_interval() -> None:
    assert Every(10).next_after(SAT) == SAT + 10
    assert Every(10).next_after(SAT + 10) == SAT + 20
    assert Every(0.5).next_after(SAT + 0.2) == SAT + 0.5


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("* * * *", "cron"),
        ("60 * * * *", "cron.minute"),
        ("* 24 * * *", "cron.hour"),
        ("* * 0 * *", "cron.day"),
        ("* * * 13 *", "cron.month"),
        ("* * * * mon", "cron.weekday"),
        ("*/0 * * * *", "cron.minute"),
        ("0 0 31 2 *", "cron"),  # never a real date
    ],
)
def test_a_bad_expression_names_its_field(expression: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Cron(expression).next_after(SAT)
    assert caught.value.field == field


def test_every_refuses_a_non_positive_interval() -> None:
    with pytest.raises(ConfigError, match="every"):
        Every(0)
