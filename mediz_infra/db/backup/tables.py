"""Per-table row counts and content checksums, taken inside one snapshot.

A table's checksum is the sum, over its rows, of the first 64 bits of the MD5 of the row's text
form: independent of row order (a restore need not keep it), sensitive to any changed, missing
or duplicated row, and computed by the server in constant memory.
"""

from __future__ import annotations

from typing import Any

from .manifest import TableSum

__all__ = ["TABLES_SQL", "checksum_sql", "table_sums", "compare_sums"]

TABLES_SQL = """
SELECT format('%I.%I', n.nspname, c.relname)
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
