"""Retention's pure part: which backups a grandfather-father-son policy keeps, and why."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mediz_infra.db.backup import Candidate, Retention, plan
from mediz_infra.db.backup.retention import deletion_order, parse_backup_id
from mediz_infra.errors import ConfigError

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # a Saturday, ISO week 2026-W49


def _id(t: datetime) -> str:
    return t.strftime("%Y%m%dT%H%M%SZ")


def _year() -> list[Candidate]:
    """One backup a day at 02:00 for a year up to NOW's day, plus a second one on NOW's day."""
    out = []
    for n in range(365):
        t = datetime(2026, 12, 5, 2, 0, tzinfo=UTC) - timedelta(days=n)
        out.append(Candidate(_id(t), t))
    late = datetime(2026, 12, 5, 10, 30, tzinfo=UTC)
    out.append(Candidate(_id(late), late))
    return out


def _days(kept: list[str]) -> list[date]:
    return sorted({parse_backup_id(k).date() for k in kept})  # type: ignore[union-attr]


# the newest of: the last 7 days, the last 4 ISO weeks, the last 12 months
EXPECTED_DAYS = sorted(
    [date(2026, 12, d) for d in (5, 4, 3, 2, 1)]
    + [date(2026, 11, 30), date(2026, 11, 29)]  # daily (11-29 is also week 48's newest)
    + [date(2026, 11, 22), date(2026, 11, 15)]  # weekly: W47, W46 (W49, W48 already kept)
    + [
        date(2026, 10, 31), date(2026, 9, 30), date(2026, 8, 31), date(2026, 7, 31),
        date(2026, 6, 30), date(2026, 5, 31), date(2026, 4, 30), date(2026, 3, 31),
        date(2026, 2, 28), date(2026, 1, 31),
    ]  # monthly: Oct..Jan (Dec, Nov already kept)
)  # fmt: skip


def test_a_year_of_dailies_keeps_exactly_the_expected_ones() -> None:
    decided = plan(_year(), Retention(daily=7, weekly=4, monthly=12), NOW)
    kept = [d.id for d in decided.kept]
    assert _days(kept) == EXPECTED_DAYS
    assert len(kept) == len(EXPECTED_DAYS)  # one a day: the 02:00 one on NOW's day is gone
    assert "20261205T103000Z" in kept and "20261205T020000Z" not in kept
    assert len(decided.deleted) == 366 - len(EXPECTED_DAYS)
    reasons = {d.id: d.reasons for d in decided.decisions}
    assert reasons["20261205T103000Z"] == ("newest", "daily 2026-12-05", "weekly 2026-W49",
                                          "monthly 2026-12")  # fmt: skip
    assert reasons["20261115T020000Z"] == ("weekly 2026-W46",)
    assert reasons["20260131T020000Z"] == ("monthly 2026-01",)
    assert reasons["20260130T020000Z"] == ("outside the policy",)
    assert decided.decisions[0].id == "20261205T103000Z"  # newest first


def test_pins_survive_and_incomplete_ones_go_after_the_grace() -> None:
    pinned_t = datetime(2026, 3, 15, 2, tzinfo=UTC)
    old_t = datetime(2026, 6, 10, 2, tzinfo=UTC)
    running_t = datetime(2026, 12, 5, 11, 30, tzinfo=UTC)
    backups = [c for c in _year() if c.taken_at not in (pinned_t, old_t)] + [
        Candidate(_id(pinned_t), pinned_t, pinned=True),
        Candidate(_id(old_t), old_t, complete=False),
        Candidate(_id(running_t), running_t, complete=False),
        Candidate("20250101T000000Z", datetime(2025, 1, 1, tzinfo=UTC), complete=False,
                  pinned=True),
    ]  # fmt: skip
    decided = plan(backups, Retention(), NOW)
    by_id = {d.id: d for d in decided.decisions}
    assert by_id[_id(pinned_t)].keep and by_id[_id(pinned_t)].reasons == ("pinned",)
    assert not by_id[_id(old_t)].keep
    assert by_id[_id(old_t)].reasons == ("incomplete for over 24 h",)
    assert by_id[_id(running_t)].keep  # may still be uploading
    assert by_id["20250101T000000Z"].keep  # a pin wins over everything
    # an incomplete backup is never "newest" and takes no slot
    assert by_id["20261205T103000Z"].reasons[0] == "newest"
    assert _days([d.id for d in decided.kept if d.reasons[0] != "pinned" and "incomplete"
                  not in d.reasons[0]]) == EXPECTED_DAYS  # fmt: skip


def test_a_policy_of_zeros_still_keeps_the_newest() -> None:
    decided = plan(_year(), Retention(daily=0, weekly=0, monthly=0), NOW)
    assert [(d.id, d.reasons) for d in decided.kept] == [("20261205T103000Z", ("newest",))]


def test_days_that_have_a_backup_count_not_calendar_days() -> None:
    # backups stopped 40 days ago: the 3 daily slots go to the last 3 days that had one
    last = NOW - timedelta(days=40)
    backups = [
        Candidate(_id(last - timedelta(days=n)), last - timedelta(days=n)) for n in range(10)
    ]
    decided = plan(backups, Retention(daily=3, weekly=0, monthly=0), NOW)
    assert [d.id for d in decided.kept] == [b.id for b in backups[:3]]


def test_policy_and_ids_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"retention\.weekly"):
        Retention(weekly=-1)
    with pytest.raises(ConfigError, match=r"retention\.grace"):
        Retention(grace=timedelta(hours=-1))
    assert parse_backup_id("20261205T130102Z") == datetime(2026, 12, 5, 13, 1, 2, tzinfo=UTC)
    assert parse_backup_id("latest") is None
    assert parse_backup_id("20261399T130102Z") is None


def test_the_manifest_goes_first_then_data_then_side_records() -> None:
    keys = ["X/X.verify.json", "X/dump.pgc.zst", "X/manifest.json", "X/keep.json", "X.verify.json"]
    assert deletion_order("X", keys) == [
        "X/manifest.json", "X/dump.pgc.zst", "X.verify.json", "X/X.verify.json", "X/keep.json",
    ]  # fmt: skip
