"""Verify, the run lock and a killed run, against real Postgres and S3 (moto over HTTP).

The seeded databases, the moto server and the buckets come from test_backup.py's fixtures.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from mediz_infra.backends import S3Store, create_object_store
from mediz_infra.cli import main
from mediz_infra.db.backup import Backups, ClientTool, TableSum, record_key
from mediz_infra.db.backup.lock import LOCK_KEY
from mediz_infra.errors import BackupError
from tests.integration import test_backup as base
from tests.integration.test_backup import BIG, KEY_A, _seed

pytestmark = pytest.mark.integration

# test_backup's fixtures: the moto server, a fresh bucket, the source and target databases
s3_url, databases = base.s3_url, base.databases

REPO = Path(__file__).resolve().parents[2]

# A pg_dump that passes the real one's output through, then stalls once `STALL_AFTER` bytes
# are out: a run using it is reliably caught mid-upload. Bounded: it gives up after 120 s.
STALLING_PG_DUMP = """
import os, subprocess, sys, time
real = os.environ["REAL_PG_DUMP"]
if "--version" in sys.argv:
    os.execv(real, [real, *sys.argv[1:]])
limit = int(os.environ.get("STALL_AFTER", "0"))
proc = subprocess.Popen([real, *sys.argv[1:]], stdout=subprocess.PIPE)
out, sent = sys.stdout.buffer, 0
while chunk := proc.stdout.read(1 << 16):
    out.write(chunk)
    out.flush()
    sent += len(chunk)
    if sent >= limit:
        time.sleep(120)
        break
proc.kill()
sys.exit(3)
"""


@pytest.fixture
def stalling_pg_dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "pg_dump"
    script.write_text(f"#!{sys.executable}\n{STALLING_PG_DUMP}")
    script.chmod(0o755)
    real = shutil.which("pg_dump")
    assert real is not None
    monkeypatch.setenv("REAL_PG_DUMP", real)
    return script


def _name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def _scratch_left(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{_name(url)}%_verify_%"
        )
    finally:
        await conn.close()
    return [r[0] for r in rows]


async def _lock_holders(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 "
                "AND objid = $2 AND database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())",
                *LOCK_KEY,
            )
        )
    finally:
        await conn.close()


async def _until(check, what: str, seconds: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_verify_passes_records_the_verdict_and_drops_the_scratch_database(
    databases: list[str], s3_url: str
) -> None:
    source, _ = databases
    await _seed(source)
    store = create_object_store(s3_url)
    backups = Backups(store, key=KEY_A)
    manifest = await backups.run(source)
    assert (await backups.list())[0].verified is None  # never verified yet
    record = await backups.verify(manifest.id, source)
    assert record.ok and record.mismatches == []
    stored = json.loads(await store.get_bytes(record_key(manifest.id)))
    assert record_key(manifest.id) == f"{manifest.id}/{manifest.id}.verify.json"
    assert set(stored) == {"backup_id", "ok", "verified_at", "duration_s", "mismatches"}
    assert stored["backup_id"] == manifest.id and stored["ok"] is True
    assert stored["verified_at"].endswith("+00:00") and stored["duration_s"] > 0
    [entry] = await backups.list()
    assert entry.verified is True and entry.verified_at == record.verified_at
    assert entry.as_dict()["verified_at"] == stored["verified_at"]
    assert await _scratch_left(source) == []
    await store.aclose()


async def test_verify_reports_differing_tables_and_a_corrupt_object(
    databases: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    source, _ = databases
    await _seed(source)
    url = f"file://{tmp_path}/store"
    store = create_object_store(url)
    backups = Backups(store)
    manifest = await backups.run(source)
    # a manifest that disagrees with the dump on one table: verify names exactly that table
    tables = [
        TableSum(t.table, t.rows + 1, t.checksum) if t.table == "public.visits" else t
        for t in manifest.tables
    ]
    altered = replace(manifest, tables=tables)
    await store.put_bytes(f"{manifest.id}/manifest.json", altered.to_json())
    monkeypatch.setenv("DATABASE_URL", source)
    code = await asyncio.to_thread(main, ["backup", "verify", manifest.id, "--to", url])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "FAILED (1 problems)" in err
    assert "public.visits: 30001 rows expected, 30000 found; checksum differs" in err
    record = await backups.verify_record(manifest.id)
    assert record is not None and not record.ok
    assert record.mismatches == [
        "public.visits: 30001 rows expected, 30000 found; checksum differs"
    ]
    assert await asyncio.to_thread(main, ["backup", "list", "--to", url, "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["verified"] is False and listed["verified_at"] == record.verified_at.isoformat()

    # the true manifest back, the object corrupted: the restore fails, and so does verify
    await store.put_bytes(f"{manifest.id}/manifest.json", manifest.to_json())
    path = tmp_path / "store" / manifest.id / manifest.object
    good = path.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    record = await backups.verify(manifest.id, source)
    assert not record.ok
    assert len(record.mismatches) == 1 and "SHA-256" in record.mismatches[0]
    path.write_bytes(good)  # repaired: verify passes again
    code = await asyncio.to_thread(main, ["backup", "verify", manifest.id, "--to", url])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "passed" in err
    assert (await backups.list())[0].verified is True  # the newest record wins
    await store.put_bytes(record_key(manifest.id), b"{not json")
    assert (await backups.list())[0].verified is None  # an unreadable record is no verdict
    assert await _scratch_left(source) == []


async def test_verify_cancelled_midway_drops_the_scratch_database_and_records_nothing(
    databases: list[str], tmp_path: Path
) -> None:
    source, _ = databases
    await _seed(source)
    backups = Backups(create_object_store(f"file://{tmp_path}"))
    manifest = await backups.run(source)
    task: asyncio.Task[object] | None = None

    def cancel(count: int) -> None:
        if task is not None:
            task.cancel()  # delivered at the restore's next await, with the scratch made

    task = asyncio.create_task(backups.verify(manifest.id, source, progress=cancel))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _scratch_left(source) == []
    assert await backups.verify_record(manifest.id) is None


async def test_a_second_concurrent_run_fails_fast_naming_the_holder(
    databases: list[str], s3_url: str, stalling_pg_dump: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    source, _ = databases
    await _seed(source)
    store = create_object_store(s3_url)
    assert isinstance(store, S3Store)
    monkeypatch.setenv("STALL_AFTER", "1")
    first = asyncio.create_task(
        Backups(store).run(source, pg_dump=ClientTool("pg_dump", str(stalling_pg_dump)))
    )
    await _until(lambda: _holding(store), "the first run to start uploading")
    monkeypatch.setenv("DATABASE_URL", source)
    code = await asyncio.to_thread(main, ["backup", "run", "--to", s3_url])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"another run is in progress on {source}: mediz-infra backup run " in err
    assert f":{os.getpid()} (from " in err and "pg_terminate_backend(" in err
    assert await store.incomplete() != []  # the first run's upload was left alone
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await _lock_holders(source) == 0
    assert await store.incomplete() == []
    await store.aclose()


async def _holding(store: S3Store) -> bool:
    return await store.incomplete() != []


async def test_a_run_killed_mid_upload_leaves_nothing_listed_and_the_next_run_aborts_it(
    databases: list[str], s3_url: str, stalling_pg_dump: Path
) -> None:
    source, _ = databases
    await _seed(source, BIG)
    store = create_object_store(s3_url)
    assert isinstance(store, S3Store)
    s3 = await store._s3()
    env = {
        **os.environ,
        "PATH": f"{stalling_pg_dump.parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": source,
        "STALL_AFTER": str(14 * 1024 * 1024),  # two 5 MiB parts' worth, then it stalls
    }
    args = ["backup", "run", "--to", s3_url, "--part-size", "5", "--concurrency", "1"]
    # The run compresses in process here: the zstd CLI holds its output while its input stalls,
    # so with it no part would be uploaded before the kill. What a SIGKILL leaves behind is the
    # same either way (an open multipart upload, no manifest).
    without_zstd_cli = (
        "import runpy, shutil, sys; which = shutil.which; "
        "shutil.which = lambda name, *a, **k: None if name == 'zstd' else which(name, *a, **k); "
        "sys.argv[0] = 'mediz-infra'; runpy.run_module('mediz_infra.cli', run_name='__main__')"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", without_zstd_cli, *args, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip

    async def parts_uploaded() -> bool:
        assert proc.returncode is None, "the run ended before it could be killed"
        reply = await s3.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
        for upload in reply.get("Uploads", []):
            listed = await s3.list_parts(
                Bucket=store.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
            if listed.get("Parts"):
                return True
        return False

    try:
        await _until(parts_uploaded, "the run to upload its first part")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run, its pg_dump and all: no cleanup
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    backups = Backups(store)
    assert not [i for i in await store.list() if i.key.endswith("manifest.json")]
    assert await backups.list() == []
    orphans = await store.incomplete()
    assert len(orphans) == 1 and orphans[0].endswith("/dump.pgc.zst")  # killed: not aborted
    await _until(lambda: _free(source), "Postgres to release the killed run's lock")
    said: list[str] = []
    manifest = await backups.run(source, notify=said.append)
    assert said == ["aborted 1 unfinished upload(s) left by an interrupted run"]
    assert await store.incomplete() == []  # no orphan part stays behind
    reply = await s3.list_multipart_uploads(Bucket=store.bucket)
    assert reply.get("Uploads", []) == []
    assert [e.id for e in await backups.list()] == [manifest.id]
    await store.aclose()


async def _free(url: str) -> bool:
    return await _lock_holders(url) == 0


async def test_a_run_into_a_too_full_file_store_is_refused_before_dumping(
    databases: list[str], tmp_path: Path
) -> None:
    source, _ = databases
    await _seed(source)
    store = create_object_store(f"file://{tmp_path}/store")
    backups = Backups(store)
    said: list[str] = []
    manifest = await backups.run(source, notify=said.append)
    assert len(said) == 1 and said[0].startswith(f"free space at file://{tmp_path}/store: ")
    assert said[0].endswith("(no earlier backup)")
    # the last backup claims 1 PiB: no real disk has room for another like it
    huge = replace(manifest, id="20991231T000000Z", stored_size=1 << 50)
    await store.put_bytes(f"{huge.id}/manifest.json", huge.to_json())
    before = await store.list()
    with pytest.raises(
        BackupError, match=r"not enough free space at file://.*last \(1048576\.0 GiB\)"
    ):
        await backups.run(source)
    assert await store.list() == before  # nothing dumped, nothing written
    assert await _lock_holders(source) == 0


async def test_restore_preflight_checks_the_local_data_directory(
    databases: list[str], tmp_path: Path
) -> None:
    source, target = databases
    await _seed(source)
    store = create_object_store(f"file://{tmp_path}")
    backups = Backups(store)
    manifest = await backups.run(source)
    said: list[str] = []
    await backups.restore(manifest.id, target, notify=said.append)
    # the test server is on loopback and the role a superuser: the free space is known
    assert said[0].startswith(f"free space at the data directory of {target} (/")
    assert "unknown" not in said[0]
    huge = replace(manifest, raw_size=1 << 50)
    await store.put_bytes(f"{manifest.id}/manifest.json", huge.to_json())
    with pytest.raises(BackupError, match="not enough free space at the data directory"):
        await backups.restore(manifest.id, target, clean=True)
