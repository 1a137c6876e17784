"""An incremental reader of pg_dump's custom archive format (``pg_dump -Fc``), as far as the
backup needs it: which entries hold a table's COPY data, their column lists, and the data.

Written from the format's published facts (PostgreSQL's pg_backup_archiver and
pg_backup_custom). Layout of an archive written to a pipe::

    header   "PGDMP", version (major, minor, revision bytes), int size, offset size, format
             (1 = custom), compression (an int before 1.15, one byte from 1.15 on), the
             creation time (7 ints), database name, server version, pg_dump version (strings)
    TOC      an int count, then per entry: dump id, had-dumper flag, table oid, oid, tag, desc,
             section, definition, drop statement, COPY statement, namespace, tablespace,
             table access method, [relkind, an int, from 1.16], owner, with-oids, dependencies
             (strings up to a NULL one), then the custom format's data offset (flag byte and
             offset-size bytes)
    data     blocks until the end: a type byte (1 = table data, 3 = large objects) and a dump
             id; table data is chunks of an int length and that many bytes, ended by a length
             of 0; large objects are (oid, chunks) pairs ended by an oid of 0

An int is a sign byte and ``int size`` bytes, least significant first; a string is an int length
(-1 for NULL) and that many bytes. Uncompressed (``-Z0``) table data is COPY text: one row a line,
then pg_dump's ``\\.`` terminator and blank lines.

:class:`ArchiveReader` takes the stream in pieces of any size and keeps at most one structural
unit (one TOC entry, one chunk header) plus the unread rest of the current piece; table data is
handed to a sink as it passes. Anything it cannot read (another format, an unknown version,
compressed data, a truncated stream) raises :class:`ArchiveError` naming the cause.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import BackupError

__all__ = [
    "ArchiveError",
    "ArchiveReader",
    "TableData",
    "parse_copy_statement",
    "split_identifiers",
]

MAGIC = b"PGDMP"
FORMAT_CUSTOM = 1
OLDEST = (1, 12)  # PostgreSQL 9.0's pg_dump
NEWEST = (1, 16)  # PostgreSQL 17's pg_dump; a newer minor is refused, not guessed at
BLOCK_DATA = 1
BLOCK_BLOBS = 3
_SIGNED_INTS = {1: "B", 2: "H", 4: "I", 8: "Q"}  # unsigned struct codes (the sign is a byte)
MAX_UNIT = 256 << 20  # the longest string (an object's definition) read as one unit


class ArchiveError(BackupError):
    """The stream is not a custom archive this reader understands; the message says why."""


class _NeedMore(Exception):
    pass


@dataclass(frozen=True, slots=True)
class TableData:
    """A TABLE DATA entry: whose rows it holds and the columns its COPY lists, unquoted."""

    dump_id: int
    schema: str
    name: str
    columns: tuple[str, ...]


# a sink gets (entry, data) for each piece of a table's COPY text and (entry, None) at its end
Sink = Callable[[TableData, bytes | None], None]


def split_identifiers(text: str) -> list[str]:
    """``a, "B c", d`` or ``s."t"`` into unquoted names (separators: comma, dot, spaces)."""
    names: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " ,.\n":
            i += 1
        elif ch == '"':
            j, part = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise ArchiveError(f"unterminated quoted identifier in {text!r}")
                part.append(text[j:k])
                if text.startswith('"', k + 1):
                    part.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            names.append("".join(part))
        else:
            j = i
            while j < n and text[j] not in ' ,.\n"':
                j += 1
            names.append(text[i:j])
            i = j
    return names


def parse_copy_statement(statement: str) -> tuple[str, ...]:
    """The column names of pg_dump's ``COPY schema.table (a, b) FROM stdin;``."""
    body = statement.strip()
    if not body.startswith("COPY ") or not body.endswith(" FROM stdin;"):
        raise ArchiveError(f"unexpected COPY statement {statement[:200]!r}")
    body = body[5 : -len(" FROM stdin;")]
    # the qualified name comes first; the column list, if any, is the trailing parenthesis
    quoted = False
    for i, ch in enumerate(body):
        if ch == '"':
            quoted = not quoted
        elif ch == "(" and not quoted:
            inner = body[i:].strip()
            if not inner.endswith(")"):
                raise ArchiveError(f"unexpected COPY column list {statement[:200]!r}")
            return tuple(split_identifiers(inner[1:-1]))
    return ()


class ArchiveReader:
    """Feed it the archive in pieces (:meth:`feed`), then :meth:`close` it at the end.

    Args:
        sink: called with each table's COPY text as it passes, and once with ``None`` after
            a table's last piece.
    """

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._buf = b""
        self._pos = 0
        self.version: tuple[int, int, int] | None = None
        self.encoding: str | None = None
        self.tables: dict[int, TableData] = {}
        self._int_size = 4
        self._off_size = 8
        self._toc_left: int | None = None
        self._state = "header"
        self._current: TableData | None = None  # the table whose data block is being read
        self._blob_oid_next = False
        self._head: Callable[[bytes, int], tuple[int, int]] = self._slow_head
        self._chunk_left = 0  # bytes of the current chunk not yet passed on
        self._pieces: list[bytes] = []  # the current table's data since the last flush
        self.seen: set[int] = set()

    # ---- primitives (raise _NeedMore when the buffer ends first) ------------------------

    def _take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._buf):
            raise _NeedMore
        out = self._buf[self._pos : end]
        self._pos = end
        return out

    def _int(self) -> int:
        raw = self._take(1 + self._int_size)
        value = int.from_bytes(raw[1:], "little")
        return -value if raw[0] else value

    def _slow_head(self, buf: bytes, pos: int) -> tuple[int, int]:
        return buf[pos], int.from_bytes(buf[pos + 1 : pos + 1 + self._int_size], "little")

    def _str(self) -> str | None:
        length = self._int()
        if length < 0:
            return None
        if length > MAX_UNIT:
            raise ArchiveError(f"a string of {length} bytes is beyond this reader's limit")
        return self._take(length).decode("utf-8", errors="replace")

    # ---- feeding ------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Read the next piece of the archive (any size, any boundary)."""
        self._buf = self._buf[self._pos :] + data if self._pos < len(self._buf) else data
        self._pos = 0
        while self._pos < len(self._buf) and self._step():
            pass
        self._flush()
        self._buf = self._buf[self._pos :]
        self._pos = 0
        if len(self._buf) > MAX_UNIT + 64:
            raise ArchiveError("a unit of the archive is beyond this reader's limit")

    def close(self) -> None:
        """The stream ended: it must end between two blocks, after every table's data."""
        if self._state != "block" or self._pos < len(self._buf):
            raise ArchiveError(f"the archive ends early (while reading its {self._state})")
        missing = sorted(set(self.tables) - self.seen)
        if missing:
            names = ", ".join(f"{self.tables[i].schema}.{self.tables[i].name}" for i in missing)
            raise ArchiveError(f"no data block for {len(missing)} table(s): {names[:500]}")

    # ---- the state machine --------------------------------------------------------------

    def _step(self) -> bool:
        """Read one unit; ``False`` when the buffer ends first (nothing half-read is kept,
        except the part of a chunk already passed on)."""
        state = self._state
        if state == "chunks":
            return self._chunks()
        if state == "blobs" and not self._blob_oid_next:
            return self._chunks()
        mark = self._pos
        try:
            if state == "block":
                self._block()
            elif state == "toc":
                self._entry()
            elif state == "blobs":
                if self._int() == 0:
                    self._state = "block"
                else:
                    self._blob_oid_next = False
            else:
                self._header()
        except _NeedMore:
            self._pos = mark
            return False
        return True

    def _header(self) -> None:
        if self._take(5) != MAGIC:
            raise ArchiveError("not a pg_dump custom archive (no PGDMP signature)")
        major, minor, rev = self._take(3)
        if (major, minor) < OLDEST or (major, minor) > NEWEST:
            raise ArchiveError(
                f"archive version {major}.{minor}.{rev} is not one this reader knows "
                f"({OLDEST[0]}.{OLDEST[1]} to {NEWEST[0]}.{NEWEST[1]})"
            )
        int_size, off_size, fmt = self._take(3)
        if not 1 <= int_size <= 8 or not 1 <= off_size <= 16:
            raise ArchiveError(f"implausible integer sizes {int_size}/{off_size}")
        self._int_size, self._off_size = int_size, off_size
        if int_size in _SIGNED_INTS:  # a chunk's length read in one call (almost always 4)
            self._head = struct.Struct(f"<B{_SIGNED_INTS[int_size]}").unpack_from
        if fmt != FORMAT_CUSTOM:
            raise ArchiveError(f"archive format {fmt} is not the custom format (1)")
        # the compression: one byte (its algorithm) from 1.15, before that an int (its level)
        compressed = self._take(1)[0] if (major, minor) >= (1, 15) else self._int()
        if compressed:
            raise ArchiveError("the archive's data is compressed (pg_dump ran without -Z0)")
        for _ in range(7):  # creation time
            self._int()
        for _ in range(3):  # database name, server version, pg_dump version
            self._str()
        count = self._int()
        self.version = (major, minor, rev)
        self._toc_left = count
        self._state = "toc" if count else "block"

    def _entry(self) -> None:
        assert self.version is not None
        dump_id = self._int()
        self._int()  # had dumper
        self._str()  # table oid
        self._str()  # oid
        tag = self._str()
        desc = self._str()
        self._int()  # section
        defn = self._str()
        self._str()  # drop statement
        copy = self._str()
        namespace = self._str()
        self._str()  # tablespace
        self._str()  # table access method
        if self.version[:2] >= (1, 16):
            self._int()  # relkind
        self._str()  # owner
        self._str()  # with oids
        while self._str() is not None:  # dependencies
            pass
        self._take(1 + self._off_size)  # the custom format's data offset
        if desc == "TABLE DATA":
            if not copy or tag is None or namespace is None:
                raise ArchiveError(f"TABLE DATA entry {dump_id} has no COPY statement")
            self.tables[dump_id] = TableData(dump_id, namespace, tag, parse_copy_statement(copy))
        elif desc == "ENCODING" and defn:
            self.encoding = defn.split("'")[1] if defn.count("'") >= 2 else None
        assert self._toc_left is not None
        self._toc_left -= 1
        if self._toc_left == 0:
            self._state = "block"

    def _block(self) -> None:
        kind = self._take(1)[0]
        dump_id = self._int()
        if kind == BLOCK_DATA:
            self._current = self.tables.get(dump_id)
            if self._current is not None:
                self.seen.add(dump_id)
            self._state = "chunks"
        elif kind == BLOCK_BLOBS:
            self._current = None
            self._blob_oid_next = True
            self._state = "blobs"
        else:
            raise ArchiveError(f"unknown data block type {kind} (dump id {dump_id})")

    def _chunks(self) -> bool:
        """Chunks of the current block, as many as the buffer holds, in one tight loop."""
        buf, pos, end = self._buf, self._pos, len(self._buf)
        size = self._int_size
        keep = self._current is not None
        pieces = self._pieces
        if self._chunk_left:  # the rest of a chunk the previous piece cut
            n = min(self._chunk_left, end - pos)
            if keep:
                pieces.append(buf[pos : pos + n])
            self._chunk_left -= n
            pos += n
            if self._chunk_left:
                self._pos = pos
                return False
        head = self._head
        while True:
            if pos + 1 + size > end:
                self._pos = pos
                return False
            sign, length = head(buf, pos)
            if sign:
                raise ArchiveError(f"negative chunk length ({-length}) in a data block")
            pos += 1 + size
            if length == 0:
                self._pos = pos
                self._end_block()
                return True
            n = min(length, end - pos)
            if keep:
                pieces.append(buf[pos : pos + n])
            pos += n
            if n < length:
                self._chunk_left = length - n
                self._pos = pos
                return False

    def _end_block(self) -> None:
        if self._state == "blobs":
            self._blob_oid_next = True
            return
        if self._current is not None:
            self._flush()
            self._sink(self._current, None)
        self._current = None
        self._state = "block"

    def _flush(self) -> None:
        if self._pieces and self._current is not None:
            data = b"".join(self._pieces)
            self._pieces.clear()
            self._sink(self._current, data)
