"""``file:///path``: a local directory (or a mounted volume) as an object store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from ..._urls import parse_url
from ...errors import BackendUnavailable, ConfigError, ObjectMissing
from .base import ObjectInfo

__all__ = ["FileStore"]

_PARTIAL = ".partial"  # suffix of a file being written; renamed into place when complete


class FileStore:
    """Objects as files under a root directory; a streamed write lands by an atomic rename."""

    def __init__(self, url: str) -> None:
        parsed = parse_url(url, schemes=("file",))
        if parsed.host not in (None, "", "localhost"):
            raise ConfigError("url", f"file:// URL names host {parsed.host!r}; use file:///path")
        if not parsed.path or parsed.path == "/":
            raise ConfigError("url", "file:// URL needs a directory, like file:///var/backups")
        self.root = Path(parsed.path)
        self.url = f"file://{parsed.path}"

    def __repr__(self) -> str:
        return f"FileStore({self.url!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ConfigError("key", f"object key {key!r} leaves the store's directory")
        return path

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        path = self._path(key)
        partial = path.with_name(path.name + _PARTIAL)
        size = 0
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            with open(partial, "wb") as out:  # noqa: ASYNC230  (writes go through to_thread)
                async for chunk in chunks:
                    await asyncio.to_thread(out.write, chunk)
                    size += len(chunk)
                await asyncio.to_thread(os.fsync, out.fileno())
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise BackendUnavailable(f"cannot write {self.url}/{key}: {exc.strerror}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return size

    async def put_bytes(self, key: str, data: bytes) -> None:
        async def one() -> AsyncIterator[bytes]:
            yield data

        await self.put_stream(key, one())

    async def get_stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = open(path, "rb")  # noqa: ASYNC230, SIM115
        except FileNotFoundError:
            raise ObjectMissing(f"{self.url}/{key}") from None
        with handle:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk

    async def get_bytes(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise ObjectMissing(f"{self.url}/{key}") from None

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        def scan() -> list[ObjectInfo]:
            if not self.root.is_dir():
                return []
            out = []
            for path in self.root.rglob("*"):
                key = path.relative_to(self.root).as_posix()
                if path.is_file() and key.startswith(prefix) and not key.endswith(_PARTIAL):
                    stat = path.stat()
                    when = datetime.fromtimestamp(stat.st_mtime, UTC)
                    out.append(ObjectInfo(key, stat.st_size, when))
            return sorted(out, key=lambda info: info.key)

        return await asyncio.to_thread(scan)

    async def delete(self, key: str) -> None:
        def remove() -> None:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # empty folders left by deleted objects go too (a pruned backup leaves nothing)
            root = self.root.resolve()
            parent = path.parent
            while parent != root and parent.is_relative_to(root):
                try:
                    parent.rmdir()
                except OSError:  # not empty (or already gone): stop climbing
                    break
                parent = parent.parent

        await asyncio.to_thread(remove)

    async def abort_incomplete(self, prefix: str = "") -> int:
        def sweep() -> int:
            if not self.root.is_dir():
                return 0
            found = [
                p
                for p in self.root.rglob(f"*{_PARTIAL}")
                if p.relative_to(self.root).as_posix().startswith(prefix)
            ]
            for path in found:
                path.unlink(missing_ok=True)
            return len(found)

        return await asyncio.to_thread(sweep)

    async def aclose(self) -> None:
        return None
