"""Verify: prove a backup restores, and record the verdict next to its manifest.

The backup is restored into a scratch database made for the purpose (a unique name, on the
source's server or the one ``scratch_url`` names), its tables' row counts and content checksums
are compared with the manifest's, and the scratch database is dropped whatever happens (a pass,
a failure, an error, a cancellation). The verdict is stored as ``<id>/<id>.verify.json``::

    {"backup_id": str, "ok": bool, "verified_at": ISO-8601 UTC str, "duration_s": float,
     "mismatches": [str, ...]}

Each verify replaces the record, so the newest one wins. The freshness health check and
``backup list`` read it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..._urls import redact
from ...backends.objectstore import ObjectStore
from ...errors import BackupError
from .manifest import Manifest
from .record import VerifyRecord, record_key
from .tables import compare_sums, sums_like

__all__ = ["scratch_database", "verify_restore"]

def _on_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@asynccontextmanager
async def scratch_database(server_url: str, stem: str) -> AsyncIterator[str]:
    """Create a uniquely named database on ``server_url``'s server; yield its URL; drop it.

    The drop runs on every exit (shielded from cancellation) and forces out any session
    still connected to it.
    """
    from ...backends import PoolManager

    name = f"{re.sub('[^a-z0-9_]', '_', stem.lower())[:40]}_verify_{secrets.token_hex(4)}"
    admin = PoolManager(
        server_url, min_size=1, max_size=1, command_timeout=None, pgbouncer=False,
        name="backup-verify",
    )  # fmt: skip
    await admin.start()
    try:
        try:
            async with admin.acquire() as conn:
                await conn.execute(f'CREATE DATABASE "{name}"')
        except Exception as exc:
            raise BackupError(
                f"verify: cannot create a scratch database on {redact(server_url)}: {exc}; the "
                "role needs CREATEDB there, or pass --scratch with a server where it has it"
            ) from exc
        try:
            yield _on_database(server_url, name)
        finally:
            await asyncio.shield(_drop(admin, name))
    finally:
        await asyncio.shield(admin.close())


async def _drop(admin: Any, name: str) -> None:
    async with admin.acquire() as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _sums_of(url: str, manifest: Manifest) -> list[Any]:
    """The restored tables' sums by the manifest's own method (older manifests: the server's)."""
    from ...backends import PoolManager

    pool = PoolManager(url, min_size=1, max_size=1, command_timeout=None, name="backup-verify")
    await pool.start()
    try:
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await sums_like(conn, manifest)
    finally:
        await pool.close()


async def verify_restore(
    store: ObjectStore,
    manifest: Manifest,
    restore: Callable[[str], Awaitable[object]],
    *,
    server_url: str,
    clock: Callable[[], datetime],
) -> VerifyRecord:
    """Restore (``restore(scratch_url)``) into a scratch database and compare with ``manifest``.

    A restore the backup itself fails (checksum, authentication, pg_restore's error) is a
    failed verify, recorded like a mismatch; an error setting up (no scratch database) is
    raised and records nothing. The record is written before returning.
    """
    started = time.monotonic()
    async with scratch_database(server_url, manifest.database) as scratch:
        try:
            await restore(scratch)
        except BackupError as exc:
            mismatches = [f"restore failed: {exc}"]
        else:
            mismatches = compare_sums(manifest.tables, await _sums_of(scratch, manifest))
    record = VerifyRecord(
        backup_id=manifest.id,
        ok=not mismatches,
        verified_at=clock(),
        duration_s=time.monotonic() - started,
        mismatches=mismatches,
    )
    await store.put_bytes(record_key(manifest.id), record.to_json())
    return record
