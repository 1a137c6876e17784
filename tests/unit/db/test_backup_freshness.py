"""Backup freshness, pure part: which state of the backups is degraded, and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from mediz_infra.db.backup import VerifyRecord, assess, read_verify_record

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
WHEN = datetime(2026, 12, 5, 3, tzinfo=UTC)
OK = VerifyRecord("x", True, WHEN, 4.2)
FAILED = VerifyRecord("x", False, WHEN, 4.2, ["public.t: rows differ"])


def _id(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y%m%dT%H%M%SZ")


def test_a_fresh_verified_backup_passes() -> None:
    newest, older = _id(10), _id(34)
    report = assess([older, newest], {newest: OK}, NOW)
    assert not report.degraded
    assert (report.newest_id, report.verified_id, report.newest_verified) == (newest, newest, True)
    assert report.age_seconds == report.newest_age_s == 36000.0
    assert report.gauges() == {"newest_age_s": 36000.0, "verified_age_s": 36000.0,
                               "newest_verified": 1.0, "degraded": 0.0}  # fmt: skip


def test_degraded_when_the_newest_verified_one_is_older_than_26_hours() -> None:
    newest, older = _id(2), _id(27)
    report = assess([newest, older], {older: OK}, NOW)
    assert report.degraded
    assert report.summary == f"newest verified backup {older} is older than 26 h"
    assert report.verified_age_s == 27 * 3600 and report.newest_verified is None
    # configurable
    assert not assess([newest, older], {older: OK}, NOW, max_age=timedelta(hours=30)).degraded


def test_degraded_when_the_newest_is_not_verified() -> None:
    newest, older = _id(8), _id(20)
    report = assess([newest, older], {older: OK}, NOW)
    assert report.degraded and report.summary == f"newest backup {newest} is not verified after 6 h"
    failed = assess([newest, older], {newest: FAILED, older: OK}, NOW)
    assert failed.degraded and failed.newest_verified is False
    assert failed.summary == f"verification of the newest backup {newest} failed"
    assert failed.verified_id == older
    # within the grace a verify may still be on its way
    assert not assess([_id(1), older], {older: OK}, NOW).degraded


def test_degraded_when_nothing_is_there_or_nothing_verified() -> None:
    assert assess([], {}, NOW).summary == "no complete backup in the store"
    report = assess([_id(1)], {}, NOW)
    assert report.degraded and report.summary == "no verified backup"
    assert report.gauges()["verified_age_s"] == -1.0


def test_verify_records_are_read_by_contract_and_bad_ones_count_as_unverified() -> None:
    record = {"backup_id": "20261205T020000Z", "ok": True, "verified_at": "2026-12-05T03:00:00Z",
              "duration_s": 12.5, "mismatches": []}  # fmt: skip
    assert read_verify_record(json.dumps(record).encode()) == VerifyRecord(
        "20261205T020000Z", True, datetime(2026, 12, 5, 3, tzinfo=UTC), 12.5
    )
    assert read_verify_record(json.dumps({**record, "ok": "yes"}).encode()).ok is False  # type: ignore[union-attr]
    assert read_verify_record(b"not json") is None
    assert read_verify_record(b'{"ok": true}') is None
