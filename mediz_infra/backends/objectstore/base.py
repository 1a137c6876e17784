"""The object store contract: what a backup destination must do, whatever its URL scheme."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["ObjectInfo", "ObjectStore"]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object: its key (relative to the store's prefix), size and last change."""

    key: str
    size: int
    modified: datetime


@runtime_checkable
class ObjectStore(Protocol):
    """A bucket (or directory) of named byte streams under one prefix.

    Keys are relative to the store's prefix and use ``/`` as separator. A streamed write is
    all-or-nothing: if the source raises or the call is cancelled, nothing is left under the
    key (an S3 multipart upload is aborted; a partial file is removed).
    """

    url: str  # redacted: safe to show

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Store everything ``chunks`` yields under ``key``; return the number of bytes stored."""
        ...

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small object in one request."""
        ...

    def get_stream(self, key: str, chunk_size: int = ...) -> AsyncIterator[bytes]:
        """Yield the object's bytes in chunks of about ``chunk_size``."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """Read a small object whole; :class:`ObjectMissing` if there is none."""
        ...

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every complete object whose key starts with ``prefix``, sorted by key."""
        ...

    async def delete(self, key: str) -> None:
        """Remove an object; no error if it is already gone."""
        ...

    async def abort_incomplete(self, prefix: str = "") -> int:
        """Discard unfinished streamed writes under ``prefix`` (left by a killed process)."""
        ...

    async def aclose(self) -> None:
        """Release the client's connections."""
        ...
