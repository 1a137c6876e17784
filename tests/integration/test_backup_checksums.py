"""Row counts and checksums taken from pg_dump's archive as it streams, against real Postgres.

The archive reader runs on real ``pg_dump -Fc -Z0`` output of a database full of awkward types;
a backup's manifest agrees with the server's own counts; a verify recomputes the same sums
from the restored tables with COPY and catches a changed row; a manifest of the old kind
(server-side md5 sums, no method field) still verifies; an archive the reader cannot read makes
the backup fall back to the server's sums.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Literal

import asyncpg
import pytest

from mediz_infra.backends import create_object_store
from mediz_infra.db.backup import Backups, TableSum, sums_like, table_sums
from mediz_infra.db.backup import tables as tables_module
from mediz_infra.db.backup.archive import ArchiveError, ArchiveReader, TableData
from mediz_infra.db.backup.manifest import COPY_BLAKE2B, SERVER_HASH, SERVER_MD5
from mediz_infra.db.backup.tables import RowSum, copy_sums
from tests.integration import test_backup as base

pytestmark = pytest.mark.integration

databases = base.databases  # the source and target databases, dropped after each test

TRICKY = r"""
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed ""Case"" table" (
    id int PRIMARY KEY,
    "select" text,
    at timestamptz,
    day date,
    span interval,
    f8 float8,
    f4 float4,
    n numeric,
    b bytea,
    ints int[],
    texts text[],
    j json,
    jb jsonb,
    u uuid,
    ip inet,
    m money,
    doubled int GENERATED ALWAYS AS (id * 2) STORED
);
INSERT INTO "Odd Schema"."Mixed ""Case"" table"
    (id, "select", at, day, span, f8, f4, n, b, ints, texts, j, jb, u, ip, m)
SELECT g,
       CASE g % 6
           WHEN 0 THEN NULL
           WHEN 1 THEN E'tab\there\nnewline\\backslash \\N not null'
           WHEN 2 THEN 'Zürich · 東京 · ' || repeat('é', g % 7)
           WHEN 3 THEN ''
           WHEN 4 THEN E'\\.'
           ELSE 'plain ' || g
       END,
       timestamptz '2026-03-29 01:30:00+01' + g * interval '37 minutes 1.5 seconds',
       date '1999-12-31' + g,
       make_interval(months => g % 14, days => g % 40, secs => g / 7.0),
       CASE WHEN g = 1 THEN 'NaN'::float8 WHEN g = 2 THEN '-Infinity' ELSE 1.0 / g END,
       (g / 3.0)::float4,
       CASE WHEN g = 3 THEN 'NaN'::numeric ELSE g * 1.000100 / 7 END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text) || '00ff5c0a09', 'hex') END,
       ARRAY[g, NULL, -g],
       ARRAY['a b', NULL, E'q"uote', E'back\\slash', '{brace}'],
       json_build_object('g', g, 's', E'line\nbreak', 'f', 0.1 + g),
       jsonb_build_object('k', ARRAY[g, g + 1], 'u', 'ü'),
       md5(g::text)::uuid,
       ('10.0.' || g % 256 || '.1/24')::inet,
       g * 1.25
FROM generate_series(1, 600) AS g;
CREATE TABLE public.nothing (x int);
CREATE TABLE public.no_columns ();
INSERT INTO public.no_columns DEFAULT VALUES;
INSERT INTO public.no_columns DEFAULT VALUES;
CREATE TABLE public.dupes (v text);
INSERT INTO public.dupes VALUES ('same'), ('same'), ('same'), ('other');
CREATE TABLE public.measures (at date NOT NULL, v float8) PARTITION BY RANGE (at);
CREATE TABLE public.measures_2025 PARTITION OF public.measures
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.measures_2026 PARTITION OF public.measures
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO public.measures
SELECT date '2025-06-01' + g, g * 0.1 FROM generate_series(0, 400) AS g;
ALTER TABLE public.dupes ADD COLUMN gone int;
ALTER TABLE public.dupes DROP COLUMN gone;
SELECT lo_from_bytea(0, 'a large object, skipped by the reader');
"""

TRICKY_TABLES = {
    '"Odd Schema"."Mixed ""Case"" table"': 600,
    "public.dupes": 4,
    "public.measures_2025": 214,
    "public.measures_2026": 187,
    "public.no_columns": 2,
    "public.nothing": 0,
}


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_dump(url: str, *args: str) -> bytes:
    pg_dump = shutil.which("pg_dump")
    assert pg_dump is not None
    return subprocess.run(
        [pg_dump, "-Fc", *args, "-d", url], check=True, capture_output=True
    ).stdout


def _read(archive: bytes, sizes: list[int]) -> tuple[ArchiveReader, dict[TableData, bytes]]:
    """The archive fed in pieces of the given sizes (cycled); each table's COPY text."""
    got: dict[TableData, list[bytes]] = {}

    def sink(table: TableData, data: bytes | None) -> None:
        got.setdefault(table, []).append(data or b"")

    reader = ArchiveReader(sink)
    at, i = 0, 0
    while at < len(archive):
        size = sizes[i % len(sizes)]
        reader.feed(archive[at : at + size])
        at, i = at + size, i + 1
    reader.close()
    return reader, {table: b"".join(parts) for table, parts in got.items()}


async def _copy_sums_of(url: str, expected: list[TableSum]) -> list[TableSum]:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await copy_sums(conn, expected, {"TimeZone": "UTC"})
    finally:
        await conn.close()


async def test_the_reader_reads_real_pg_dump_output_in_any_pieces(databases: list[str]) -> None:
    source, _ = databases
    await _execute(source, TRICKY)
    archive = _pg_dump(source, "-Z0")
    reader, texts = _read(archive, [len(archive)])
    assert reader.version is not None and reader.version[:2] >= (1, 12)
    assert reader.encoding == "UTF8"
    by_name = {(t.schema, t.name): t for t in texts}
    odd = by_name[("Odd Schema", 'Mixed "Case" table')]
    assert "doubled" not in odd.columns  # generated: pg_dump does not copy it
    assert odd.columns[:3] == ("id", "select", "at")
    assert by_name[("public", "no_columns")].columns == ()
    assert by_name[("public", "dupes")].columns == ("v",)  # the dropped column is gone
    assert ("public", "measures") not in by_name  # a partitioned table holds no rows itself
    # any cut of the stream reads the same, down to one byte at a time
    rng = random.Random(7)
    for sizes in ([1], [5, 1, 3], [rng.randint(1, 9000) for _ in range(50)], [65536]):
        assert _read(archive, sizes)[1] == texts
    # the rows are the COPY lines: as many as the server counts, each table's sum equals the
    # one COPY ... TO STDOUT gives on the same data
    sums = {}
    for table, text in texts.items():
        rows = RowSum()
        for at in range(0, len(text), 777):  # lines cut anywhere
            rows.update(text[at : at + 777])
        sums[(table.schema, table.name)] = rows.finish()
    assert {_key(schema, name): count for (schema, name), (count, _) in sums.items()} == (
        TRICKY_TABLES
    )
    conn = await asyncpg.connect(source)
    try:
        for key, count in TRICKY_TABLES.items():
            assert await conn.fetchval(f"SELECT count(*) FROM {key}") == count
    finally:
        await conn.close()
    expected = [TableSum(key, 0, "", list(by_name[_split(key)].columns)) for key in TRICKY_TABLES]
    copied = {t.table: (t.rows, t.checksum) for t in await _copy_sums_of(source, expected)}
    for key in TRICKY_TABLES:
        count, checksum = sums[_split(key)]
        assert copied[key] == (count, checksum), key


def _key(schema: str, name: str) -> str:
    """As ``format('%I.%I')`` writes these names (all lower case but the odd ones)."""
    quote = lambda n: n if n.islower() and n.isidentifier() else '"' + n.replace('"', '""') + '"'  # noqa: E731
    return f"{quote(schema)}.{quote(name)}"


def _split(key: str) -> tuple[str, str]:
    from mediz_infra.db.backup.archive import split_identifiers

    schema, name = split_identifiers(key)
    return schema, name


async def test_the_reader_refuses_what_it_cannot_read(databases: list[str]) -> None:
    source, _ = databases
    await _execute(source, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2);")
    archive = _pg_dump(source, "-Z0")
    cases = {
        "truncated": (archive[:-7], "ends early"),
        "another version": (archive[:5] + bytes([1, 99, 0]) + archive[8:], "version 1.99.0"),
        "not an archive": (b"--\n-- PostgreSQL database dump\n" + archive, "PGDMP"),
        "compressed": (_pg_dump(source, "-Z1"), "compressed"),
    }
    for what, (data, message) in cases.items():
        reader = ArchiveReader(lambda table, data: None)
        with pytest.raises(ArchiveError, match=message):
            reader.feed(data)
            reader.close()
        assert what


@pytest.mark.parametrize(
    ("checksums", "method"), [("server", SERVER_HASH), ("stream", COPY_BLAKE2B)]
)
async def test_manifest_counts_match_the_server_and_verify_catches_a_changed_row(
    databases: list[str], tmp_path: Path, checksums: Literal["server", "stream"], method: str
) -> None:
    source, _ = databases
    await _execute(source, TRICKY)
    # the source's own defaults for text output change nothing: pg_dump runs in UTC and sets
    # its float digits; a verify's scratch database has neither default
    name = source.rsplit("/", 1)[1]
    await _execute(
        source,
        f"ALTER DATABASE \"{name}\" SET TimeZone = 'Asia/Kolkata';"
        f'ALTER DATABASE "{name}" SET extra_float_digits = 0;',
    )
    backups = Backups(create_object_store(f"file://{tmp_path}/store"), checksums=checksums)
    notes: list[str] = []
    manifest = await backups.run(source, notify=notes.append)
    assert manifest.checksum_method == method
    if checksums == "stream":
        assert manifest.checksum_session["TimeZone"] == "UTC"
    assert not [n for n in notes if "checksums" in n]
    assert {t.table: t.rows for t in manifest.tables} == TRICKY_TABLES
    conn = await asyncpg.connect(source)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            server = await table_sums(conn)
            again = await sums_like(conn, manifest)
    finally:
        await conn.close()
    assert {t.table: t.rows for t in server} == TRICKY_TABLES  # the server's own counts
    assert again == manifest.tables  # the same method over the same snapshot's data
    record = await backups.verify(manifest.id, source)
    assert record.ok, record.mismatches
    # one changed value, one duplicated row, one deleted row: each table named
    await _execute(
        source,
        """
        UPDATE "Odd Schema"."Mixed ""Case"" table" SET f8 = f8 + 1e-12 WHERE id = 9;
        INSERT INTO public.dupes VALUES ('other');
        DELETE FROM public.measures WHERE at = '2026-01-01';
        """,
    )
    later = await backups.run(source)
    changed = replace(later, tables=manifest.tables)  # the sums from before the changes
    await backups.store.put_bytes(f"{later.id}/manifest.json", changed.to_json())
    record = await backups.verify(later.id, source)
    assert not record.ok
    assert record.mismatches == [
        '"Odd Schema"."Mixed ""Case"" table": 600 rows expected, 600 found; checksum differs',
        "public.dupes: 4 rows expected, 5 found; checksum differs",
        "public.measures_2026: 187 rows expected, 186 found; checksum differs",
    ]


async def test_an_old_manifest_still_verifies_with_the_server_sums(
    databases: list[str], tmp_path: Path
) -> None:
    source, _ = databases
    await base._seed(source)
    backups = Backups(create_object_store(f"file://{tmp_path}/store"))
    manifest = await backups.run(source)
    # what an earlier release wrote: format 1, no method, no session, no columns, md5 sums
    conn = await asyncpg.connect(source)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            server = await table_sums(conn)
    finally:
        await conn.close()
    raw = json.loads(manifest.to_json())
    del raw["checksum_method"], raw["checksum_session"]
    raw["format"] = 1
    raw["tables"] = [{"table": t.table, "rows": t.rows, "checksum": t.checksum} for t in server]
    await backups.store.put_bytes(f"{manifest.id}/manifest.json", json.dumps(raw).encode())
    old = await backups.manifest(manifest.id)
    assert old.checksum_method == SERVER_MD5 and old.tables == server
    record = await backups.verify(manifest.id, source)
    assert record.ok, record.mismatches
    raw["tables"][0]["checksum"] = str(int(raw["tables"][0]["checksum"]) + 1)
    await backups.store.put_bytes(f"{manifest.id}/manifest.json", json.dumps(raw).encode())
    record = await backups.verify(manifest.id, source)
    assert record.mismatches == [f"{server[0].table}: {server[0].rows} rows expected, "
                                 f"{server[0].rows} found; checksum differs"]  # fmt: skip


async def test_an_unreadable_archive_falls_back_to_the_server_sums(
    databases: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = databases
    await base._seed(source)

    class Refusing(ArchiveReader):
        def feed(self, data: bytes) -> None:
            raise ArchiveError("archive version 1.99.0 is not one this reader knows")

    monkeypatch.setattr(tables_module, "ArchiveReader", Refusing)
    backups = Backups(create_object_store(f"file://{tmp_path}/store"), checksums="stream")
    notes: list[str] = []
    manifest = await backups.run(source, notify=notes.append)
    assert manifest.checksum_method == SERVER_MD5 and manifest.checksum_session == {}
    assert [n for n in notes if n.startswith("checksums:")] == [
        "checksums: cannot read pg_dump's archive (archive version 1.99.0 is not one this "
        "reader knows); the server sums the tables instead (one more read of every row)"
    ]
    conn = await asyncpg.connect(source)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            assert manifest.tables == await table_sums(conn)
    finally:
        await conn.close()
    monkeypatch.undo()
    record = await backups.verify(manifest.id, source)
    assert record.ok, record.mismatches
