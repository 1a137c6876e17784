"""``s3://bucket/prefix``: S3 (or an S3-compatible server) through aiobotocore.

Query options: ``endpoint_url`` (an S3-compatible server; path-style addressing then),
``region``, ``part_size`` (bytes of each multipart part, at least 5 MiB, default 8 MiB) and
``concurrency`` (parts uploaded at once, default 4). Credentials come from the usual AWS chain
(environment, config files, instance role), or from the URL's user and password
(``s3://KEY_ID:SECRET@bucket/prefix``), which are never shown.

A streamed write is a multipart upload: the source is cut into parts as it comes, at most
``concurrency`` parts are in flight and one more is being filled, each part's bytes held once,
so memory stays under ``(concurrency + 1) * part_size`` for objects up to 2,000 parts (16 GB
with the defaults). S3 takes at most 10,000 parts, so past every 2,000th part the part size
doubles (up to S3's 5 GiB a part): the defaults reach about 500 GB, and only objects over 16 GB
pay for it in memory. If the source raises or the write is cancelled, the upload is aborted and
no part stays behind.
"""

from __future__ import annotations

import asyncio
import builtins
import io
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from ..._urls import parse_url, redact
from ...errors import BackendUnavailable, ConfigError, ObjectMissing
from .base import ObjectInfo

__all__ = ["S3Store", "part_size_of"]

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's floor for every part but the last
MAX_PART_SIZE = 5 * 1024**3  # and its ceiling for any part
DEFAULT_PART_SIZE = 8 * 1024 * 1024
PARTS_PER_SIZE = 2_000  # parts of one size before the size doubles (S3 allows 10,000 in all)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _part_size(value: str) -> int:
    size = int(value)
    if size < MIN_PART_SIZE:
        raise ValueError(f"must be at least {MIN_PART_SIZE} bytes (5 MiB), S3's minimum")
    return size


_OPTIONS: Mapping[str, Callable[[str], Any]] = {
    "endpoint_url": str,
    "region": str,
    "part_size": _part_size,
    "concurrency": _positive,
}


def _part_buffer(size: int) -> io.BytesIO:
    """An empty BytesIO whose buffer already holds ``size`` bytes (written into in place)."""
    buffer = io.BytesIO()
    buffer.seek(size - 1)
    buffer.write(b"\0")  # one allocation of the whole part, not one per growth step
    buffer.seek(0)
    return buffer


def part_size_of(number: int, part_size: int) -> int:
    """The size of part ``number`` (from 1): ``part_size``, doubled past every 2,000th part."""
    return min(part_size << ((number - 1) // PARTS_PER_SIZE), MAX_PART_SIZE)


class S3Store:
    """Objects in an S3 bucket under a key prefix."""

    def __init__(
        self,
        url: str,
        *,
        part_size: int | None = None,
        concurrency: int | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        parsed = parse_url(url, schemes=("s3",))
        if not parsed.host:
            raise ConfigError("url", f"{redact(url)!r} names no bucket; use s3://bucket/prefix")
        options: dict[str, Any] = {}
        for name, value in parsed.query.items():
            cast = _OPTIONS.get(name)
            if cast is None:
                known = ", ".join(sorted(_OPTIONS))
                raise ConfigError("url", f"unknown S3 option {name!r}; known: {known}")
            try:
                options[name] = cast(value)
            except ValueError as exc:
                raise ConfigError(name, f"{value!r} {exc}") from None
        self.bucket = parsed.host
        self.prefix = parsed.path.strip("/")
        self.part_size = part_size or options.get("part_size", DEFAULT_PART_SIZE)
        self.concurrency = concurrency or options.get("concurrency", 4)
        if self.part_size < MIN_PART_SIZE:
            raise ConfigError("part_size", f"{self.part_size} is below S3's minimum of 5 MiB")
        self._client_args: dict[str, Any] = dict(client_options or {})
        if "endpoint_url" in options:
            self._client_args["endpoint_url"] = options["endpoint_url"]
        if "region" in options:
            self._client_args["region_name"] = options["region"]
        if parsed.username:
            self._client_args["aws_access_key_id"] = parsed.username
            self._client_args["aws_secret_access_key"] = parsed.password or ""
        self.url = redact(url)
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._opening = asyncio.Lock()

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    async def _s3(self) -> Any:
        async with self._opening:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                config = AioConfig(
                    s3={"addressing_style": "path"} if "endpoint_url" in self._client_args else {},
                    max_pool_connections=self.concurrency + 2,
                    retries={"max_attempts": 5, "mode": "standard"},
                )
                stack = AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client("s3", config=config, **self._client_args)
                )
                self._stack = stack
        return self._client

    def _unavailable(self, exc: Exception, doing: str) -> BackendUnavailable:
        return BackendUnavailable(f"S3 {self.url}: {doing} failed: {type(exc).__name__}: {exc}")

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        s3 = await self._s3()
        full = self._key(key)
        try:
            upload = await s3.create_multipart_upload(Bucket=self.bucket, Key=full)
        except Exception as exc:
            raise self._unavailable(exc, f"starting the upload of {key}") from exc
        upload_id = upload["UploadId"]
        slots = asyncio.Semaphore(self.concurrency)
        tasks: list[asyncio.Task[dict[str, Any]]] = []
        size = 0

        async def send(number: int, body: io.BytesIO) -> dict[str, Any]:
            try:
                reply = await s3.upload_part(
                    Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=body
                )
            finally:
                body.close()  # the part's memory goes back now, whoever still holds the object
                slots.release()
            return {"PartNumber": number, "ETag": reply["ETag"]}

        async def flush(body: io.BytesIO) -> None:
            await slots.acquire()  # bounds memory: at most `concurrency` parts in flight
            for task in tasks:  # surface a failed part early
                if task.done() and task.exception() is not None:
                    slots.release()
                    body.close()
                    await task
            body.seek(0)
            tasks.append(asyncio.create_task(send(len(tasks) + 1, body)))

        try:
            # Each part is filled in a BytesIO of its own, allocated once at its full size, and
            # handed to botocore as it is: a BytesIO is sent in slices and never copied whole,
            # where ``bytes`` would be (botocore wraps them in a BytesIO sharing them, and
            # aiohttp's ``getbuffer()`` on that unshares it: a second copy of every part in
            # flight). Grown chunk by chunk instead, the buffer's reallocations leave the heap
            # fragmented, and the process keeps about twice what is in flight.
            buffer: io.BytesIO | None = None
            limit = 0
            async for chunk in chunks:
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    if buffer is None:
                        limit = part_size_of(len(tasks) + 1, self.part_size)
                        buffer = _part_buffer(limit)
                    room = limit - buffer.tell()
                    buffer.write(view[:room])
                    view = view[room:]
                    if buffer.tell() == limit:  # full: exactly the part size
                        part, buffer = buffer, None
                        await flush(part)
                        del part
                del view
            if buffer is not None:  # the last part: only what was written
                buffer.truncate(buffer.tell())
                await flush(buffer)
                buffer = None
            elif not tasks:  # an empty object is one empty part
                await flush(io.BytesIO())
            parts = await asyncio.gather(*tasks)
            await s3.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException as exc:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # shielded: a cancelled write still aborts its upload, so no part stays behind
            await asyncio.shield(self._abort(full, upload_id))
            if isinstance(exc, Exception) and type(exc).__module__.startswith(("botocore", "aio")):
                raise self._unavailable(exc, f"uploading {key}") from exc
            raise
        return size

    async def _abort(self, full: str, upload_id: str) -> None:
        s3 = await self._s3()
        try:
            await s3.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
        except Exception:  # best effort; abort_incomplete() sweeps what is left
            return

    async def put_bytes(self, key: str, data: bytes) -> None:
        s3 = await self._s3()
        try:
            await s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:
            raise self._unavailable(exc, f"writing {key}") from exc

    async def _get(self, key: str) -> Any:
        s3 = await self._s3()
        try:
            return await s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise ObjectMissing(f"{self.url}/{key}") from None
            raise self._unavailable(exc, f"reading {key}") from exc

    async def get_stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        reply = await self._get(key)
        body = reply["Body"]
        try:
            while chunk := await body.read(chunk_size):
                yield chunk
        finally:
            body.close()

    async def get_bytes(self, key: str) -> bytes:
        reply = await self._get(key)
        body = reply["Body"]
        try:
            data: bytes = await body.read()
        finally:
            body.close()
        return data

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        s3 = await self._s3()
        out: list[ObjectInfo] = []
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            async for page in pages:
                for item in page.get("Contents", []):
                    rel = self._relative(item["Key"])
                    out.append(ObjectInfo(rel, int(item["Size"]), item["LastModified"]))
        except Exception as exc:
            raise self._unavailable(exc, "listing") from exc
        return sorted(out, key=lambda info: info.key)

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        try:
            await s3.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self._unavailable(exc, f"deleting {key}") from exc

    async def _uploads(self, prefix: str, page: int = 1000) -> builtins.list[tuple[str, str]]:
        """(key, upload id) of every unfinished multipart upload under ``prefix``, all pages."""
        s3 = await self._s3()
        found: builtins.list[tuple[str, str]] = []
        markers: dict[str, str] = {}
        try:
            while True:
                reply = await s3.list_multipart_uploads(
                    Bucket=self.bucket, Prefix=self._key(prefix), MaxUploads=page, **markers
                )
                found += [(u["Key"], u["UploadId"]) for u in reply.get("Uploads", [])]
                if not reply.get("IsTruncated"):
                    return found
                markers = {
                    "KeyMarker": reply["NextKeyMarker"],
                    "UploadIdMarker": reply["NextUploadIdMarker"],
                }
        except Exception as exc:
            raise self._unavailable(exc, "listing unfinished uploads") from exc

    async def abort_incomplete(self, prefix: str = "") -> int:
        uploads = await self._uploads(prefix)
        for key, upload_id in uploads:
            await self._abort(key, upload_id)
        return len(uploads)

    async def incomplete(self, prefix: str = "") -> builtins.list[str]:
        """Keys of unfinished multipart uploads under ``prefix`` (neither completed nor aborted)."""
        return [self._relative(key) for key, _ in await self._uploads(prefix)]

    async def aclose(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()
