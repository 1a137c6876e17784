"""Free space, checked before a run or a restore writes anything, where it can be known.

What can be known, and what is compared:

- a ``file://`` destination (``backup run``): the free space of its filesystem
  (``shutil.disk_usage`` of the directory, or of its nearest existing parent) against the last
  backup's stored size plus 10 % (the best estimate of the next one). No earlier backup, or an
  ``s3://`` destination (no quota to ask): unknown, the run goes ahead.
- a restore target on this machine (``localhost``, a loopback address or a Unix socket): the
  free space of the server's data directory (``SHOW data_directory``, readable by superusers
  and ``pg_read_all_settings``) against the dump's raw size, a lower bound of what the restored
  database takes (its indexes come on top). A remote server, or a directory that cannot be read
  from here: unknown, said so, the restore goes ahead.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..._urls import redact
from ...backends.objectstore import FileStore, ObjectStore
from ...errors import BackupError
from .progress import human_bytes

__all__ = ["Space", "is_local", "require_space", "store_space", "target_space"]

_LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Space:
    """Free bytes at ``where``, or ``free=None`` and ``why`` it is unknown."""

    where: str
    free: int | None
    why: str = ""


def _disk_free(path: Path) -> int:
    while not path.exists() and path != path.parent:
        path = path.parent  # the directory is made on first write: measure where it will be
    return shutil.disk_usage(path).free


async def store_space(store: ObjectStore) -> Space:
    """The destination's free space: known for ``file://`` only."""
    if not isinstance(store, FileStore):
        return Space(store.url, None, "an object store reports no free space")
    try:
        return Space(store.url, await asyncio.to_thread(_disk_free, store.root))
    except OSError as exc:
        return Space(store.url, None, f"cannot read it: {exc.strerror}")


def is_local(url: str) -> bool:
    """Whether a ``postgresql://`` URL names a server on this machine."""
    parts = urlsplit(url)
    hosts = parse_qs(parts.query).get("host", [])
    if hosts:
        return all(h.startswith("/") or h in _LOCAL_HOSTS for h in hosts)
    return (parts.hostname or "") in _LOCAL_HOSTS


async def target_space(conn: Any, url: str) -> Space:
    """The free space of the data directory of the server ``conn`` is connected to."""
    where = f"the data directory of {redact(url)}"
    if not is_local(url):
        return Space(where, None, "the server is not on this machine")
    try:
        directory = str(await conn.fetchval("SHOW data_directory"))
    except Exception:  # insufficient privilege: only superusers and pg_read_all_settings
        return Space(where, None, "data_directory is not readable by this role")
    try:
        return Space(f"{where} ({directory})", await asyncio.to_thread(_disk_free, Path(directory)))
    except OSError as exc:
        return Space(where, None, f"{directory} cannot be read from here: {exc.strerror}")


def require_space(space: Space, need: int, what: str, fix: str) -> str:
    """Raise if ``space`` is known to be short of ``need`` bytes; else a line saying what was seen.

    Raises:
        BackupError: the free space is known and smaller than ``need``.
    """
    if space.free is None:
        return f"free space at {space.where}: unknown ({space.why})"
    if space.free < need:
        raise BackupError(
            f"not enough free space at {space.where}: {human_bytes(space.free)} free, "
            f"{what} needs about {human_bytes(need)}; {fix}"
        )
    return f"free space at {space.where}: {human_bytes(space.free)} (need ~{human_bytes(need)})"
