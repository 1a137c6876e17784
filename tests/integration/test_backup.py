"""Backups against the real services: Postgres and S3 (moto's server on loopback, over HTTP).

A seeded source database is backed up, restored into a new database, and the data proved
identical by per-table content checksums. Corrupted objects, wrong keys and a cancelled run are
refused or cleaned up without touching the target.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from mediz_infra.backends import S3Store, create_object_store, from_url
from mediz_infra.cli import main
from mediz_infra.db.backup import Backups, Manifest, compare_sums, sums_like, table_sums
from mediz_infra.errors import BackupCorrupt, BackupError
from tests._s3 import bucket_url

pytestmark = pytest.mark.integration

KEY_A = secrets.token_bytes(32)
KEY_B = secrets.token_bytes(32)


@pytest.fixture
async def s3_url(s3_endpoint: str) -> str:
    """A fresh bucket; the URL carries moto's dummy credentials and the endpoint."""
    return await bucket_url(s3_endpoint, "backups", prefix="nightly")


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[list[str]]:
    """Makes databases named after the test's own one (``<db>_<suffix>``); drops them after."""
    base = urlsplit(database_url).path.lstrip("/")
    made: list[str] = []
    admin = await asyncpg.connect(database_url)

    async def make() -> str:
        name = f"{base}_{secrets.token_hex(3)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return _with_db(database_url, name)

    created: list[str] = []
    created.append(await make())  # the source
    created.append(await make())  # a restore target
    yield created
    for name in made:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


SEED = """
CREATE SCHEMA clinic;
CREATE TABLE clinic.patients (
    id bigserial PRIMARY KEY, name text NOT NULL, born date, weight numeric(6, 2),
    notes text, data jsonb, photo bytea, seen timestamptz DEFAULT now()
);
INSERT INTO clinic.patients (name, born, weight, notes, data, photo, seen)
SELECT 'patient ' || g, date '1950-01-01' + g % 20000, (g % 1000) / 7.0,
       CASE WHEN g % 5 = 0 THEN NULL ELSE repeat('é', g % 17) END,
       jsonb_build_object('g', g, 'tags', jsonb_build_array(g % 3, 'x')),
       decode(md5(g::text), 'hex'), timestamptz '2026-01-01' + g * interval '1 minute'
FROM generate_series(1, 20000) AS g;
CREATE TABLE public.visits (patient bigint REFERENCES clinic.patients, at timestamptz, code int);
INSERT INTO public.visits SELECT g % 20000 + 1, now() - g * interval '1 hour', g
FROM generate_series(1, 30000) AS g;
CREATE TABLE public.empty (x int);
"""


async def _seed(url: str, extra: str = "") -> list:  # type: ignore[type-arg]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SEED + extra)
        async with conn.transaction(isolation="repeatable_read"):
            return await table_sums(conn)
    finally:
        await conn.close()


async def _sums(url: str, manifest: Manifest | None = None) -> list:  # type: ignore[type-arg]
    """The database's sums by ``manifest``'s checksum method (none: the server's md5 sums)."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            if manifest is None:
                return await table_sums(conn)
            return await sums_like(conn, manifest)
    finally:
        await conn.close()


async def test_s3_encrypted_round_trip_restores_identical_data(
    databases: list[str], s3_url: str
) -> None:
    source, target = databases
    expected = await _seed(source)
    store = create_object_store(s3_url)
    backups = Backups(store, key=KEY_A, level=5)
    seen: list[int] = []
    manifest = await backups.run(source, progress=seen.append)
    # the manifest's counts and sums are the server's (hash_record_extended, in the snapshot)
    assert [(t.table, t.rows) for t in manifest.tables] == [(t.table, t.rows) for t in expected]
    assert manifest.checksum_method == "server-hash-record"
    assert manifest.tables == await _sums(source, manifest)
    assert manifest.encryption is not None
    assert sum(seen) == manifest.raw_size > 0
    listed = await backups.list()
    assert [e.id for e in listed] == [manifest.id]
    restored = await backups.restore(manifest.id, target)
    assert restored.id == manifest.id
    assert compare_sums(manifest.tables, await _sums(target, manifest)) == []
    assert {t.table for t in manifest.tables} == {
        "clinic.patients", "public.empty", "public.visits"
    }  # fmt: skip
    await store.aclose()


async def test_file_store_round_trip_unencrypted(databases: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    source, target = databases
    await _seed(source)
    store = from_url(f"file://{tmp_path}/backups")
    backups = Backups(store)  # type: ignore[arg-type]
    manifest = await backups.run(source)
    assert manifest.encryption is None
    assert (tmp_path / "backups" / manifest.id / "manifest.json").exists()
    await backups.restore(manifest.id, target)
    assert compare_sums(manifest.tables, await _sums(target, manifest)) == []


async def test_without_the_zstd_cli_the_backup_compresses_in_process(  # type: ignore[no-untyped-def]
    databases: list[str], tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zstd CLI is used where installed; without it zstandard makes the same format."""
    import shutil

    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "zstd" else which(name))
    source, target = databases
    await _seed(source)
    backups = Backups(create_object_store(f"file://{tmp_path}"), key=KEY_A)
    seen: list[int] = []
    manifest = await backups.run(source, progress=seen.append)
    assert sum(seen) == manifest.raw_size > 0
    monkeypatch.undo()
    await backups.restore(manifest.id, target)
    assert compare_sums(manifest.tables, await _sums(target, manifest)) == []


async def test_a_changed_row_shows_in_the_checksums(databases: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    source, target = databases
    await _seed(source)
    backups = Backups(create_object_store(f"file://{tmp_path}"))
    manifest = await backups.run(source)
    await backups.restore(manifest.id, target)
    conn = await asyncpg.connect(target)
    await conn.execute("UPDATE public.visits SET code = code + 1 WHERE code = 17")
    await conn.close()
    problems = compare_sums(manifest.tables, await _sums(target, manifest))
    assert problems == ["public.visits: 30000 rows expected, 30000 found; checksum differs"]


@pytest.mark.parametrize("key", [None, KEY_A], ids=["plain", "encrypted"])
async def test_corrupted_object_is_refused_and_the_target_untouched(
    databases: list[str], s3_url: str, key: bytes | None
) -> None:
    source, target = databases
    await _seed(source)
    store = create_object_store(s3_url)
    backups = Backups(store, key=key)
    manifest = await backups.run(source)
    name = f"{manifest.id}/{manifest.object}"
    data = bytearray(await store.get_bytes(name))
    data[len(data) // 2] ^= 0x01
    await store.put_bytes(name, bytes(data))
    with pytest.raises(BackupCorrupt, match="SHA-256"):
        await backups.restore(manifest.id, target)
    assert await _sums(target) == []  # no table was created
    await store.aclose()


async def test_wrong_key_fails_before_anything_is_restored(
    databases: list[str], s3_url: str
) -> None:
    source, target = databases
    await _seed(source)
    store = create_object_store(s3_url)
    manifest = await Backups(store, key=KEY_A).run(source)
    with pytest.raises(BackupCorrupt, match="wrong key"):
        await Backups(store, key=KEY_B).restore(manifest.id, target)
    with pytest.raises(BackupError, match="is encrypted: set MEDIZ_BACKUP_KEY"):
        await Backups(store).restore(manifest.id, target)
    assert await _sums(target) == []
    await store.aclose()


async def test_non_empty_target_is_refused_unless_clean(databases: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    source, target = databases
    await _seed(source)
    backups = Backups(create_object_store(f"file://{tmp_path}"))
    manifest = await backups.run(source)
    conn = await asyncpg.connect(target)
    await conn.execute("CREATE TABLE public.visits (stale int); INSERT INTO visits VALUES (1)")
    await conn.close()
    with pytest.raises(BackupError, match=r"not empty \(1 tables\).*--clean"):
        await backups.restore(manifest.id, target)
    await backups.restore(manifest.id, target, clean=True)
    assert compare_sums(manifest.tables, await _sums(target, manifest)) == []


BIG = """
CREATE TABLE public.blobs (id int, payload bytea);
INSERT INTO public.blobs
SELECT g, decode(md5(g::text || random()::text) || md5(random()::text), 'hex')
FROM generate_series(1, 400000) AS g;
"""


async def test_cancelled_run_aborts_its_upload_and_is_never_listed(
    databases: list[str], s3_url: str
) -> None:
    source, _ = databases
    await _seed(source, BIG)
    store = create_object_store(s3_url, part_size=5 * 1024 * 1024, concurrency=2)
    assert isinstance(store, S3Store)
    backups = Backups(store, level=1)
    task: asyncio.Task[object] | None = None
    total = 0

    def cancel_midway(count: int) -> None:
        nonlocal total
        total += count
        if total > 20 * 1024 * 1024 and task is not None:
            task.cancel()  # delivered at the pipeline's next await, mid-upload

    task = asyncio.create_task(backups.run(source, progress=cancel_midway))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert total < 30 * 1024 * 1024  # stopped before the dump was complete
    assert await store.incomplete() == []  # the multipart upload was aborted
    assert await store.list() == []  # nothing stored, so nothing to list
    assert await backups.list() == []
    await store.aclose()


async def test_cli_run_list_restore_prints_no_secret(
    databases: list[str], s3_url: str, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    source, target = databases
    await _seed(source)
    # trust authentication ignores the password: it is here to prove it is never printed
    with_pw = source.replace("postgres@", "postgres:hunter2@", 1)
    monkeypatch.setenv("DATABASE_URL", with_pw)
    monkeypatch.setenv("S3_URL", s3_url)
    monkeypatch.setenv("MEDIZ_BACKUP_KEY", base64.b64encode(KEY_A).decode())
    code = await asyncio.to_thread(main, ["backup", "run", "--encrypt", "--level", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    backup_id = out.strip()
    assert f"backup {backup_id} done: " in err and "/s)" in err  # bytes and rate
    assert await asyncio.to_thread(main, ["backup", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(b["id"], b["encrypted"]) for b in listed] == [(backup_id, True)]
    target_pw = target.replace("postgres@", "postgres:hunter2@", 1)
    args = ["backup", "restore", backup_id, "--target", target_pw]
    assert await asyncio.to_thread(main, args) == 0
    err = capsys.readouterr().err
    assert "hunter2" not in err and "restore of" in err
    monkeypatch.setenv("MEDIZ_BACKUP_KEY", base64.b64encode(KEY_B).decode())
    args = ["backup", "restore", backup_id, "--target", target_pw, "--clean"]
    assert await asyncio.to_thread(main, args) == 1
    err = capsys.readouterr().err
    assert "wrong key" in err
    assert base64.b64encode(KEY_B).decode() not in err
    assert os.environ["MEDIZ_BACKUP_KEY"] not in err
