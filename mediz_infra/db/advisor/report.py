"""What the advisor found: the report's parts, as JSON and as text for a terminal.

Everything here is plain data; rendering is pure, so the CLI only chooses a format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .candidates import Candidate, Finding, Gain, Penalty
from .catalog import DuplicateIndex, UnindexedForeignKey, UnusedIndex
from .names import qualified
from .workload import Statement

__all__ = [
    "AdvisorReport",
    "Applied",
    "SkippedStatement",
    "Suggestion",
    "render_applied",
    "render_sql",
    "render_text",
]


@dataclass(frozen=True)
class Suggestion:
    """An index the advisor recommends, with its evidence.

    Attributes:
        candidate: the index.
        findings: what in the plans asked for it.
        gains: its effect on each statement it serves.
        verified: ``True`` when hypopg planned the statements with the index (the ``after``
            costs are the planner's); ``False`` when they are the advisor's own estimate.
        penalty: the discount for the writes it costs, with the reasons.
    """

    candidate: Candidate
    findings: tuple[Finding, ...]
    gains: tuple[Gain, ...]
    verified: bool
    penalty: Penalty = field(default_factory=Penalty)

    @property
    def score(self) -> float:
        """The ranking key: the workload time (or cost) saved, after the write penalty."""
        return sum(g.weight for g in self.gains) * self.penalty.factor

    @property
    def saved_ms(self) -> float | None:
        """Milliseconds the workload would have saved, ``None`` without timings."""
        parts = [g.saved_ms for g in self.gains]
        return None if any(p is None for p in parts) else sum(p or 0.0 for p in parts)

    @property
    def sql(self) -> str:
        """``CREATE INDEX CONCURRENTLY IF NOT EXISTS ...;`` ready for a migration."""
        return self.candidate.definition(concurrently=True) + ";"


@dataclass(frozen=True)
class Applied:
    """What applying one suggestion did.

    Attributes:
        suggestion: the suggestion.
        created: the index now exists (created by this run, or already there).
        error: why it could not be created, with the fix; ``None`` when it was.
        plans: for each statement the suggestion serves, whether its real plan (after
            ``ANALYZE``) now reads the index, with that plan's cost.
    """

    suggestion: Suggestion
    created: bool
    error: str | None = None
    plans: tuple[tuple[Statement, bool, float], ...] = ()


@dataclass(frozen=True)
class SkippedStatement:
    """A statement the advisor could not plan, and why (the server's error)."""

    statement: Statement
    reason: str


@dataclass
class AdvisorReport:
    """Everything one run of the advisor found.

    Attributes:
        suggestions: indexes to add, best first.
        unused: indexes no scan has read since the statistics were reset.
        duplicates: indexes another one makes unnecessary.
        unindexed_foreign_keys: foreign keys no index leads with.
        skipped: statements that failed to plan, with the error.
        notes: what limited the run (a missing extension) and how to fix it.
        hypopg: whether suggestions were verified with hypothetical indexes.
        source: where the workload came from.
        statements: how many statements were analysed.
    """

    suggestions: list[Suggestion] = field(default_factory=list)
    unused: list[UnusedIndex] = field(default_factory=list)
    duplicates: list[DuplicateIndex] = field(default_factory=list)
    unindexed_foreign_keys: list[UnindexedForeignKey] = field(default_factory=list)
    skipped: list[SkippedStatement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hypopg: bool = False
    source: str = ""
    statements: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``mediz-infra db advise --json`` prints)."""
        return {
            "source": self.source,
            "statements": self.statements,
            "hypopg": self.hypopg,
            "notes": list(self.notes),
            "suggestions": [
                {
                    "rank": rank,
                    "table": qualified(s.candidate.schema, s.candidate.table),
                    "index": s.candidate.definition(),
                    "sql": s.sql,
                    "verified": s.verified,
                    "score": round(s.score, 3),
                    "saved_ms": None if s.saved_ms is None else round(s.saved_ms, 3),
                    "penalty": s.penalty.factor,
                    "penalty_notes": list(s.penalty.notes),
                    "findings": [f.__dict__ for f in s.findings],
                    "statements": [
                        {
                            "sql": g.statement.sql,
                            "source": g.statement.source,
                            "calls": g.statement.calls,
                            "total_ms": g.statement.total_ms,
                            "cost_before": round(g.before, 2),
                            "cost_after": round(g.after, 2),
                            "uses_index": g.used,
                        }
                        for g in s.gains
                    ],
                }
                for rank, s in enumerate(self.suggestions, 1)
            ],
            "unused_indexes": [
                {
                    "table": qualified(u.index.schema, u.index.table),
                    "index": u.index.name,
                    "bytes": u.index.size,
                    "since": u.since,
                    "definition": u.index.definition,
                }
                for u in self.unused
            ],
            "duplicate_indexes": [
                {
                    "table": qualified(d.index.schema, d.index.table),
                    "index": d.index.name,
                    "covered_by": d.kept.name,
                    "reason": d.reason,
                    "bytes": d.index.size,
                }
                for d in self.duplicates
            ],
            "unindexed_foreign_keys": [
                {
                    "table": qualified(f.foreign_key.schema, f.foreign_key.table),
                    "constraint": f.foreign_key.name,
                    "columns": list(f.foreign_key.columns),
                    "references": f.foreign_key.referenced,
                    "rows": f.rows,
                    "sql": f.suggestion,
                }
                for f in self.unindexed_foreign_keys
            ],
            "skipped": [
                {"sql": s.statement.sql, "source": s.statement.source, "reason": s.reason}
                for s in self.skipped
            ],
        }


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render_text(report: AdvisorReport) -> str:
    """The report as a ranked table and lists, for a terminal."""
    lines: list[str] = []
    verified = "verified with hypopg" if report.hypopg else "UNVERIFIED: hypopg missing"
    lines.append(f"Index advice: {report.statements} statements from {report.source} ({verified})")
    for note in report.notes:
        lines.append(f"note: {note}")
    lines.append("")
    if report.suggestions:
        header = ("#", "table", "suggested index", "cost before", "after", "calls", "total ms")
        rows: list[tuple[str, ...]] = [header]
        for rank, s in enumerate(report.suggestions, 1):
            for n, g in enumerate(s.gains):
                rows.append(
                    (
                        str(rank) if n == 0 else "",
                        qualified(s.candidate.schema, s.candidate.table) if n == 0 else "",
                        _index_label(s) if n == 0 else "",
                        f"{g.before:,.0f}",
                        f"{g.after:,.0f}" + ("" if g.used else " (unused)"),
                        f"{g.statement.calls:,}",
                        _ms(g.statement.total_ms),
                    )
                )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for row in rows:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        lines.append("")
        for rank, s in enumerate(report.suggestions, 1):
            saved = s.saved_ms
            lines.append(
                f"{rank}. {s.sql}"
                + (f"  -- saves ~{saved:,.0f} ms of workload time" if saved is not None else "")
            )
            for finding in s.findings:
                lines.append(f"   why: {finding.detail}")
            for g in s.gains:
                lines.append(f"   statement: {g.statement.short}")
            for note in s.penalty.notes:
                lines.append(f"   penalty x{s.penalty.factor:.2f}: {note}")
    else:
        lines.append(
            "No index to add: no analysed statement scans a large table an index "
            "would serve better."
        )
    sections = (
        (
            "Unused indexes (no scan since the statistics were reset)",
            [
                f"{qualified(u.index.schema, u.index.table)}.{u.index.name}  {_size(u.index.size)}"
                f"  (since {u.since or 'the statistics began'})"
                for u in report.unused
            ],
        ),
        (
            "Duplicate and redundant indexes",
            [
                f"{qualified(d.index.schema, d.index.table)}.{d.index.name}  {_size(d.index.size)}"
                f"  {'same key as' if d.reason == 'duplicate' else 'a prefix of'} {d.kept.name}"
                for d in report.duplicates
            ],
        ),
        (
            "Foreign keys without an index",
            [
                f"{qualified(f.foreign_key.schema, f.foreign_key.table)}"
                f" ({', '.join(f.foreign_key.columns)}) -> {f.foreign_key.referenced}"
                f"  ~{max(f.rows, 0):,.0f} rows: {f.suggestion}"
                for f in report.unindexed_foreign_keys
            ],
        ),
        (
            "Skipped statements (failed to plan)",
            [
                f"{s.statement.source or 'statement'}: {s.statement.short}\n    {s.reason}"
                for s in report.skipped
            ],
        ),
    )
    for title, items in sections:
        lines.append("")
        lines.append(f"{title}: {len(items) or 'none'}")
        lines.extend(f"  {item}" for item in items)
    return "\n".join(lines)


def _index_label(suggestion: Suggestion) -> str:
    cand = suggestion.candidate
    label = f"({', '.join(cand.columns)})" + (f" WHERE {cand.where}" if cand.where else "")
    return label if suggestion.verified else label + " [unverified]"


def render_sql(report: AdvisorReport) -> str:
    """The suggestions as a migration: one ``CREATE INDEX CONCURRENTLY`` per line.

    ``CONCURRENTLY`` cannot run inside a transaction block: run each statement on its own.
    """
    lines = ["-- mediz-infra db advise: CREATE INDEX CONCURRENTLY cannot run in a transaction"]
    for rank, s in enumerate(report.suggestions, 1):
        tag = "" if s.verified else " (unverified: hypopg was missing)"
        lines.append(f"-- {rank}. {s.findings[0].detail if s.findings else ''}{tag}")
        lines.append(s.sql)
    return "\n".join(lines)


def render_applied(results: list[Applied]) -> str:
    """What ``--apply`` did, one block per index."""
    lines: list[str] = []
    for result in results:
        name = result.suggestion.candidate.name
        if not result.created:
            lines.append(f"FAILED {name}: {result.error}")
            continue
        lines.append(f"created {name}; ANALYZE done")
        before = {id(g.statement): g.before for g in result.suggestion.gains}
        for statement, used, cost in result.plans:
            verdict = "uses it" if used else "does NOT use it"
            was = before.get(id(statement))
            costs = f"cost {was:,.0f} -> {cost:,.0f}" if was is not None else f"cost {cost:,.0f}"
            lines.append(f"  re-planned ({costs}), {verdict}: {statement.short}")
    return "\n".join(lines)
