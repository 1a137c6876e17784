"""Backups in one object store: make one (pg_dump streamed to the store), list, restore.

Layout under the store's prefix, one folder per backup id (``20261205T130102Z``)::

    <id>/dump.pgc.zst[.enc]   pg_dump -Fc, zstd-compressed, perhaps AES-256-GCM-sealed
    <id>/manifest.json        written last: a folder without one is an unfinished backup
    <id>/<id>.verify.json     the newest ``verify``'s verdict (:mod:`.verify`), if any

A restore streams the object back through SHA-256, decryption and decompression into
``pg_restore --single-transaction``, holding back the last piece until the whole object's
SHA-256 has matched the manifest: a corrupted or truncated object is refused and pg_restore is
stopped before it can commit, so the target is left as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from ..._urls import redact
from ...backends.objectstore import ObjectStore
from ...errors import BackupCorrupt, BackupError, ObjectMissing
from .archive import ArchiveError
from .crypto import ChunkDecryptor, ChunkEncryptor, key_fingerprint
from .lock import RunLock
from .manifest import COPY_BLAKE2B, SERVER_HASH, SERVER_MD5, Manifest, TableSum
from .progress import human_bytes
from .record import VerifyRecord, record_key
from .space import require_space, store_space, target_space
from .tables import TABLES_SQL, DumpSums, hash_sums, table_sums
from .tools import ClientTool, libpq_target
from .verify import verify_restore

__all__ = ["BackupEntry", "Backups"]

MANIFEST = "manifest.json"
READ_SIZE = 1 << 20
INFLATE_SIZE = 64 << 10  # compressed bytes inflated at once by a restore
Counter = Callable[[int], None]


def _now() -> datetime:
    return datetime.now(UTC)


def _noop(count: int) -> None:
    return None


def _quiet(message: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class BackupEntry:
    """A complete backup as ``list`` shows it."""

    id: str
    manifest: Manifest
    verified: bool | None = None  # the newest verify's verdict; None: never verified
    verified_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "id": self.id,
            "database": m.database,
            "finished_at": m.finished_at,
            "raw_size": m.raw_size,
            "stored_size": m.stored_size,
            "sha256": m.sha256,
            "encrypted": m.encryption is not None,
            "tables": len(m.tables),
            "verified": self.verified,
            "verified_at": self.verified_at.isoformat() if self.verified_at else None,
        }


class Backups:
    """The backups kept in ``store``.

    Args:
        store: where backups go (:func:`~mediz_infra.backends.objectstore.create_object_store`).
        key: 32-byte AES-256-GCM key; ``None`` stores unencrypted backups (and cannot restore
            encrypted ones).
        level: zstd compression level (1-22; 3 is zstd's default, fast and fair).
        clock: returns the current UTC time (injectable for tests).
        checksums: how the manifest's per-table sums are taken, in the dump's snapshot.
            ``"server"`` (default): the server hashes every row's binary values on a second
            connection while pg_dump runs (``hash_record_extended``; PostgreSQL 14+, else
            ``md5`` of each row's text): cheapest overall, one more read of every table.
            ``"stream"``: this process hashes the COPY text in pg_dump's output as it passes, so
            the server reads each table once; costs about 2 µs of this process's CPU a row.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        key: bytes | None = None,
        level: int = 3,
        clock: Callable[[], datetime] = _now,
        checksums: Literal["server", "stream"] = "server",
    ) -> None:
        from ...errors import ConfigError

        if not 1 <= level <= 22:
            raise ConfigError("level", f"zstd level {level} is outside 1-22")
        if checksums not in ("server", "stream"):
            raise ConfigError("checksums", f"must be 'server' or 'stream', got {checksums!r}")
        self.checksums = checksums
        self.store = store
        self._key = key
        self.level = level
        self._clock = clock

    # ---- backup -------------------------------------------------------------------------

    async def run(
        self,
        database_url: str,
        *,
        progress: Counter = _noop,
        pg_dump: ClientTool | None = None,
        notify: Callable[[str], None] = _quiet,
    ) -> Manifest:
        """Dump ``database_url`` into the store; return the manifest (written last).

        Holds the run lock (:class:`~.lock.RunLock`) on the source database throughout, and
        first aborts the unfinished uploads a killed run left in the store (reported through
        ``notify``): with the lock held, no live run of this database can own one.

        Raises:
            BackupError: another run holds the lock (named in the message), or a step failed.
        """
        async with RunLock(database_url):
            orphans = await self.store.abort_incomplete()
            if orphans:
                notify(f"aborted {orphans} unfinished upload(s) left by an interrupted run")
            await self._check_store_space(notify)
            return await self._run(database_url, progress=progress, pg_dump=pg_dump, notify=notify)

    async def _check_store_space(self, notify: Callable[[str], None]) -> None:
        """Refuse a run into a ``file://`` store too full for another backup like the last."""
        space = await store_space(self.store)
        if space.free is None:
            return  # an object store: nothing to check, nothing worth saying
        previous = await self.list()
        if not previous:
            notify(f"free space at {space.where}: {human_bytes(space.free)} (no earlier backup)")
            return
        last = previous[-1].manifest.stored_size
        what = f"a backup like the last ({human_bytes(last)}) + 10 %"
        fix = "free some (backup prune) or choose another destination"
        notify(require_space(space, int(last * 1.1), what, fix))

    async def _run(
        self,
        database_url: str,
        *,
        progress: Counter,
        pg_dump: ClientTool | None,
        notify: Callable[[str], None],
    ) -> Manifest:
        from ...backends import PoolManager

        tool = pg_dump or ClientTool("pg_dump")
        started = self._clock()
        backup_id = started.strftime("%Y%m%dT%H%M%SZ")
        name = "dump.pgc.zst" + (".enc" if self._key else "")
        pool = PoolManager(
            database_url, min_size=1, max_size=2, command_timeout=None, name="backup"
        )
        await pool.start()
        try:
            async with pool.acquire() as conn:
                server_version = str(await conn.fetchval("SHOW server_version"))
                server_major = int(await conn.fetchval("SHOW server_version_num")) // 10000
                dump_version = await tool.require_at_least(server_major, server_version, "dump")
                database = str(await conn.fetchval("SELECT current_database()"))
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    snapshot = str(await conn.fetchval("SELECT pg_export_snapshot()"))
                    names = [tuple(r) for r in await conn.fetch(TABLES_SQL)]
                    session = {
                        "TimeZone": "UTC",  # pg_dump runs with PGTZ=UTC (see _dump)
                        "bytea_output": str(await conn.fetchval("SHOW bytea_output")),
                        "lc_monetary": str(await conn.fetchval("SHOW lc_monetary")),
                    }
                    if self.checksums == "server":
                        method = SERVER_HASH if server_major >= 14 else SERVER_MD5
                        session = {}
                        counted = asyncio.create_task(_snapshot_sums(pool, snapshot, method))
                        try:
                            raw, stored, sha = await self._dump(
                                tool, database_url, snapshot, f"{backup_id}/{name}", progress
                            )
                            tables = await counted
                        finally:
                            if not counted.done():
                                counted.cancel()
                                with contextlib.suppress(BaseException):
                                    await counted
                    else:
                        raw, stored, sha, tables, method, session = await self._dump_summed(
                            tool, database_url, snapshot, f"{backup_id}/{name}", progress,
                            names, session, pool, notify,
                        )  # fmt: skip
        finally:
            await pool.close()
        manifest = Manifest(
            id=backup_id,
            database=database,
            server_version=server_version,
            pg_dump_version=dump_version,
            started_at=started.isoformat(),
            finished_at=self._clock().isoformat(),
            object=name,
            raw_size=raw,
            stored_size=stored,
            sha256=sha,
            compression={"algorithm": "zstd", "level": self.level},
            encryption=(
                {"algorithm": "AES-256-GCM", "chunk": "1 MiB", "key": key_fingerprint(self._key)}
                if self._key
                else None
            ),
            tables=tables,
            checksum_method=method,
            checksum_session=session,
        )
        await self.store.put_bytes(f"{backup_id}/{MANIFEST}", manifest.to_json())
        return manifest

    async def _dump_summed(
        self,
        tool: ClientTool,
        url: str,
        snapshot: str,
        key: str,
        progress: Counter,
        names: list[tuple[Any, ...]],
        session: dict[str, str],
        pool: Any,
        notify: Callable[[str], None],
    ) -> tuple[int, int, str, list[TableSum], str, dict[str, str]]:
        """``checksums="stream"``: the dump, and its tables' sums from its own COPY text."""
        sums = DumpSums()
        raw, stored, sha = await self._dump(tool, url, snapshot, key, progress, sums)
        try:
            return raw, stored, sha, sums.table_sums(names), COPY_BLAKE2B, session
        except ArchiveError as exc:
            # still inside the exported snapshot: the server sums the same data
            notify(
                f"checksums: cannot read pg_dump's archive ({exc}); the server "
                "sums the tables instead (one more read of every row)"
            )
            tables = await _snapshot_sums(pool, snapshot, SERVER_MD5)
            return raw, stored, sha, tables, SERVER_MD5, {}

    async def _dump(
        self,
        tool: ClientTool,
        url: str,
        snapshot: str,
        key: str,
        progress: Counter,
        sums: DumpSums | None = None,
    ) -> tuple[int, int, str]:
        """pg_dump into the store; its output also goes to ``sums`` (read and hashed there)."""
        import zstandard

        target, env = libpq_target(url)
        # timestamptz as a verify's session writes it (the instant restored is the same)
        env["PGTZ"] = "UTC"
        zstd = shutil.which("zstd")
        # With the zstd CLI and nothing to read in pg_dump's output here (server checksums),
        # the kernel moves it from pg_dump's pipe into zstd's (splice, counted) without a copy
        # through this process. `pumped` holds pg_dump's read end until the pump owns it.
        pumped: list[int] = []
        dump_write = -1
        if zstd is not None and sums is None and hasattr(os, "splice"):
            dump_read, dump_write = os.pipe()
            pumped.append(dump_read)
        try:
            proc = await asyncio.create_subprocess_exec(
                tool.path, "-Fc", "-Z0", f"--snapshot={snapshot}", "-d", target,
                stdout=dump_write if pumped else asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env,
            )  # fmt: skip
        except BaseException:
            while pumped:  # pg_dump never started: nobody will read its pipe
                os.close(pumped.pop())
            raise
        finally:
            if dump_write >= 0:  # pg_dump holds its own copy of the write end
                os.close(dump_write)
        assert proc.stderr is not None
        errors = asyncio.create_task(proc.stderr.read())
        sealer = ChunkEncryptor(self._key) if self._key else None
        digest = hashlib.sha256()
        raw = 0
        squeezer: asyncio.subprocess.Process | None = None
        feeder: asyncio.Task[None] | None = None

        def seal(data: bytes, last: bool = False) -> bytes:
            if sealer is None:
                return data
            return sealer.update(data) + (sealer.finish() if last else b"")

        reported = 0

        def report() -> None:
            """Progress is reported from the task that runs the upload (not the feeder)."""
            nonlocal reported
            if raw > reported:
                progress(raw - reported)
                reported = raw

        def counted(chunk: bytes) -> bytes:
            nonlocal raw
            raw += len(chunk)
            return chunk

        def pump() -> None:
            """pg_dump's pipe into zstd's, in the kernel, counted (in a worker thread).

            Claims both ends from ``pumped`` (zstd's input, then pg_dump's output) and closes
            them when done, so zstd sees the end of its input; a run that ended first closed
            whatever was not claimed (each end is taken by exactly one side)."""
            nonlocal raw
            claimed: list[int] = []
            try:
                with contextlib.suppress(IndexError):
                    claimed.append(pumped.pop())
                    claimed.append(pumped.pop())
                if len(claimed) == 2:
                    into, source = claimed
                    while moved := os.splice(source, into, READ_SIZE):
                        raw += moved
            finally:
                for fd in claimed:
                    os.close(fd)

        async def feed(into: asyncio.StreamWriter) -> None:
            """pg_dump's output into the zstd CLI's stdin, counted and summed on the way."""
            while chunk := await proc.stdout.read(READ_SIZE):  # type: ignore[union-attr]
                into.write(counted(chunk))
                if sums is not None:
                    await sums.put(chunk)
                await into.drain()
            into.close()

        async def compressed() -> AsyncIterator[bytes]:
            """zstd frames of pg_dump's output: from the zstd CLI where installed (its own
            process on the other core, about twice zstandard's speed at level 3), else from
            zstandard in this process."""
            nonlocal squeezer, feeder
            if zstd is not None:
                level = ["--ultra"] if self.level > 19 else []
                into_read = -1
                if pumped:
                    into_read, into_write = os.pipe()
                    pumped.append(into_write)
                try:
                    squeezer = await asyncio.create_subprocess_exec(
                        zstd, f"-{self.level}", *level, "-q", "-c",
                        stdin=into_read if pumped else asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                    )  # fmt: skip
                finally:
                    if pumped:
                        os.close(into_read)
                assert squeezer.stdout is not None
                if pumped:
                    feeder = asyncio.ensure_future(asyncio.to_thread(pump))
                else:
                    assert squeezer.stdin is not None
                    feeder = asyncio.create_task(feed(squeezer.stdin))
                while out := await squeezer.stdout.read(READ_SIZE):
                    report()
                    yield out
                await feeder
                report()
                if await squeezer.wait() != 0:
                    raise BackupError(f"{zstd} exited with {squeezer.returncode}")
                return
            compressor = zstandard.ZstdCompressor(level=self.level, write_checksum=True)
            squeeze = compressor.compressobj()
            while chunk := await proc.stdout.read(READ_SIZE):  # type: ignore[union-attr]
                if sums is not None:
                    await sums.put(chunk)
                out = squeeze.compress(counted(chunk))
                report()
                yield out
            yield squeeze.flush()

        async def pieces() -> AsyncIterator[bytes]:
            pending = bytearray()  # output gathered into pieces of about READ_SIZE
            async for out in compressed():
                pending += out
                if len(pending) >= READ_SIZE:
                    sealed = seal(bytes(pending))
                    pending.clear()
                    digest.update(sealed)
                    yield sealed
            code = await proc.wait()
            if code != 0:  # raised inside the upload: it is aborted, nothing is kept
                message = (await errors).decode(errors="replace").strip()
                raise BackupError(f"pg_dump exited with {code}: {redact(message)[-2000:]}")
            sealed = seal(bytes(pending), last=True)
            digest.update(sealed)
            yield sealed

        if sums is not None:
            sums.start()
        try:
            stored = await self.store.put_stream(key, pieces())
            if sums is not None:
                await sums.close()
        finally:
            if sums is not None:
                await sums.cancel()
            if feeder is not None and not feeder.done():
                feeder.cancel()
                with contextlib.suppress(BaseException):
                    await feeder
            if squeezer is not None and squeezer.returncode is None:
                squeezer.kill()
                while await squeezer.stdout.read(READ_SIZE):  # type: ignore[union-attr]
                    pass
                await squeezer.wait()
            if proc.returncode is None:
                proc.kill()
                # read to EOF: a paused pipe never closes, and wait() waits for the pipes
                while proc.stdout is not None and await proc.stdout.read(READ_SIZE):
                    pass
                await proc.wait()
            while pumped:  # what the pump did not claim (it never ran)
                with contextlib.suppress(IndexError):
                    os.close(pumped.pop())
            errors.cancel()
        return raw, stored, digest.hexdigest()

    # ---- list ---------------------------------------------------------------------------

    async def list(self) -> list[BackupEntry]:
        """Complete backups (those with a manifest), oldest first. Unfinished ones are omitted.

        Each entry carries its newest verify's verdict (``verified``, ``verified_at``); an
        unreadable record counts as none.
        """
        found = []
        keys = {info.key for info in await self.store.list()}
        for key in sorted(keys):
            backup_id, _, rest = key.partition("/")
            if rest == MANIFEST:
                entry = BackupEntry(backup_id, await self.manifest(backup_id))
                if record_key(backup_id) in keys:
                    try:
                        record = await self.verify_record(backup_id)
                    except BackupCorrupt:  # an unreadable verdict is no verdict: listed as never
                        record = None
                    if record is not None:
                        entry = replace(entry, verified=record.ok, verified_at=record.verified_at)
                found.append(entry)
        return found

    async def verify_record(self, backup_id: str) -> VerifyRecord | None:
        """The newest verify's record of ``backup_id``, or ``None`` if it was never verified."""
        try:
            return VerifyRecord.from_json(await self.store.get_bytes(record_key(backup_id)))
        except ObjectMissing:
            return None

    # ---- verify -------------------------------------------------------------------------

    async def verify(
        self,
        backup_id: str,
        database_url: str,
        *,
        scratch_url: str | None = None,
        progress: Counter = _noop,
        pg_restore: ClientTool | None = None,
    ) -> VerifyRecord:
        """Restore ``backup_id`` into a scratch database, compare it with the manifest, record it.

        The scratch database gets a unique name on ``database_url``'s server (or on the server
        ``scratch_url`` names) and is dropped on every exit. Returns the stored record; a backup
        that does not restore, or restores different data, gives ``ok=False`` (not an error).

        Raises:
            BackupError: the verify could not be carried out (no such backup, missing or wrong
                key, pg_restore too old, no scratch database); nothing is recorded.
        """
        manifest = await self.manifest(backup_id)
        tool = pg_restore or ClientTool("pg_restore")
        self._check_key(manifest)  # a wrong key says nothing about the backup: not recorded
        found = re.search(r"(\d+)(?:\.\d+)", manifest.pg_dump_version)
        await tool.require_at_least(
            int(found.group(1)) if found else 0, manifest.pg_dump_version, "read a dump of"
        )

        async def restore(target: str) -> None:
            await self.restore(backup_id, target, progress=progress, pg_restore=tool)

        return await verify_restore(
            self.store, manifest, restore, server_url=scratch_url or database_url,
            clock=self._clock,
        )  # fmt: skip

    async def manifest(self, backup_id: str) -> Manifest:
        if not backup_id or "/" in backup_id or backup_id.startswith("."):
            raise BackupError(f"backup: {backup_id!r} is not a backup id (see `backup list`)")
        try:
            data = await self.store.get_bytes(f"{backup_id}/{MANIFEST}")
        except ObjectMissing:
            raise BackupError(
                f"backup {backup_id!r}: no complete backup with that id in {self.store.url} "
                "(an unfinished one has no manifest); see `backup list`"
            ) from None
        return Manifest.from_json(data)

    # ---- restore ------------------------------------------------------------------------

    def _check_key(self, manifest: Manifest) -> None:
        if manifest.encryption is None:
            return
        if self._key is None:
            raise BackupError(
                f"backup {manifest.id} is encrypted: set MEDIZ_BACKUP_KEY to the key it was made "
                f"with (fingerprint {manifest.encryption['key']})"
            )
        if key_fingerprint(self._key) != manifest.encryption["key"]:
            raise BackupCorrupt(
                f"backup {manifest.id}: wrong key (fingerprint {key_fingerprint(self._key)}; the "
                f"backup was made with {manifest.encryption['key']}); nothing was restored"
            )

    async def preflight(
        self,
        manifest: Manifest,
        target_url: str,
        *,
        clean: bool,
        pg_restore: ClientTool,
        notify: Callable[[str], None] = _quiet,
    ) -> None:
        """Checks made before the target is touched: key, versions, an empty target, and the
        target's free space where it can be known (:mod:`.space`; what was seen goes to
        ``notify``)."""
        from ...backends import PoolManager

        self._check_key(manifest)
        found = re.search(r"(\d+)(?:\.\d+)", manifest.pg_dump_version)
        dump_major = int(found.group(1)) if found else 0
        await pg_restore.require_at_least(dump_major, manifest.pg_dump_version, "read a dump of")
        pool = PoolManager(target_url, min_size=1, max_size=1, name="backup-restore")
        await pool.start()
        try:
            async with pool.acquire() as conn:
                tables = await table_sums_count(conn)
                space = await target_space(conn, target_url)
        finally:
            await pool.close()
        if tables and not clean:
            raise BackupError(
                f"restore: the target {redact(target_url)} is not empty ({tables} tables); "
                "restore into an empty database, or pass --clean to drop what the backup holds"
            )
        what = f"backup {manifest.id} ({human_bytes(manifest.raw_size)} of dump, plus indexes)"
        fix = "free space on the server, or restore onto another one; nothing was restored"
        notify(require_space(space, manifest.raw_size, what, fix))

    async def restore(
        self,
        backup_id: str,
        target_url: str,
        *,
        clean: bool = False,
        progress: Counter = _noop,
        pg_restore: ClientTool | None = None,
        notify: Callable[[str], None] = _quiet,
    ) -> Manifest:
        """Restore a backup into ``target_url`` (an existing database)."""
        import zstandard

        manifest = await self.manifest(backup_id)
        tool = pg_restore or ClientTool("pg_restore")
        await self.preflight(manifest, target_url, clean=clean, pg_restore=tool, notify=notify)
        target, env = libpq_target(target_url)
        args = ["--single-transaction", "--exit-on-error", "--no-owner", "-d", target]
        if clean:
            args[:0] = ["--clean", "--if-exists"]
        proc = await asyncio.create_subprocess_exec(
            tool.path, *args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        assert proc.stdin is not None
        assert proc.stderr is not None
        errors = asyncio.create_task(proc.stderr.read())
        digest = hashlib.sha256()
        opener = ChunkDecryptor(self._key) if manifest.encryption and self._key else None
        inflate = zstandard.ZstdDecompressor().decompressobj()
        held = b""  # the last piece, fed only once the whole object's SHA-256 matched
        failure: BaseException | None = None
        stream = self.store.get_stream(f"{backup_id}/{manifest.object}", READ_SIZE)
        try:
            async for chunk in stream:
                digest.update(chunk)
                progress(len(chunk))
                if failure is not None:
                    continue  # keep hashing: a checksum mismatch explains most failures
                try:
                    data = memoryview(opener.update(chunk) if opener else chunk)
                    # a little input at a time: 1 MiB of well-compressed rows inflates to tens
                    # of MiB, and each piece is held in memory until the next one arrives
                    for start in range(0, len(data), INFLATE_SIZE):
                        piece = inflate.decompress(data[start : start + INFLATE_SIZE])
                        if piece:
                            if held:
                                proc.stdin.write(held)
                                await proc.stdin.drain()
                            held = piece
                except (BackupCorrupt, zstandard.ZstdError, ConnectionError) as exc:
                    failure = exc
            if digest.hexdigest() != manifest.sha256:
                raise BackupCorrupt(
                    f"backup {backup_id}: SHA-256 of the stored object does not match the "
                    "manifest (corrupted or altered); the target was not changed"
                )
            if failure is None and opener is not None:
                try:
                    opener.finish()
                except BackupCorrupt as exc:
                    failure = exc
            if failure is not None:
                if isinstance(failure, ConnectionError):
                    raise BackupError(await _restore_error(proc, errors)) from failure
                raise BackupCorrupt(f"backup {backup_id}: {failure}") from failure
            proc.stdin.write(held)
            await proc.stdin.drain()
            proc.stdin.close()
            if await proc.wait() != 0:
                raise BackupError(await _restore_error(proc, errors))
        finally:
            if proc.returncode is None:  # stopped before commit: the transaction rolls back
                proc.kill()
                proc.stdin.close()
                await proc.wait()
            errors.cancel()
        return manifest


async def _snapshot_sums(pool: Any, snapshot: str, method: str) -> list[TableSum]:
    """Table sums (``SERVER_HASH`` or ``SERVER_MD5``) on a second connection that imports the
    dump's snapshot.

    Its own connection: cancelling it (a failed or cancelled run) leaves the exporting
    transaction intact, so that one still ends cleanly.
    """
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        return await (hash_sums(conn) if method == SERVER_HASH else table_sums(conn))


async def table_sums_count(conn: Any) -> int:
    from .tables import TABLES_SQL

    return len(await conn.fetch(TABLES_SQL))


async def _restore_error(proc: asyncio.subprocess.Process, errors: asyncio.Task[bytes]) -> str:
    if proc.returncode is None:
        proc.kill()
    code = await proc.wait()
    message = (await errors).decode(errors="replace").strip()
    return f"pg_restore exited with {code}: {redact(message)[-2000:]}"
