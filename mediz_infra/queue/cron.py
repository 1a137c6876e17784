"""Cron maths, pure: when a schedule's next tick falls. No I/O, no clock.

Our own parser rather than croniter: the five standard fields are ~100 lines, croniter's
maintainer declared it unmaintained (December 2024), and it brings python-dateutil and pytz
along. Supported per field: ``*``, numbers, ``a-b`` ranges, ``/step`` on either, and comma
lists; day-of-week 0-7 (0 and 7 are Sunday). When both day-of-month and day-of-week are
restricted, a day matching either runs (Vixie cron). Names (``mon``, ``jan``) and ``L``/``W``/
``#`` are not supported. Times are UTC. Sub-minute schedules use :class:`Every`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..errors import ConfigError

__all__ = ["Cron", "Every", "Schedule"]

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = int(base)
                end = high if step_text else start
        except ValueError:
            raise ConfigError(
                f"cron.{name}", f"{part!r} is not a number, range or */step"
            ) from None
        if step < 1 or not low <= start <= end <= high:
            raise ConfigError(f"cron.{name}", f"{part!r} is outside {low}-{high} or steps by < 1")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A five-field cron expression (``"*/5 * * * *"``), in UTC.

    Raises:
        ConfigError: not five fields, or a field out of range (the field is named).
    """

    expression: str
    minutes: frozenset[int] = field(init=False, repr=False)
    hours: frozenset[int] = field(init=False, repr=False)
    days: frozenset[int] = field(init=False, repr=False)
    months: frozenset[int] = field(init=False, repr=False)
    weekdays: frozenset[int] = field(init=False, repr=False)  # 0 = Monday, as datetime has it
    _any_day: bool = field(init=False, repr=False)
    _any_weekday: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parts = self.expression.split()
        if len(parts) != 5:
            raise ConfigError(
                "cron",
                f"{self.expression!r} has {len(parts)} fields; give five: "
                "minute hour day-of-month month day-of-week (use Every for seconds)",
            )
        parsed = [_parse_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        cron_weekdays = parsed[4]
        set_ = object.__setattr__
        set_(self, "minutes", parsed[0])
        set_(self, "hours", parsed[1])
        set_(self, "days", parsed[2])
        set_(self, "months", parsed[3])
        # cron counts Sunday as 0 (and 7); datetime.weekday() counts Monday as 0
        set_(self, "weekdays", frozenset((d - 1) % 7 for d in cron_weekdays))
        set_(self, "_any_day", parts[2] == "*")
        set_(self, "_any_weekday", parts[4] == "*")

    def _day_matches(self, t: datetime) -> bool:
        day_ok = t.day in self.days
        weekday_ok = t.weekday() in self.weekdays
        if self._any_day or self._any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def next_after(self, when: float) -> float:
        """The first tick strictly after ``when`` (epoch seconds)."""
        t = datetime.fromtimestamp(when, UTC).replace(second=0, microsecond=0)
        t += timedelta(minutes=1)
        for _ in range(100_000):  # a valid expression matches within a few hundred steps
            if t.month not in self.months:
                last = calendar.monthrange(t.year, t.month)[1]
                t = t.replace(day=last, hour=0, minute=0) + timedelta(days=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t.timestamp()
        raise ConfigError("cron", f"{self.expression!r} never matches a real date")


@dataclass(frozen=True)
class Every:
    """A fixed interval in seconds, ticks aligned to multiples of it since the epoch (so every
    worker computes the same ticks). For sub-minute schedules.

    Raises:
        ConfigError: ``seconds`` is not positive.
    """

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ConfigError("every", f"must be > 0 seconds, got {self.seconds}")

    def next_after(self, when: float) -> float:
        """The first tick strictly after ``when`` (epoch seconds)."""
        return (when // self.seconds + 1) * self.seconds


Schedule = Cron | Every
"""A cron schedule: anything with ``next_after(epoch_seconds) -> epoch_seconds``."""
