"""Object store URLs and the file:// store (the s3:// store runs against moto: integration)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediz_infra.backends import FileStore, ObjectStore, S3Store, create_object_store, from_url
from mediz_infra.errors import ConfigError, ObjectMissing


def test_from_url_accepts_the_object_store_schemes(tmp_path: Path) -> None:
    s3 = from_url("s3://KEYID:s3cret-pw@bucket/nightly?region=eu-west-1&part_size=8388608")
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.part_size) == ("bucket", "nightly", 8 * 1024 * 1024)
    assert "s3cret-pw" not in repr(s3) and "s3cret-pw" not in s3.url
    assert isinstance(from_url(f"file://{tmp_path}"), FileStore)
    assert isinstance(s3, ObjectStore)


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        ("s3://b/p?part_size=1024", "part_size", "at least 5242880 bytes"),
        ("s3://b/p?concurrency=0", "concurrency", "at least 1"),
        ("s3://b/p?colour=blue", "url", "unknown S3 option 'colour'"),
        ("file://host/x", "url", "use file:///path"),
        ("ftp://x/y", "url", "known: s3://, file://"),
    ],
)
def test_bad_urls_name_the_field(url: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        create_object_store(url)
    assert info.value.field == field


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_file_store_contract(tmp_path: Path) -> None:
    store = FileStore(f"file://{tmp_path}")
    assert await store.put_stream("a/b.bin", _chunks(b"12", b"345")) == 5
    await store.put_bytes("a/m.json", b"{}")
    assert [i.key for i in await store.list()] == ["a/b.bin", "a/m.json"]
    assert b"".join([c async for c in store.get_stream("a/b.bin", 2)]) == b"12345"
    with pytest.raises(ObjectMissing):
        await store.get_bytes("nope")
    await store.delete("a/b.bin")
    assert [i.key for i in await store.list("a/")] == ["a/m.json"]


async def test_file_store_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = FileStore(f"file://{tmp_path}")

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("source died")

    with pytest.raises(RuntimeError, match="source died"):
        await store.put_stream("x/dump", broken())
    assert await store.list() == []
    assert await asyncio.to_thread(os.listdir, tmp_path / "x") == []  # no partial file left


def test_s3_part_size_doubles_every_2000_parts_up_to_5_gib() -> None:
    from mediz_infra.backends.objectstore.s3 import DEFAULT_PART_SIZE, MAX_PART_SIZE, part_size_of

    mib = 1024 * 1024
    assert S3Store("s3://b/p").part_size == DEFAULT_PART_SIZE == 8 * mib
    assert [part_size_of(n, 8 * mib) for n in (1, 2000, 2001, 4000, 4001, 8001, 10_000)] == [
        8 * mib, 8 * mib, 16 * mib, 16 * mib, 32 * mib, 128 * mib, 128 * mib,
    ]  # fmt: skip
    # the 10,000 parts S3 allows then hold about 500 GB, against 80 GB at a fixed 8 MiB
    assert sum(part_size_of(n, 8 * mib) for n in range(1, 10_001)) > 500 * 10**9
    assert part_size_of(10_000, 1024 * mib) == MAX_PART_SIZE


async def test_s3_unfinished_uploads_are_read_page_by_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 lists at most 1,000 unfinished uploads a call: every page is read, by its markers."""
    uploads = [(f"p/b{n}/dump", f"u{n}") for n in range(5)]
    calls: list[dict[str, object]] = []

    class Pages:  # list_multipart_uploads as S3 documents it, two uploads a page
        async def list_multipart_uploads(self, **kw: object) -> dict[str, object]:
            calls.append(kw)
            start = 0
            if "KeyMarker" in kw:
                start = 1 + [u for u, _ in uploads].index(str(kw["KeyMarker"]))
            page = uploads[start : start + int(kw["MaxUploads"])]  # type: ignore[call-overload]
            more = start + len(page) < len(uploads)
            reply: dict[str, object] = {
                "Uploads": [{"Key": k, "UploadId": u} for k, u in page],
                "IsTruncated": more,
            }
            if more:
                reply |= {"NextKeyMarker": page[-1][0], "NextUploadIdMarker": page[-1][1]}
            return reply

    store = S3Store("s3://KEYID:s3cr3tpw@bucket/p?region=us-east-1")

    async def client() -> Pages:
        return Pages()

    monkeypatch.setattr(store, "_s3", client)
    assert await store._uploads("", page=2) == uploads
    assert [c.get("KeyMarker") for c in calls] == [None, "p/b1/dump", "p/b3/dump"]
    assert [c.get("UploadIdMarker") for c in calls] == [None, "u1", "u3"]
