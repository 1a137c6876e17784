"""Per-table row counts and content checksums: three methods, named in the manifest.

Each way a table's checksum is a sum over its rows of a 64-bit hash of the row: independent
of row order (a restore need not keep it), sensitive to any changed, missing or duplicated row.

``SERVER_HASH`` (the default, PostgreSQL 14 and later): the server sums
``hash_record_extended(row, 0)`` over each table in the dump's snapshot, on a second connection
while pg_dump runs (:func:`hash_sums`). It hashes each column's binary value with the type's own
hash function (the one hash partitioning uses, stable across releases), so no row is turned into
text: about a tenth of ``SERVER_MD5``'s server CPU. A table with a column type that has no hash
function (``json``, ``point``, ``xml`` ...) is summed the ``SERVER_MD5`` way instead; the rule
depends on the schema alone, so a verify takes the same way for the same table.

``COPY_BLAKE2B`` (backups from 0.x on, see CHANGELOG): the rows are the lines of the COPY text
pg_dump writes into the archive, hashed as they pass through the backup (:class:`DumpSums`,
fed by :class:`~.archive.ArchiveReader`); the hash is BLAKE2b with an 8-byte digest, read as a
little-endian integer. A verify reads the restored table back with ``COPY (the dump's columns)
TO STDOUT`` in pg_dump's session settings (:data:`PG_DUMP_SESSION` plus those the manifest
records), so each row's text is byte for byte what pg_dump wrote (:func:`copy_sums`).

``SERVER_MD5`` (older manifests, and the fallback when the archive cannot be read): the server
sums the first 64 bits of ``md5(row::text)`` over each table, in the dump's snapshot
(:func:`table_sums`): one more read of every row.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Iterable
from functools import partial
from hashlib import blake2b
from typing import Any

from .archive import ArchiveError, ArchiveReader, TableData
from .manifest import COPY_BLAKE2B, SERVER_HASH, SERVER_MD5, Manifest, TableSum

__all__ = [
    "COPY_BLAKE2B",
    "PG_DUMP_SESSION",
    "SERVER_HASH",
    "SERVER_MD5",
    "TABLES_SQL",
    "DumpSums",
    "RowSum",
    "checksum_sql",
    "compare_sums",
    "copy_sums",
    "hash_sums",
    "sums_like",
    "table_sums",
]

# what pg_dump sets on its own session before reading data (its setup_connection), where it
# changes how a value is written as text; the rest (time zone, bytea_output, lc_monetary,
# client_encoding) is recorded per backup in the manifest's checksum_session
PG_DUMP_SESSION = {
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "search_path": "",
    "row_security": "off",
}
UNDEFINED_FUNCTION = "42883"  # SQLSTATE: "could not identify an extended hash function"
# SERVER_HASH's md5 fallback: the settings a row's text depends on, the same on both sides
TEXT_SESSION = {
    "TimeZone": "UTC",
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
    "lc_monetary": "C",
}
FLUSH = 1 << 20  # COPY text gathered before it is hashed in a worker thread
QUEUE = 8  # pieces of pg_dump output waiting for the hashing thread (about 1 MiB each)
LONG_ROW = 1 << 20  # a partial row longer than this is hashed incrementally, not held

TABLES_SQL = """
SELECT format('%I.%I', n.nspname, c.relname), n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1
"""


def checksum_sql(table: str) -> str:
    """The query for one table (``table`` already quoted by ``format('%I.%I')``)."""
    return (
        "SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint"
        f"::numeric), 0)::text FROM {table} AS t"
    )


async def table_sums(conn: Any) -> list[TableSum]:
    """Count and checksum every user table over ``conn`` (inside its current transaction)."""
    out = []
    for record in await conn.fetch(TABLES_SQL):
        table = record[0]
        rows, checksum = await conn.fetchrow(checksum_sql(table))
        out.append(TableSum(table, int(rows), str(checksum)))
    return out


def hash_sql(table: str) -> str:
    """The ``SERVER_HASH`` query for one table (``table`` quoted by ``format('%I.%I')``)."""
    return (
        "SELECT count(*), coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text "
        f"FROM {table} AS t"
    )


async def hash_sums(conn: Any) -> list[TableSum]:
    """``SERVER_HASH`` sums of every user table over ``conn`` (inside its transaction)."""
    # The md5 fallback hashes each row's text, which the session's settings shape: fixed here
    # (for this transaction only), so a verify's session writes the same text as the backup's.
    await conn.execute(
        "SELECT " + ", ".join(f"set_config('{k}', '{v}', true)" for k, v in TEXT_SESSION.items())
    )
    out = []
    for record in await conn.fetch(TABLES_SQL):
        table = record[0]
        try:
            async with conn.transaction():  # a savepoint: a refusal leaves the snapshot usable
                rows, checksum = await conn.fetchrow(hash_sql(table))
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != UNDEFINED_FUNCTION:
                raise
            # a column type without a hash function: the table is summed by its rows' text
            rows, checksum = await conn.fetchrow(checksum_sql(table))
        out.append(TableSum(table, int(rows), str(checksum)))
    return out


def compare_sums(expected: list[TableSum], actual: list[TableSum]) -> list[str]:
    """Each difference as one line; empty when the two sets of tables hold the same data."""
    want = {t.table: t for t in expected}
    have = {t.table: t for t in actual}
    problems = [f"{name}: missing after restore" for name in sorted(want.keys() - have.keys())]
    problems += [f"{name}: not in the backup" for name in sorted(have.keys() - want.keys())]
    for name in sorted(want.keys() & have.keys()):
        a, b = want[name], have[name]
        if (a.rows, a.checksum) != (b.rows, b.checksum):
            problems.append(f"{name}: {a.rows} rows expected, {b.rows} found; checksum differs")
    return problems


# ---- from pg_dump's COPY text ---------------------------------------------------------------


_blake2b64 = partial(blake2b, digest_size=8)


def _hash_sum(lines: list[bytes]) -> int:
    """The sum of the lines' hashes: digests joined, then read as integers in one call (about
    13 % less CPU than converting each digest on its own)."""
    digests = b"".join(map(blake2b.digest, map(_blake2b64, lines)))
    return sum(struct.unpack(f"<{len(lines)}Q", digests))


class RowSum:
    """Count and checksum one table's COPY text, given in pieces cut anywhere.

    pg_dump's ``\\.`` end line (and the blank lines after it) is not a row; a data row can
    never be that line, since COPY writes a backslash in a value as two.
    """

    __slots__ = ("_ended", "_head", "_long", "rows", "total")

    def __init__(self) -> None:
        self.rows = 0
        self.total = 0
        self._head = b""  # the start of a row whose newline has not come yet
        self._long: Any = None  # a blake2b object instead of _head for a very long row
        self._ended = False

    def update(self, data: bytes) -> None:
        if self._ended:
            if data.strip(b"\n"):
                raise ArchiveError("COPY text continues after its end line")
            return
        lines = data.split(b"\n")
        tail = lines.pop()
        if lines:
            if self._long is not None:
                self._long.update(lines[0])
                self.rows += 1
                self.total += int.from_bytes(self._long.digest(), "little")
                self._long = None
                del lines[0]
            elif self._head:
                lines[0] = self._head + lines[0]
                self._head = b""
            if b"\\." in lines:
                end = lines.index(b"\\.")
                if any(lines[end + 1 :]) or tail:
                    raise ArchiveError("COPY text continues after its end line")
                del lines[end:]
                self._ended = True
            self.rows += len(lines)
            self.total += _hash_sum(lines)
        if not tail:
            return
        if self._long is not None:
            self._long.update(tail)
        elif len(self._head) + len(tail) > LONG_ROW:
            self._long = blake2b(self._head, digest_size=8)
            self._long.update(tail)
            self._head = b""
        else:
            self._head += tail

    def finish(self) -> tuple[int, str]:
        """``(rows, checksum)``; refuses a last row without its newline."""
        if self._head or self._long is not None:
            raise ArchiveError("COPY text ends inside a row")
        return self.rows, str(self.total)


class DumpSums:
    """Row counts and checksums of every table in a pg_dump custom archive, taken from the
    archive's bytes as the backup passes them on (:meth:`put`), read and hashed in a worker
    thread so the event loop stays free. Call :meth:`start` first and :meth:`close` after the
    last piece; :attr:`error` then holds why the archive could not be read, if it could not
    (the backup falls back to the server's sums).
    """

    def __init__(self) -> None:
        self.reader = ArchiveReader(self._sink)
        self.error: ArchiveError | None = None
        self._sums: dict[int, tuple[int, str]] = {}
        self._open: dict[int, RowSum] = {}
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE)
        self._task: asyncio.Task[None] | None = None

    def _sink(self, table: TableData, data: bytes | None) -> None:
        rows = self._open.setdefault(table.dump_id, RowSum())
        if data is not None:
            rows.update(data)
        else:
            self._sums[table.dump_id] = rows.finish()
            del self._open[table.dump_id]

    def start(self) -> None:
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        while (chunk := await self._queue.get()) is not None:
            if self.error is None:
                try:
                    await asyncio.to_thread(self.reader.feed, chunk)
                except ArchiveError as exc:
                    self.error = exc
                except Exception as exc:  # a reader bug must not fail the backup: fall back
                    self.error = ArchiveError(f"reading the archive failed: {exc!r}")
                encoding = self.reader.encoding
                if self.error is None and encoding is not None and encoding != "UTF8":
                    # a verify reads COPY text over asyncpg, which speaks UTF-8 only
                    self.error = ArchiveError(f"the dump's encoding is {encoding}, not UTF8")

    async def put(self, chunk: bytes) -> None:
        """The next piece of pg_dump's output (waits while the hashing thread is behind)."""
        if self.error is None and self._task is not None and not self._task.done():
            await self._queue.put(chunk)

    async def close(self) -> None:
        """The archive ended: finish reading it."""
        assert self._task is not None
        await self._queue.put(None)
        await self._task
        if self.error is None:
            try:
                self.reader.close()
            except ArchiveError as exc:
                self.error = exc

    async def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def table_sums(self, names: Iterable[tuple[str, str, str]]) -> list[TableSum]:
        """The sums keyed as the server names its tables.

        ``names``: (``format('%I.%I')``, schema, name) of every user table in the snapshot
        (:data:`TABLES_SQL`). A table the archive holds no rows of counts 0 rows.

        Raises:
            ArchiveError: the archive could not be read, or holds a table the snapshot has not.
        """
        if self.error is not None:
            raise self.error
        quoted = {(schema, name): key for key, schema, name in names}
        out = {key: TableSum(key, 0, "0", []) for key in quoted.values()}
        for dump_id, (rows, checksum) in self._sums.items():
            entry = self.reader.tables[dump_id]
            key = quoted.get((entry.schema, entry.name))
            if key is None:
                raise ArchiveError(f"the archive holds {entry.schema}.{entry.name}, not a table")
            out[key] = TableSum(key, rows, checksum, list(entry.columns))
        return [out[key] for key in sorted(out)]


async def copy_sums(conn: Any, expected: list[TableSum], session: dict[str, str]) -> list[TableSum]:
    """:data:`COPY_BLAKE2B` sums of every user table over ``conn`` (inside its transaction),
    reading each with ``COPY (the columns the manifest lists) TO STDOUT``.

    A table the manifest does not list is reported with no sum (it fails the comparison as
    "not in the backup" whatever it holds).
    """
    for name, value in {**PG_DUMP_SESSION, **session}.items():
        await conn.execute("SELECT pg_catalog.set_config($1, $2, false)", name, value)
    want = {t.table: t for t in expected}
    out = []
    for record in await conn.fetch(TABLES_SQL):
        table = record[0]
        known = want.get(table)
        if known is None:
            out.append(TableSum(table, 0, "0"))
            continue
        count, checksum = await _copy_sum(conn, record[1], record[2], known.columns or [])
        out.append(TableSum(table, count, checksum, known.columns))
    return out


async def _copy_sum(conn: Any, schema: str, name: str, columns: list[str]) -> tuple[int, str]:
    """One table's rows through ``COPY ... TO STDOUT``, hashed a MiB at a time in a thread."""
    rows = RowSum()
    pending: list[bytes] = []
    size = 0

    async def sink(data: bytes) -> None:
        nonlocal size
        pending.append(bytes(data))
        size += len(data)
        if size >= FLUSH:
            await asyncio.to_thread(rows.update, b"".join(pending))
            pending.clear()
            size = 0

    await conn.copy_from_table(name, schema_name=schema, columns=columns, output=sink)
    rows.update(b"".join(pending))
    return rows.finish()


async def sums_like(conn: Any, manifest: Manifest) -> list[TableSum]:
    """Every user table's sums over ``conn`` (inside its transaction) by ``manifest``'s own
    checksum method, ready for :func:`compare_sums` against it."""
    method = manifest.checksum_method
    if method == COPY_BLAKE2B:
        return await copy_sums(conn, manifest.tables, manifest.checksum_session)
    if method == SERVER_HASH:
        return await hash_sums(conn)
    if method == SERVER_MD5:
        return await table_sums(conn)
    raise ArchiveError(f"unknown checksum method {method!r} (written by a newer mediz-infra?)")
