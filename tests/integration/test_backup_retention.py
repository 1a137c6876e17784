"""Prune against real stores: a year of synthetic backups in a directory and in S3 (moto).

Each synthetic backup is what a run leaves (a tiny data object and a manifest, sometimes a
verify record): pruning reads only the listing, so no pg_dump is needed to prove the policy.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mediz_infra.backends import create_object_store
from mediz_infra.backends.objectstore import ObjectStore
from mediz_infra.cli import main
from mediz_infra.db.backup import Backups, Manifest, Retention, pin, prune, unpin
from mediz_infra.errors import BackupError
from tests._s3 import store_on

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
# the days a 7/4/12 policy keeps of one backup a day (see tests/unit/db/test_backup_retention.py)
KEPT_DAYS = {
    "20261205", "20261204", "20261203", "20261202", "20261201", "20261130", "20261129",
    "20261122", "20261115", "20261031", "20260930", "20260831", "20260731", "20260630",
    "20260531", "20260430", "20260331", "20260228", "20260131",
}  # fmt: skip
PINNED = "20260315T020000Z"
OLD_INCOMPLETE = "20260610T020000Z"
RUNNING = "20261205T113000Z"


@pytest.fixture(params=["file", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str
) -> AsyncIterator[ObjectStore]:
    async for made in store_on(request.param, tmp_path, s3_endpoint, "prune"):
        yield made


def _manifest(backup_id: str) -> bytes:
    when = datetime.strptime(backup_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).isoformat()
    return Manifest(
        id=backup_id, database="app", server_version="15.8", pg_dump_version="15.8",
        started_at=when, finished_at=when, object="dump.pgc.zst", raw_size=1, stored_size=1,
        sha256="0" * 64, compression={"algorithm": "zstd", "level": 3}, encryption=None,
    ).to_json()  # fmt: skip


async def _write_year(store: ObjectStore) -> list[str]:
    """A backup a day at 02:00 for a year, a second one on the last day, an old incomplete
    one, one still "running", some verify records, and a folder that is no backup."""
    ids = [
        (datetime(2026, 12, 5, 2, tzinfo=UTC) - timedelta(days=n)).strftime("%Y%m%dT%H%M%SZ")
        for n in range(365)
    ] + ["20261205T103000Z"]
    ids.remove(OLD_INCOMPLETE)
    gate = asyncio.Semaphore(16)

    async def put(key: str, data: bytes) -> None:
        async with gate:
            await store.put_bytes(key, data)

    puts = []
    for backup_id in ids:
        puts.append(put(f"{backup_id}/dump.pgc.zst", b"x"))
        puts.append(put(f"{backup_id}/manifest.json", _manifest(backup_id)))
        if backup_id.endswith("01T020000Z"):
            record = {"backup_id": backup_id, "ok": True, "verified_at": "x", "duration_s": 1.0,
                      "mismatches": []}  # fmt: skip
            puts.append(put(f"{backup_id}/{backup_id}.verify.json", json.dumps(record).encode()))
    for backup_id in (OLD_INCOMPLETE, RUNNING):
        puts.append(put(f"{backup_id}/dump.pgc.zst", b"x"))
    puts.append(put("locks/backup.json", b"{}"))  # not a backup: never touched
    await asyncio.gather(*puts)
    return ids


async def test_prune_a_year_keeps_exactly_the_policy_and_the_pins(store: ObjectStore) -> None:
    await _write_year(store)
    await pin(store, PINNED, reason="audit 2026", clock=lambda: NOW)
    before = sorted(o.key for o in await store.list())

    dry = await prune(store, Retention(), clock=lambda: NOW)  # the default: a dry run
    assert sorted(o.key for o in await store.list()) == before  # nothing deleted
    kept = {d.id for d in dry.kept}
    assert {k[:8] for k in kept} == KEPT_DAYS | {PINNED[:8], RUNNING[:8]}
    assert PINNED in kept and RUNNING in kept and OLD_INCOMPLETE not in kept
    assert "20261205T020000Z" not in kept  # the older of the last day's two

    applied = await prune(store, Retention(), apply=True, clock=lambda: NOW)
    assert applied.decisions == dry.decisions
    left = {o.key.split("/")[0] for o in await store.list()}
    assert left == kept | {"locks"}
    listed = [e.id for e in await Backups(store).list()]
    assert set(listed) == kept - {RUNNING}
    assert await store.list("20261101T020000Z") == []  # verify record gone with its backup
    assert len(await store.list("20261201T020000Z/")) == 3  # kept: data, manifest, verify

    await unpin(store, PINNED)
    again = await prune(store, Retention(), apply=True, clock=lambda: NOW)
    assert [d.id for d in again.deleted] == [PINNED]
    assert await store.list(f"{PINNED}/") == []


async def test_pin_refuses_what_is_not_a_backup(store: ObjectStore) -> None:
    with pytest.raises(BackupError, match="is not a backup id"):
        await pin(store, "../etc")
    with pytest.raises(BackupError, match="no such backup"):
        await pin(store, "20200101T000000Z")


def test_cli_prune_is_a_dry_run_unless_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = create_object_store(f"file://{tmp_path}")
    recent = datetime.now(UTC).replace(microsecond=0)
    ids = [(recent - timedelta(days=n)).strftime("%Y%m%dT%H%M%SZ") for n in range(5)]

    async def write() -> None:
        for backup_id in ids:
            await store.put_bytes(f"{backup_id}/dump.pgc.zst", b"x")
            await store.put_bytes(f"{backup_id}/manifest.json", _manifest(backup_id))

    asyncio.run(write())
    to = ["--to", f"file://{tmp_path}"]
    assert main(["backup", "keep", ids[4], *to, "--reason", "audit"]) == 0
    assert main(["backup", "prune", "--daily", "2", "--weekly", "0", "--monthly", "0", *to]) == 0
    out, err = capsys.readouterr()
    assert "dry run: would delete 2 of 5 backups" in err and "nothing was deleted" in err
    assert f"keep    {ids[0]}  newest, daily" in out
    assert f"delete  {ids[2]}  outside the policy" in out
    assert f"keep    {ids[4]}  pinned" in out
    assert all((tmp_path / i / "manifest.json").exists() for i in ids)
    args = ["backup", "prune", "--daily", "2", "--weekly", "0", "--monthly", "0", "--apply"]
    assert main([*args, "--json", *to]) == 0
    out, err = capsys.readouterr()
    assert [d["id"] for d in json.loads(out) if not d["keep"]] == [ids[2], ids[3]]
    assert "pruned 2 of 5 backups" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ids[0], ids[1], ids[4]])
    assert main(["backup", "unkeep", ids[4], *to]) == 0
    assert "pin removed" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["backup", "prune", "--daily", "-1", *to])
    assert usage.value.code == 2
    assert "--daily: -1 is negative" in capsys.readouterr().err
    assert main(["backup", "keep", "nope", *to]) == 1
