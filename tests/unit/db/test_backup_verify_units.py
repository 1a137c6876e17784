"""The verify record's format (the contract the freshness check and prune read), the list row,
and the free-space rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mediz_infra.db.backup import BackupEntry, Manifest, VerifyRecord, record_key
from mediz_infra.db.backup.space import Space, is_local, require_space
from mediz_infra.errors import BackupCorrupt, BackupError

WHEN = datetime(2026, 12, 5, 13, 2, 3, tzinfo=UTC)


def test_record_round_trips_with_exactly_the_contract_fields() -> None:
    record = VerifyRecord("20261205T130102Z", False, WHEN, 12.34567, ["public.t: missing"])
    data = json.loads(record.to_json())
    assert data == {
        "backup_id": "20261205T130102Z",
        "ok": False,
        "verified_at": "2026-12-05T13:02:03+00:00",
        "duration_s": 12.346,
        "mismatches": ["public.t: missing"],
    }
    assert VerifyRecord.from_json(record.to_json()) == VerifyRecord(
        "20261205T130102Z", False, WHEN, 12.346, ["public.t: missing"]
    )
    assert record_key("20261205T130102Z") == "20261205T130102Z/20261205T130102Z.verify.json"


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{}", b'{"backup_id": "x", "ok": true, "verified_at": "soon", '
     b'"duration_s": 1, "mismatches": []}'],
    ids=["garbage", "empty", "bad-time"],
)  # fmt: skip
def test_an_unreadable_record_is_a_typed_error(raw: bytes) -> None:
    with pytest.raises(BackupCorrupt, match="verify record cannot be read"):
        VerifyRecord.from_json(raw)


def test_list_entry_shows_the_verdict() -> None:
    manifest = Manifest(
        id="20261205T130102Z", database="app", server_version="15.4", pg_dump_version="15.4",
        started_at=WHEN.isoformat(), finished_at=WHEN.isoformat(), object="dump.pgc.zst",
        raw_size=10, stored_size=5, sha256="0" * 64, compression={}, encryption=None,
    )  # fmt: skip
    never = BackupEntry(manifest.id, manifest).as_dict()
    assert (never["verified"], never["verified_at"]) == (None, None)
    done = BackupEntry(manifest.id, manifest, verified=True, verified_at=WHEN).as_dict()
    assert (done["verified"], done["verified_at"]) == (True, "2026-12-05T13:02:03+00:00")


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("postgresql://u@localhost/app", True),
        ("postgresql://u@127.0.0.1:5433/app", True),
        ("postgresql://u@[::1]/app", True),
        ("postgresql:///app", True),
        ("postgresql:///app?host=/var/run/postgresql", True),
        ("postgresql://u@db.internal/app", False),
        ("postgresql://u@10.0.0.7/app", False),
    ],
)
def test_which_targets_are_on_this_machine(url: str, local: bool) -> None:
    assert is_local(url) is local


def test_require_space_refuses_only_a_known_shortfall() -> None:
    assert require_space(Space("s3://b", None, "no quota"), 10, "x", "y") == (
        "free space at s3://b: unknown (no quota)"
    )
    assert "need ~10 B" in require_space(Space("file:///b", 10), 10, "x", "y")
    with pytest.raises(BackupError, match=r"at file:///b: 9 B free, x needs about 10 B; y"):
        require_space(Space("file:///b", 9), 10, "x", "y")
