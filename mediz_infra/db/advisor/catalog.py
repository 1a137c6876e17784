"""What the database already has: tables, their indexes and foreign keys, and how they are used.

The loaders (``load_*``) are single catalog queries; the judgements (:func:`duplicate_indexes`,
:func:`unindexed_foreign_keys`, :func:`covered`) are pure functions over what they return, so
they are unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .names import qualified, quote_ident

__all__ = [
    "Connection",
    "DuplicateIndex",
    "ForeignKey",
    "IndexInfo",
    "TableStats",
    "UnindexedForeignKey",
    "UnusedIndex",
    "covered",
    "duplicate_indexes",
    "load_foreign_keys",
    "load_indexes",
    "load_tables",
    "load_unused_indexes",
    "unindexed_foreign_keys",
]


class Connection(Protocol):
    """The part of a pooled asyncpg connection the advisor uses."""

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]: ...

    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any: ...

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...


@dataclass(frozen=True)
class TableStats:
    """A table's size and how it is read and written (``pg_stat_user_tables``).

    Attributes:
        schema: the table's schema.
        table: the table's name.
        rows: the planner's row estimate (``reltuples``), or the live rows the statistics
            count when that is larger (a table loaded and not yet analysed).
        analysed: the table has been analysed (by ANALYZE or autovacuum) at least once.
        rows_read: rows read by sequential and index scans since the statistics were reset.
        writes: rows inserted, updated and deleted since then.
        hot_updates: updates that were HOT (no index entry written).
    """

    schema: str
    table: str
    rows: float
    rows_read: int = 0
    writes: int = 0
    hot_updates: int = 0
    analysed: bool = True

    @property
    def write_share(self) -> float:
        """Rows written as a share of rows written and read: 0 for a read-only table, near 1
        for a log that is appended to and seldom read."""
        total = self.writes + self.rows_read
        return self.writes / total if total else 0.0


@dataclass(frozen=True)
class IndexInfo:
    """One index, as much as the judgements need.

    Attributes:
        schema: the table's schema.
        table: the table's name.
        name: the index's name.
        columns: its key columns in order; an expression key is shown as ``(expression)``.
        definition: ``pg_get_indexdef`` (the whole ``CREATE INDEX``).
        method: ``btree``, ``hash``, ``gin`` ...
        unique: it is unique (or the primary key): it enforces something, so it is never
            reported as droppable.
        predicate: a partial index's ``WHERE``, ``None`` otherwise.
        key: the key's exact identity (columns, operator classes, options, expressions):
            two indexes with equal ``key``, method and predicate are duplicates.
        size: bytes on disk.
    """

    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    definition: str
    method: str = "btree"
    unique: bool = False
    predicate: str | None = None
    key: tuple[str, ...] = ()
    size: int = 0


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key: ``table (columns) REFERENCES referenced``."""

    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    referenced: str


@dataclass(frozen=True)
class UnusedIndex:
    """An index no scan has read since the statistics were reset.

    Attributes:
        index: the index.
        since: when the statistics were last reset (ISO 8601), ``None`` if never (since the
            database was created or the server's statistics were lost in a crash).
    """

    index: IndexInfo
    since: str | None


@dataclass(frozen=True)
class DuplicateIndex:
    """An index another one makes unnecessary.

    Attributes:
        index: the one to consider dropping.
        kept: the one that serves the same queries.
        reason: ``"duplicate"`` (the same key) or ``"prefix"`` (its columns begin the other's).
    """

    index: IndexInfo
    kept: IndexInfo
    reason: str


@dataclass(frozen=True)
class UnindexedForeignKey:
    """A foreign key no index leads with: joins on it and deletes of the referenced rows scan
    the table. ``rows`` is the table's size, ``suggestion`` a ``CREATE INDEX`` for it."""

    foreign_key: ForeignKey
    rows: float
    suggestion: str


def covered(columns: Sequence[str], indexes: Sequence[IndexInfo], *, ordered: bool) -> bool:
    """Whether an index without a predicate leads with ``columns``.

    ``ordered=False`` accepts the leading columns in any order (enough for a foreign key's
    equality lookups); ``ordered=True`` wants them in this order (an index suggestion).
    """
    wanted = list(columns)
    for index in indexes:
        if index.predicate is not None or index.method != "btree":
            continue
        lead = list(index.columns[: len(wanted)])
        if (lead == wanted) if ordered else (sorted(lead) == sorted(wanted)):
            return True
    return False


def unindexed_foreign_keys(
    keys: Sequence[ForeignKey],
    indexes: Sequence[IndexInfo],
    tables: dict[tuple[str, str], TableStats],
) -> list[UnindexedForeignKey]:
    """The foreign keys that no index leads with, largest table first."""
    found: list[UnindexedForeignKey] = []
    for key in keys:
        on_table = [i for i in indexes if (i.schema, i.table) == (key.schema, key.table)]
        if covered(key.columns, on_table, ordered=False):
            continue
        stats = tables.get((key.schema, key.table))
        columns = ", ".join(quote_ident(c) for c in key.columns)
        found.append(
            UnindexedForeignKey(
                key,
                stats.rows if stats else -1.0,
                f"CREATE INDEX CONCURRENTLY ON {qualified(key.schema, key.table)} ({columns});",
            )
        )
    return sorted(found, key=lambda f: -f.rows)


def duplicate_indexes(indexes: Sequence[IndexInfo]) -> list[DuplicateIndex]:
    """Indexes with the same key as another (duplicates) or whose key columns begin a longer
    btree index's (redundant prefixes). A unique index is never the one reported: it enforces
    a constraint; when both of a duplicate pair are unique, neither is reported."""
    found: list[DuplicateIndex] = []
    reported: set[str] = set()
    ordered = sorted(indexes, key=lambda i: (i.schema, i.table, not i.unique, i.name))
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if (first.schema, first.table) != (second.schema, second.table):
                continue
            same_kind = first.method == second.method and first.predicate == second.predicate
            if same_kind and first.key == second.key and second.key:
                if not second.unique and second.name not in reported:
                    found.append(DuplicateIndex(second, first, "duplicate"))
                    reported.add(second.name)
                continue
            for short, long in ((first, second), (second, first)):
                if (
                    same_kind
                    and short.method == "btree"
                    and not short.unique
                    and short.name not in reported
                    and len(short.key) < len(long.key)
                    and long.key[: len(short.key)] == short.key
                ):
                    found.append(DuplicateIndex(short, long, "prefix"))
                    reported.add(short.name)
    return found


_USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'"


async def load_tables(con: Connection) -> dict[tuple[str, str], TableStats]:
    """Every user table with its row estimate and read/write counters."""
    rows = await con.fetch(
        f"""
        SELECT n.nspname, c.relname, greatest(c.reltuples, s.n_live_tup, 0)::float8,
               coalesce(s.seq_tup_read, 0) + coalesce(s.idx_tup_fetch, 0),
               coalesce(s.n_tup_ins, 0) + coalesce(s.n_tup_upd, 0) + coalesce(s.n_tup_del, 0),
               coalesce(s.n_tup_hot_upd, 0),
               c.reltuples >= 0 OR s.last_analyze IS NOT NULL OR s.last_autoanalyze IS NOT NULL
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE c.relkind IN ('r', 'p', 'm') AND {_USER_SCHEMAS}
        """
    )
    return {(r[0], r[1]): TableStats(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows}


async def load_indexes(con: Connection) -> list[IndexInfo]:
    """Every index on a user table, with its key columns and size."""
    rows = await con.fetch(
        f"""
        SELECT n.nspname, t.relname, ic.relname, pg_get_indexdef(i.indexrelid), am.amname,
               i.indisunique OR i.indisprimary, pg_get_expr(i.indpred, i.indrelid),
               ARRAY(SELECT CASE WHEN k.attnum = 0 THEN '(' || pg_get_indexdef(i.indexrelid,
                                      k.ord::int, true) || ')' ELSE a.attname::text END
                     FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                     LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     WHERE k.ord <= i.indnkeyatts ORDER BY k.ord),
               ARRAY(SELECT pg_get_indexdef(i.indexrelid, k.ord::int, true)
                            || ' ' || i.indclass[k.ord - 1]::text
                            || ' ' || i.indoption[k.ord - 1]::text
                     FROM generate_series(1, i.indnkeyatts) k(ord) ORDER BY k.ord),
               pg_relation_size(i.indexrelid)
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        JOIN pg_am am ON am.oid = ic.relam
        WHERE {_USER_SCHEMAS}
        ORDER BY 1, 2, 3
        """
    )
    return [
        IndexInfo(r[0], r[1], r[2], tuple(r[7]), r[3], r[4], r[5], r[6], tuple(r[8]), r[9])
        for r in rows
    ]


async def load_foreign_keys(con: Connection) -> list[ForeignKey]:
    """Every foreign key of a user table."""
    rows = await con.fetch(
        f"""
        SELECT n.nspname, t.relname, c.conname,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                     ORDER BY k.ord),
               c.confrelid::regclass::text
        FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE c.contype = 'f' AND {_USER_SCHEMAS}
        ORDER BY 1, 2, 3
        """
    )
    return [ForeignKey(r[0], r[1], r[2], tuple(r[3]), r[4]) for r in rows]


async def load_unused_indexes(con: Connection, indexes: Sequence[IndexInfo]) -> list[UnusedIndex]:
    """Indexes with no scan since the statistics were reset, largest first; unique indexes
    and those behind a constraint are left out (they enforce something even unread)."""
    since = await con.fetchval(
        "SELECT to_char(stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
        "FROM pg_stat_database WHERE datname = current_database()"
    )
    rows = await con.fetch(
        """
        SELECT s.schemaname, s.relname, s.indexrelname
        FROM pg_stat_user_indexes s
        JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid)
        """
    )
    names = {(r[0], r[1], r[2]) for r in rows}
    unused = [i for i in indexes if (i.schema, i.table, i.name) in names]
    return [UnusedIndex(i, since) for i in sorted(unused, key=lambda i: -i.size)]
