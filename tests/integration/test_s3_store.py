"""``S3Store.put_stream`` against moto: how a stream is cut into parts, and what a failure leaves.

The part sizes are read back from the completed object (``head_object(PartNumber=n)``), so what
is asserted is what the server stored, not what the store meant to send.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from mediz_infra.backends import S3Store
from mediz_infra.errors import BackendUnavailable

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture
async def store(s3_endpoint: str) -> AsyncIterator[S3Store]:
    bucket = f"parts-{secrets.token_hex(4)}"
    url = f"s3://testing:testing@{bucket}/p?endpoint_url={s3_endpoint}&region=us-east-1"
    made = S3Store(url, part_size=5 * MiB, concurrency=2)
    await (await made._s3()).create_bucket(Bucket=bucket)
    yield made
    await made.aclose()


async def _chunks(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    start = 0
    for size in sizes:
        yield data[start : start + size]
        start += size
    yield data[start:]


async def _part_sizes(store: S3Store, key: str) -> list[int]:
    s3 = await store._s3()
    first = await s3.head_object(Bucket=store.bucket, Key=f"p/{key}", PartNumber=1)
    count = int(first.get("PartsCount", 1))
    sizes = [int(first["ContentLength"])]
    for number in range(2, count + 1):
        reply = await s3.head_object(Bucket=store.bucket, Key=f"p/{key}", PartNumber=number)
        sizes.append(int(reply["ContentLength"]))
    return sizes


async def test_parts_are_exactly_part_size_whatever_the_chunks(store: S3Store) -> None:
    data = os.urandom(13 * MiB + 12345)
    # uneven chunks: one larger than a whole part, empty ones, ones that straddle a boundary
    sizes = [100, 0, 7 * MiB, 3 * MiB + 1, 0, 1 * MiB - 1, 999]
    written = await store.put_stream("obj", _chunks(data, sizes))
    assert written == len(data)
    assert await store.get_bytes("obj") == data
    assert await _part_sizes(store, "obj") == [5 * MiB, 5 * MiB, len(data) - 10 * MiB]


async def test_a_stream_of_exact_parts_and_an_empty_stream(store: S3Store) -> None:
    data = os.urandom(10 * MiB)
    assert await store.put_stream("exact", _chunks(data, [MiB] * 10)) == len(data)
    assert await store.get_bytes("exact") == data
    assert await _part_sizes(store, "exact") == [5 * MiB, 5 * MiB]  # no empty third part
    assert await store.put_stream("empty", _chunks(b"", [])) == 0
    assert await store.get_bytes("empty") == b""


async def test_a_failing_source_aborts_the_upload_and_leaves_no_part(store: S3Store) -> None:
    async def failing() -> AsyncIterator[bytes]:
        for _ in range(12):  # two parts sent (or in flight) before the failure
            yield os.urandom(MiB)
        raise RuntimeError("pg_dump died")

    with pytest.raises(RuntimeError, match="pg_dump died"):
        await store.put_stream("broken", failing())
    assert await store.incomplete() == []
    assert await store.list() == []


async def test_a_failing_part_upload_surfaces_and_aborts(store: S3Store) -> None:
    s3 = await store._s3()
    real = s3.upload_part
    calls = 0

    async def flaky(**kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise s3.exceptions.NoSuchUpload({"Error": {"Code": "NoSuchUpload"}}, "UploadPart")
        return await real(**kwargs)

    s3.upload_part = flaky
    try:
        with pytest.raises(BackendUnavailable, match="uploading broken"):
            await store.put_stream("broken", _chunks(os.urandom(20 * MiB), [MiB] * 20))
    finally:
        s3.upload_part = real
    assert await store.incomplete() == []
    assert await store.list() == []


async def test_a_part_cut_off_mid_body_is_retried_whole(s3_endpoint: str) -> None:
    """A connection dropped while a part's body is on the wire: botocore retries the part, and
    the part's buffer (a BytesIO, sent in slices) is sent again from its start."""
    upstream = urlsplit(s3_endpoint)
    dropped = 0

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        nonlocal dropped
        server_r, server_w = await asyncio.open_connection(upstream.hostname, upstream.port)
        head = await client_r.read(65536)
        server_w.write(head)
        replies = asyncio.create_task(pipe(server_r, client_w))  # "100 Continue" included
        if dropped == 0 and head.startswith(b"PUT") and b"partNumber=2" in head:
            dropped += 1
            sent = 0
            while sent < MiB:  # let a good part of the body through, then cut the connection
                data = await client_r.read(65536)
                if not data:
                    break
                server_w.write(data)
                sent += len(data)
            client_w.transport.abort()
            server_w.transport.abort()
            replies.cancel()
            return
        await asyncio.gather(pipe(client_r, server_w), replies)

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    bucket = f"retry-{secrets.token_hex(4)}"
    url = f"s3://testing:testing@{bucket}/p?endpoint_url=http://127.0.0.1:{port}&region=us-east-1"
    store = S3Store(url, part_size=5 * MiB, concurrency=1)
    try:
        await (await store._s3()).create_bucket(Bucket=bucket)
        data = os.urandom(12 * MiB)
        assert await store.put_stream("obj", _chunks(data, [MiB] * 12)) == len(data)
        assert dropped == 1  # the second part really was cut off once
        assert await store.get_bytes("obj") == data
        assert await _part_sizes(store, "obj") == [5 * MiB, 5 * MiB, 2 * MiB]
    finally:
        await store.aclose()
        proxy.close()
        await proxy.wait_closed()


async def test_unfinished_uploads_are_listed_and_aborted_across_pages(store: S3Store) -> None:
    s3 = await store._s3()
    keys = [f"p/20261206T0{n}0000Z/dump.pgc.zst" for n in range(5)]
    for key in keys:
        await s3.create_multipart_upload(Bucket=store.bucket, Key=key)
    # moto answers in one page whatever MaxUploads says (the markers are followed in
    # tests/unit/backends/test_objectstore.py); a real S3 pages by 1,000
    listed = await store._uploads("", page=2)
    assert sorted(key for key, _ in listed) == keys
    assert sorted(await store.incomplete()) == [k.removeprefix("p/") for k in keys]
    assert await store.abort_incomplete() == 5
    assert await store.incomplete() == []
