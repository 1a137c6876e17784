"""Candidate indexes from what a plan shows, and their ranking: pure functions, no I/O.

A scan of a large table becomes a candidate when an index could serve it: equality columns
first, then one range column, then the keys of a sort directly above it; constant predicates
(``deleted_at IS NULL``, ``NOT archived``) that the statement always applies become the
partial index's ``WHERE``. Candidates are ranked by the time they save across the whole
workload (calls x per-call saving), discounted for tables that are mostly written and for
columns the workload updates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .catalog import IndexInfo, TableStats, covered
from .names import index_name, qualified, quote_ident
from .plans import Scan
from .workload import Statement

__all__ = [
    "Candidate",
    "Finding",
    "Gain",
    "Penalty",
    "Thresholds",
    "candidates_for",
    "extends",
    "penalty",
    "unverified_cost",
]


@dataclass(frozen=True)
class Thresholds:
    """When a scan is worth an index.

    Attributes:
        min_rows: tables with fewer rows (the planner's estimate) get no suggestion.
        max_selectivity: a sequential scan is a finding when it returns at most this share
            of the table's rows.
        min_sort_rows: a sort directly above a scan is a finding from this many input rows.
        min_saving: a suggestion must cut a statement's estimated cost by at least this share.
    """

    min_rows: int = 10_000
    max_selectivity: float = 0.05
    min_sort_rows: int = 1_000
    min_saving: float = 0.2


@dataclass(frozen=True)
class Finding:
    """Why a statement wants an index.

    Attributes:
        kind: ``seq_scan`` (a sequential scan of a large table with a selective filter),
            ``sort`` (a sort an index's order would remove), ``index_order`` (an index read
            whole for its order, its leading column unfiltered, while the filter is on a later
            one) or ``fk_join`` (a join on a foreign key no index leads with).
        table: ``schema.table``.
        detail: one line for a person.
    """

    kind: str
    table: str
    detail: str


@dataclass(frozen=True)
class Candidate:
    """An index worth trying.

    Attributes:
        schema: the table's schema.
        table: the table's name.
        columns: key columns in order; a column may end in ``" DESC"``.
        where: a partial index's condition, ``None`` for a full index.
    """

    schema: str
    table: str
    columns: tuple[str, ...]
    where: str | None = None

    @property
    def name(self) -> str:
        """The name the suggestion gives the index."""
        return index_name(self.table, self.columns, self.where is not None)

    def definition(self, *, concurrently: bool = False, named: bool = True) -> str:
        """The ``CREATE INDEX`` statement (without a trailing ``;``)."""
        keys = ", ".join(
            quote_ident(c.removesuffix(" DESC")) + (" DESC" if c.endswith(" DESC") else "")
            for c in self.columns
        )
        head = "CREATE INDEX CONCURRENTLY IF NOT EXISTS" if concurrently else "CREATE INDEX"
        name = f" {quote_ident(self.name)}" if named else ""
        where = f" WHERE {self.where}" if self.where else ""
        return f"{head}{name} ON {qualified(self.schema, self.table)} ({keys}){where}"

    @property
    def plain_columns(self) -> tuple[str, ...]:
        """The key columns without sort directions."""
        return tuple(c.removesuffix(" DESC") for c in self.columns)


@dataclass(frozen=True)
class Gain:
    """What a candidate does for one statement.

    Attributes:
        statement: the statement.
        before: its estimated cost without the index.
        after: with it (hypopg's estimate, or the advisor's own when unverified).
        used: the plan with the index reads it.
    """

    statement: Statement
    before: float
    after: float
    used: bool = True

    @property
    def share(self) -> float:
        """The share of the statement's cost the index saves (0 when unused)."""
        if not self.used or self.before <= 0:
            return 0.0
        return max(0.0, (self.before - self.after) / self.before)

    @property
    def saved_ms(self) -> float | None:
        """Milliseconds saved over all the statement's calls, ``None`` without timings."""
        mean = self.statement.mean_ms
        return None if mean is None else self.statement.calls * mean * self.share

    @property
    def weight(self) -> float:
        """The saving that ranks: milliseconds when known, else calls x cost units."""
        saved = self.saved_ms
        if saved is not None:
            return saved
        return self.statement.calls * max(0.0, self.before - self.after) * (self.used or 0)


def _first_seen(names: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return seen


def candidates_for(
    scan: Scan,
    tables: Mapping[tuple[str, str], TableStats],
    indexes: Sequence[IndexInfo],
    unindexed_fks: Sequence[tuple[str, ...]],
    limits: Thresholds,
) -> list[tuple[Candidate, Finding]]:
    """The candidates one scan suggests, each with the finding behind it (none for a small
    table, a scan that is not selective, or one an existing index already leads with)."""
    stats = tables.get((scan.schema, scan.table))
    if stats is None or stats.rows < limits.min_rows:
        return []
    label = qualified(scan.schema, scan.table)
    equal = _first_seen([p.column for p in scan.predicates if p.kind == "equality"])
    ranges = _first_seen([p.column for p in scan.predicates if p.kind == "range"])
    ranges = [c for c in ranges if c not in equal][:1]
    constants = sorted({p.sql() for p in scan.predicates if p.kind == "constant"})
    constant_columns = {p.column for p in scan.predicates if p.kind == "constant"}
    found: list[tuple[Candidate, Finding]] = []

    seq = scan.node_type == "Seq Scan"
    selective = scan.rows <= stats.rows * limits.max_selectivity
    keys: list[str] = []
    finding: Finding | None = None
    if seq and (equal or ranges) and selective:
        keys = [*equal, *ranges]
        finding = Finding(
            "seq_scan",
            label,
            f"sequential scan of ~{stats.rows:,.0f} rows to return ~{scan.rows:,.0f}",
        )
    sort_columns = [c for c, _ in scan.sort if c not in equal and c not in constant_columns]
    if scan.sort and (scan.rows >= limits.min_sort_rows or finding is not None):
        directions = {desc for _, desc in scan.sort}
        mixed = len(directions) > 1
        keys = keys or [*equal, *ranges]
        for column, desc in scan.sort:
            if column in sort_columns and column not in keys:
                keys.append(f"{column} DESC" if desc and mixed else column)
        if sort_columns:
            finding = finding or Finding(
                "sort",
                label,
                f"sort of ~{scan.rows:,.0f} rows by {', '.join(sort_columns)} "
                f"(cost {scan.sort_cost:,.0f}) that an index's order would remove",
            )
    on_table = [i for i in indexes if (i.schema, i.table) == (scan.schema, scan.table)]
    used = next((i for i in on_table if i.name == scan.index), None)
    filtered = {p.column for p in scan.predicates}
    if finding is None and used and equal and selective and used.columns[0] not in filtered:
        # The planner walks the whole index for its order (ORDER BY its leading column, often
        # with a LIMIT) and filters on a later column: the filter's columns should lead.
        order = []
        for column in used.columns:
            if column in filtered:
                break
            order.append(column)
        keys = [*equal, *ranges, *(c for c in order if not c.startswith("("))]
        finding = Finding(
            "index_order",
            label,
            f"index {used.name} read in {', '.join(order)} order, filtered on "
            f"{', '.join(equal)} (not its leading column), to return ~{scan.rows:,.0f} rows",
        )
    if keys and finding is not None:
        where = " AND ".join(constants) if constants else None
        candidate = Candidate(scan.schema, scan.table, tuple(keys), where)
        if not covered(candidate.plain_columns, on_table, ordered=True):
            found.append((candidate, finding))
    if seq:
        for fk_columns in unindexed_fks:
            if not fk_columns or not set(fk_columns) <= set(scan.join_columns):
                continue
            candidate = Candidate(scan.schema, scan.table, tuple(fk_columns))
            detail = (
                f"join on foreign key ({', '.join(fk_columns)}) that no index leads with: "
                f"the join reads all ~{stats.rows:,.0f} rows"
            )
            if all(c != candidate for c, _ in found):
                found.append((candidate, Finding("fk_join", label, detail)))
    return found


def extends(longer: Candidate, shorter: Candidate) -> bool:
    """Whether ``longer`` serves every lookup ``shorter`` serves: same table and condition,
    and ``shorter``'s columns begin ``longer``'s."""
    short, long = shorter.plain_columns, longer.plain_columns
    return (
        (longer.schema, longer.table, longer.where)
        == (shorter.schema, shorter.table, shorter.where)
        and len(short) < len(long)
        and long[: len(short)] == short
    )


def unverified_cost(before: float, scan: Scan) -> float:
    """The advisor's own guess of a statement's cost with the index, when hypopg is missing:
    the scan's and the sort's cost replaced by a lookup that fetches each returned row from a
    random page (``random_page_cost`` 4.0 per row, plus the descent)."""
    replaced = scan.cost + scan.sort_cost
    return max(0.0, before - replaced + 4.0 + 4.0 * scan.rows)


@dataclass(frozen=True)
class Penalty:
    """How much of a candidate's saving counts after its cost to writes.

    Attributes:
        factor: multiplies the saving, in (0, 1].
        notes: why, one line each.
    """

    factor: float = 1.0
    notes: tuple[str, ...] = field(default=())


def penalty(
    candidate: Candidate,
    stats: TableStats | None,
    updates: Mapping[tuple[str, str], Mapping[str, int]],
) -> Penalty:
    """Discount a candidate for the writes it would cost.

    Each write to the table must also write the index: the saving is scaled by
    ``1 - write_share / 2``, the share of the table's rows written among those written and
    read (``pg_stat_user_tables``). A key column the workload's UPDATEs set
    halves it again: every such update writes the index and can no longer be a HOT update.
    """
    factor, notes = 1.0, []
    if stats is not None and stats.write_share > 0:
        factor *= 1.0 - stats.write_share / 2
        if stats.write_share >= 0.5:
            notes.append(
                f"write-heavy table: {stats.write_share:.0%} of its activity is writes "
                f"({stats.writes:,} rows written); the index adds work to every one"
            )
    written = {
        **updates.get(("", candidate.table), {}),
        **updates.get((candidate.schema, candidate.table), {}),
    }
    hit = [c for c in candidate.plain_columns if c in written]
    if hit:
        factor *= 0.5
        calls = max(written[c] for c in hit)
        notes.append(
            f"the workload updates {', '.join(hit)} ({calls:,} calls): each such update must "
            "also write this index and can no longer be a HOT update"
        )
    return Penalty(factor, tuple(notes))
