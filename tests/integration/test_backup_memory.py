"""A backup's memory stays bounded: a real ``mediz-infra backup run`` process, its peak RSS.

Two databases, one with about 12 times the dump data of the other, are backed up by the CLI as
a child process, to ``file://`` and to ``s3://`` (moto); the child's high-water mark
(``ru_maxrss`` from ``os.wait4``) must stay under the issue's 150 MB either way and must not grow
with the dump beyond the S3 parts in flight. The 1 GB measurement is in
``python -m benchmarks backup``; this is its bounded, fast form for the normal suite.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from benchmarks.backup import peak_rss
from mediz_infra.backends import S3Store
from mediz_infra.backends.objectstore.s3 import DEFAULT_PART_SIZE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 150_000_000  # bytes
BLOB = 1024  # random bytes a row: about 2 KiB of hex in the dump


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _seeded(admin: asyncpg.Connection, base_url: str, rows: int) -> str:
    name = f"{urlsplit(base_url).path.lstrip('/')}_mem_{secrets.token_hex(3)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(base_url, name)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE blobs (id int, payload bytea)")
        for start in range(0, rows, 5_000):
            records = [(i, os.urandom(BLOB)) for i in range(start, min(start + 5_000, rows))]
            await conn.copy_records_to_table("blobs", records=records)
        await conn.execute(
            "CREATE TABLE notes AS SELECT g AS id, repeat('follow up in six weeks ', 8) AS body "
            f"FROM generate_series(1, {rows * 4}) AS g"
        )
    finally:
        await conn.close()
    return url


@pytest.fixture
async def sources(database_url: str) -> AsyncIterator[tuple[str, str]]:
    """A small (about 10 MB of dump) and a large (about 120 MB) seeded database."""
    admin = await asyncpg.connect(database_url)
    made: list[str] = []
    try:
        small = await _seeded(admin, database_url, 4_000)
        made.append(small)
        large = await _seeded(admin, database_url, 48_000)
        made.append(large)
        yield small, large
    finally:
        for url in made:
            name = urlsplit(url).path.lstrip("/")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _backup(database: str, store: str) -> int:
    """Run ``mediz-infra backup run`` as a child process; its peak RSS in bytes."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing")  # fmt: skip
    for name in ("S3_URL", "DATABASE_URL", "MEDIZ_BACKUP_KEY"):
        env.pop(name, None)
    argv = [sys.executable, "-m", "mediz_infra.cli", "backup", "run", "--to", store,
            "--database-url", database]  # fmt: skip
    # through a small measuring process (a child forked from pytest itself would report
    # pytest's high-water mark); bounded: a run still going after 120 s is killed and fails
    _, rss = peak_rss(argv, env, timeout=120)
    return rss


def _raw_size(folder: Path) -> int:
    """The dump's raw size, as the one backup's manifest under ``folder`` records it."""
    (manifest,) = folder.glob("*/manifest.json")
    return int(json.loads(manifest.read_text())["raw_size"])


async def test_backup_peak_rss_is_bounded_and_does_not_grow_with_the_dump(
    sources: tuple[str, str], s3_endpoint: str, tmp_path: Path
) -> None:
    small, large = sources
    bucket = f"mem-{secrets.token_hex(4)}"
    s3_url = f"s3://{bucket}/nightly?endpoint_url={s3_endpoint}&region=us-east-1"
    store = S3Store(f"s3://testing:testing@{bucket}?endpoint_url={s3_endpoint}&region=us-east-1")
    await (await store._s3()).create_bucket(Bucket=bucket)
    await store.aclose()

    small_rss = _backup(small, f"file://{tmp_path}/small")
    large_rss = _backup(large, f"file://{tmp_path}/large")
    small_s3 = _backup(small, s3_url.replace("nightly", "small"))
    large_s3 = _backup(large, s3_url)
    print(f"peak RSS MB: file {small_rss / 1e6:.0f} -> {large_rss / 1e6:.0f}, "
          f"s3 {small_s3 / 1e6:.0f} -> {large_s3 / 1e6:.0f}")  # fmt: skip

    grown = _raw_size(tmp_path / "large") - _raw_size(tmp_path / "small")
    assert grown > 80 * 2**20  # the large dump really is larger, by about 100 MiB
    assert large_rss < LIMIT, f"file:// peak RSS {large_rss / 1e6:.0f} MB"
    # Not proportional: about 100 MiB more dump moves the peak by far less than that.
    assert large_rss - small_rss < 0.2 * grown, (small_rss, large_rss, grown)
    # To S3 the peak is bounded by the parts in flight, (concurrency + 1) x part_size with the
    # defaults (5 x 8 MiB), not by the dump; each part is held once (see S3Store.put_stream).
    in_flight = 5 * DEFAULT_PART_SIZE
    assert large_s3 - small_s3 < 0.2 * grown + in_flight, (small_s3, large_s3, grown)
    assert large_s3 < LIMIT, f"s3:// peak RSS {large_s3 / 1e6:.0f} MB"
