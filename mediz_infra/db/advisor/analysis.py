"""The advisor's run: read the workload and catalog, plan each statement, try each candidate.

Everything happens on one connection in one transaction that is rolled back at the end, so a
run leaves nothing behind: hypopg's hypothetical indexes live in the session only, and when the
extension is available but not created, it is created inside that transaction and vanishes
with the rollback. When nothing needs creating, the transaction is ``READ ONLY``.

Parameterised statements (``$1`` ...) are first planned generically (``PREPARE`` with
``plan_cache_mode = force_generic_plan``; Postgres 15 has no ``EXPLAIN (GENERIC_PLAN)``), which
shows which column each parameter is compared with. Each parameter then gets a representative
value from ``pg_stats`` and the statement is planned again with them (a custom plan), since a
generic plan guesses a range's selectivity as a third of the table. A statement whose
parameters cannot all be given a value keeps its generic plan.

Plans are made with ``max_parallel_workers_per_gather = 0`` (for this transaction only), so
costs with and without a candidate compare like for like and a scan is one node, not a Gather
of partial scans.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .candidates import (
    Candidate,
    Finding,
    Gain,
    Thresholds,
    candidates_for,
    extends,
    penalty,
    unverified_cost,
)
from .catalog import (
    Connection,
    duplicate_indexes,
    load_foreign_keys,
    load_indexes,
    load_tables,
    load_unused_indexes,
    unindexed_foreign_keys,
)
from .names import qualified
from .plans import Scan, index_names, scans, total_cost
from .report import AdvisorReport, Applied, SkippedStatement, Suggestion
from .workload import Statement, plannable, updated_columns

if TYPE_CHECKING:
    from ...backends import PoolManager

__all__ = ["IndexAdvisor", "Progress"]

log = logging.getLogger("mediz_infra.db.advisor")

Progress = Callable[[str, int, int], None]
"""Called as work advances: ``(stage, done, total)``; ``stage`` is ``"catalog"``,
``"planning"``, ``"verifying"`` or ``"applying"``."""

_PREPARED = "mediz_advisor_stmt"
_NUMERIC = {"smallint", "integer", "bigint", "numeric", "real", "double precision"}
# Statements the advisor itself, monitoring tools and catalog readers run: not the app's workload.
_NOT_APP = (
    r"(\mpg_(catalog|stat|class|index|namespace|constraint|attribute|am|database|extension"
    r"|available|prepared|settings|locks|get_)|information_schema|hypopg|mediz_advisor"
    r"|^\s*explain\M)"
)

PG_STAT_STATEMENTS_FIX = (
    "add shared_preload_libraries = 'pg_stat_statements' to postgresql.conf, restart Postgres, "
    "then run CREATE EXTENSION pg_stat_statements in this database; or pass a file of "
    "statements (--file)"
)
HYPOPG_FIX = (
    "install it (Debian: apt-get install postgresql-15-hypopg, for your server's major "
    "version) so the advisor can verify suggestions with hypothetical indexes"
)


def _server_error(exc: BaseException) -> bool:
    """A query error the server sent (asyncpg's errors carry the SQLSTATE), not a broken client."""
    return isinstance(getattr(exc, "sqlstate", None), str)


def _without_redundant(suggestions: list[Suggestion]) -> list[Suggestion]:
    """Drop a suggestion a longer one extends when the longer saves its statements as much
    (within 5% of their cost)."""
    kept = []
    for shorter in suggestions:
        covered = False
        for longer in suggestions:
            if longer is shorter or not extends(longer.candidate, shorter.candidate):
                continue
            shares = {id(g.statement): g.share for g in longer.gains}
            if all(shares.get(id(g.statement), 0.0) >= g.share - 0.05 for g in shorter.gains):
                covered = True
                break
        if not covered:
            kept.append(shorter)
    return kept


def _literal(value: str) -> str:
    tag = "$mediz$"
    if tag in value:
        return "'" + value.replace("'", "''") + "'"
    return f"{tag}{value}{tag}"


@dataclass
class _Planned:
    """A statement as the advisor replans it: its values, its baseline plan's scans."""

    statement: Statement
    values: list[str] | None  # literals for EXECUTE, None: generic plan
    before: float
    scans: list[Scan]
    plan: Any


class IndexAdvisor:
    """Finds the indexes a workload needs and the ones it does not.

    Use it as ``report = await IndexAdvisor(pool).run()``; ``run(statements)`` analyses the
    given statements instead of ``pg_stat_statements``. It never changes the database
    (see the module docstring); :func:`~mediz_infra.db.advisor.apply_suggestions` does.

    Args:
        pool: a started :class:`~mediz_infra.backends.PoolManager` on the database to advise;
            the run holds one of its connections (a direct one: behind PgBouncer's transaction
            pooling, session state such as hypothetical indexes does not survive).
        top: how many statements to take from ``pg_stat_statements``, by total time.
        thresholds: when a scan is worth an index (:class:`Thresholds`).
        progress: called as work advances (:data:`Progress`).
    """

    def __init__(
        self,
        pool: PoolManager,
        *,
        top: int = 50,
        thresholds: Thresholds | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._pool = pool
        self.top = top
        self.thresholds = thresholds or Thresholds()
        self._progress = progress or (lambda stage, done, total: None)
        self._stats_cache: dict[tuple[str, str, str], tuple[list[str], list[str]]] = {}

    async def run(
        self, statements: Sequence[Statement] | None = None, *, source: str | None = None
    ) -> AdvisorReport:
        """Analyse the workload and the catalog; see :class:`AdvisorReport`.

        Args:
            statements: the workload; ``None`` reads ``pg_stat_statements``.
            source: what the report names as the workload's origin (a file's name).

        Raises:
            BackendUnavailable, PoolExhausted: no connection could be had.
        """
        async with self._pool.acquire() as con:
            report = await self._run(con, statements)
        if source is not None:
            report.source = source
        return report

    async def _run(self, con: Connection, statements: Sequence[Statement] | None) -> AdvisorReport:
        report = AdvisorReport()
        installed, available = await self._hypopg_state(con)
        create = installed is None and available
        await con.execute("BEGIN" if create else "BEGIN READ ONLY")
        try:
            if create:
                report.hypopg = await self._create_hypopg(con, report)
            else:
                report.hypopg = installed is not None
            if not available and installed is None:
                report.notes.append(
                    f"hypopg is not installed on the server: {HYPOPG_FIX}; "
                    "suggestions are ranked by the advisor's estimates and "
                    "labelled unverified"
                )
            await con.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            if statements is None:
                report.source = "pg_stat_statements"
                statements = await self._pg_stat_statements(con, report)
            else:
                report.source = "the statements given"
            await self._catalog(con, report, statements)
        finally:
            await con.execute("ROLLBACK")
        return report

    async def apply(self, suggestions: Sequence[Suggestion]) -> list[Applied]:
        """Create the suggested indexes, then show the real plans now use them.

        For each suggestion, in order: ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` (writes go
        on while it builds; it cannot run inside a transaction, so each runs on its own),
        ``ANALYZE`` of the table, and each statement the suggestion serves planned again, as
        :meth:`run` plans it. An index that fails to build is reported in its
        :class:`Applied` with the fix, and the rest go on.

        This is the only method that writes. Each build runs under the pool's
        ``command_timeout``: give the advisor a pool with ``command_timeout=None`` (as
        ``mediz-infra db advise`` does) when a build may take longer. Raises what :meth:`run`
        raises.
        """
        results: list[Applied] = []
        async with self._pool.acquire() as con:
            for n, suggestion in enumerate(suggestions):
                self._progress("applying", n, len(suggestions))
                results.append(await self._apply_one(con, suggestion))
            self._progress("applying", len(suggestions), len(suggestions))
        return results

    async def _apply_one(self, con: Connection, suggestion: Suggestion) -> Applied:
        candidate = suggestion.candidate
        try:
            await con.execute(suggestion.sql)
            await con.execute(f"ANALYZE {qualified(candidate.schema, candidate.table)}")
        except Exception as exc:
            if not _server_error(exc):
                raise
            invalid = await con.fetchval(
                "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)",
                f"{qualified(candidate.schema, candidate.name)}",
            )
            fix = (
                f"it was left INVALID: run DROP INDEX CONCURRENTLY "
                f"{qualified(candidate.schema, candidate.name)}; then fix the cause and retry"
                if invalid
                else "fix the cause and run the statement again"
            )
            return Applied(suggestion, False, f"{type(exc).__name__}: {exc}; {fix}")
        plans: list[tuple[Statement, bool, float]] = []
        await con.execute("BEGIN READ ONLY")
        try:
            for gain in suggestion.gains:
                try:
                    plan = (await self._baseline(con, gain.statement)).plan
                except Exception as exc:
                    if not _server_error(exc):
                        raise
                    plans.append((gain.statement, False, float("nan")))
                    continue
                used = candidate.name in index_names(plan)
                plans.append((gain.statement, used, total_cost(plan)))
        finally:
            await con.execute("ROLLBACK")
        return Applied(suggestion, True, None, tuple(plans))

    # sources ---------------------------------------------------------------------------------

    async def _hypopg_state(self, con: Connection) -> tuple[str | None, bool]:
        rows = await con.fetch(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'hypopg'), "
            "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg')"
        )
        return rows[0][0], bool(rows[0][1])

    async def _create_hypopg(self, con: Connection, report: AdvisorReport) -> bool:
        await con.execute("SAVEPOINT mediz_advisor_ext")
        try:
            await con.execute("CREATE EXTENSION hypopg")
        except Exception as exc:
            if not _server_error(exc):
                raise
            await con.execute("ROLLBACK TO SAVEPOINT mediz_advisor_ext")
            report.notes.append(
                f"hypopg is installed on the server but could not be created here ({exc}); "
                "run CREATE EXTENSION hypopg as a superuser (it adds functions only), or the "
                "suggestions stay unverified"
            )
            return False
        return True

    async def _pg_stat_statements(self, con: Connection, report: AdvisorReport) -> list[Statement]:
        created = await con.fetchval(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        )
        if not created:
            report.notes.append(
                "pg_stat_statements is not enabled in this database, so there is no workload "
                f"to read: {PG_STAT_STATEMENTS_FIX}"
            )
            return []
        await con.execute("SAVEPOINT mediz_advisor_pgss")
        try:
            rows = await con.fetch(
                "SELECT query, calls, total_exec_time FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND query ~* '^\\s*(select|with|update|delete)\\M' "
                # a SELECT without FROM (a pool's "SELECT 1" ping) reads no table
                "AND (query ~* '\\mfrom\\M' OR query ~* '^\\s*update\\M') "
                f"AND query !~* '{_NOT_APP}' "
                "ORDER BY total_exec_time DESC LIMIT $1",
                self.top,
            )
        except Exception as exc:
            if not _server_error(exc):
                raise
            await con.execute("ROLLBACK TO SAVEPOINT mediz_advisor_pgss")
            report.notes.append(
                f"pg_stat_statements cannot be read ({exc}): {PG_STAT_STATEMENTS_FIX}"
            )
            return []
        return [Statement(r[0], int(r[1]), float(r[2]), "pg_stat_statements") for r in rows]

    # analysis --------------------------------------------------------------------------------

    async def _catalog(
        self, con: Connection, report: AdvisorReport, statements: Sequence[Statement]
    ) -> None:
        self._progress("catalog", 0, 1)
        tables = await load_tables(con)
        unanalysed = sorted(
            qualified(t.schema, t.table)
            for t in tables.values()
            if not t.analysed and t.rows >= self.thresholds.min_rows
        )
        if unanalysed:
            report.notes.append(
                f"never analysed: {', '.join(unanalysed)}; the planner has no statistics for "
                "them, so plans and representative values are guesses: run ANALYZE on them "
                "(autovacuum will, in time) and advise again"
            )
        indexes = await load_indexes(con)
        keys = await load_foreign_keys(con)
        report.unused = await load_unused_indexes(con, indexes)
        report.duplicates = duplicate_indexes(indexes)
        report.unindexed_foreign_keys = unindexed_foreign_keys(keys, indexes, tables)
        self._progress("catalog", 1, 1)
        unindexed: dict[tuple[str, str], list[tuple[str, ...]]] = {}
        for missing in report.unindexed_foreign_keys:
            key = missing.foreign_key
            unindexed.setdefault((key.schema, key.table), []).append(key.columns)

        planned: list[_Planned] = []
        found: dict[Candidate, tuple[list[Finding], list[int]]] = {}
        report.statements = len(statements)
        for n, statement in enumerate(statements):
            self._progress("planning", n, len(statements))
            if not plannable(statement.sql):
                report.skipped.append(
                    SkippedStatement(
                        statement, "not a SELECT, WITH, UPDATE or DELETE: no index serves it"
                    )
                )
                continue
            try:
                item = await self._baseline(con, statement)
            except Exception as exc:
                if not _server_error(exc):
                    raise
                report.skipped.append(SkippedStatement(statement, f"{type(exc).__name__}: {exc}"))
                continue
            planned.append(item)
            for scan in item.scans:
                fks = unindexed.get((scan.schema, scan.table), [])
                for candidate, finding in candidates_for(
                    scan, tables, indexes, fks, self.thresholds
                ):
                    findings, users = found.setdefault(candidate, ([], []))
                    if finding not in findings:
                        findings.append(finding)
                    if len(planned) - 1 not in users:
                        users.append(len(planned) - 1)
        self._progress("planning", len(statements), len(statements))

        # A longer candidate is also tried on its prefixes' statements: when it serves them as
        # well, one index is suggested instead of two (the shorter would be redundant).
        for longer, (long_findings, long_users) in found.items():
            for shorter, (short_findings, short_users) in found.items():
                if extends(longer, shorter):
                    long_users.extend(i for i in short_users if i not in long_users)
                    long_findings.extend(f for f in short_findings if f not in long_findings)
        updates = updated_columns(statements)
        suggestions: list[Suggestion] = []
        for n, (candidate, (findings, users)) in enumerate(found.items()):
            self._progress("verifying", n, len(found))
            if report.hypopg:
                gains = await self._verify(con, candidate, [planned[i] for i in users])
            else:
                gains = [self._estimate(planned[i], candidate) for i in users]
            useful = [g for g in gains if g.used and g.share >= self.thresholds.min_saving]
            if not useful:
                log.debug("candidate %s saves too little: %s", candidate.definition(), gains)
                continue
            suggestions.append(
                Suggestion(
                    candidate,
                    tuple(findings),
                    tuple(gains),
                    report.hypopg,
                    penalty(candidate, tables.get((candidate.schema, candidate.table)), updates),
                )
            )
        self._progress("verifying", len(found), len(found))
        report.suggestions = sorted(_without_redundant(suggestions), key=lambda s: -s.score)

    def _estimate(self, item: _Planned, candidate: Candidate) -> Gain:
        for scan in item.scans:
            if (scan.schema, scan.table) == (candidate.schema, candidate.table):
                return Gain(item.statement, item.before, unverified_cost(item.before, scan))
        return Gain(item.statement, item.before, item.before, used=False)

    async def _verify(
        self, con: Connection, candidate: Candidate, items: Sequence[_Planned]
    ) -> list[Gain]:
        await con.execute("SAVEPOINT mediz_advisor_hypo")
        try:
            oid = await con.fetchval(
                "SELECT indexrelid FROM hypopg_create_index($1)", candidate.definition(named=False)
            )
            gains = []
            for item in items:
                plan = await self._explain(con, item.statement.sql, item.values)
                used = any(f"<{oid}>" in name for name in index_names(plan))
                gains.append(Gain(item.statement, item.before, total_cost(plan), used))
            await con.fetchval("SELECT hypopg_drop_index($1)", oid)
        except Exception as exc:
            if not _server_error(exc):
                raise
            await con.execute("ROLLBACK TO SAVEPOINT mediz_advisor_hypo")
            log.warning("could not try %s: %s", candidate.definition(), exc)
            return []
        await con.execute("RELEASE SAVEPOINT mediz_advisor_hypo")
        return gains

    # planning --------------------------------------------------------------------------------

    async def _baseline(self, con: Connection, statement: Statement) -> _Planned:
        """Plan a statement as it is: generically, then with representative values."""
        await con.execute("SAVEPOINT mediz_advisor_plan")
        try:
            await con.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            types = await self._prepare(con, statement.sql)
            try:
                generic = await self._execute_explain(con, [None] * len(types))
            finally:
                await con.execute(f"DEALLOCATE {_PREPARED}")
            values = await self._representative(con, generic, types) if types else []
        except Exception:
            await con.execute("ROLLBACK TO SAVEPOINT mediz_advisor_plan")
            raise
        await con.execute("RELEASE SAVEPOINT mediz_advisor_plan")
        plan = generic
        if values is not None and types:
            try:
                plan = await self._explain(con, statement.sql, values)
            except Exception as exc:
                if not _server_error(exc):
                    raise
                log.debug("custom plan failed, keeping the generic one: %s", exc)
                values = None
        return _Planned(statement, values, total_cost(plan), scans(plan), plan)

    async def _prepare(self, con: Connection, sql: str) -> list[str]:
        body = sql.strip().rstrip(";")
        await con.execute(f"PREPARE {_PREPARED} AS {body}")
        types = await con.fetchval(
            "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = $1",
            _PREPARED,
        )
        return list(types or [])

    async def _execute_explain(self, con: Connection, values: Sequence[str | None]) -> Any:
        args = "(" + ", ".join("NULL" if v is None else _literal(v) for v in values) + ")"
        raw = await con.fetchval(
            f"EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE {_PREPARED}{args if values else ''}"
        )
        return json.loads(raw) if isinstance(raw, str) else raw

    async def _explain(self, con: Connection, sql: str, values: Sequence[str] | None) -> Any:
        """Plan ``sql`` afresh (so hypothetical indexes count): custom with ``values``, else
        generic."""
        await con.execute("SAVEPOINT mediz_advisor_explain")
        try:
            mode = "force_generic_plan" if values is None else "force_custom_plan"
            await con.execute(f"SET LOCAL plan_cache_mode = {mode}")
            types = await self._prepare(con, sql)
            try:
                plan = await self._execute_explain(
                    con, list(values) if values is not None else [None] * len(types)
                )
            finally:
                await con.execute(f"DEALLOCATE {_PREPARED}")
        except Exception:
            await con.execute("ROLLBACK TO SAVEPOINT mediz_advisor_explain")
            raise
        await con.execute("RELEASE SAVEPOINT mediz_advisor_explain")
        return plan

    async def _representative(
        self, con: Connection, generic: Any, types: Sequence[str]
    ) -> list[str] | None:
        """A value for each parameter from ``pg_stats``; ``None`` if one cannot be had.

        Equality: the middle histogram bound (a typical value, not the most common one) or
        the middle most-common value. A range: one histogram bucket from the end it opens
        towards, the narrow window such queries usually ask for ("since yesterday").
        A parameter compared with no column (``LIMIT $2``) of a numeric type gets 10.
        """
        columns: dict[int, tuple[str, str, str, str]] = {}
        for scan in scans(generic):
            for predicate in scan.predicates:
                if predicate.param is not None:
                    columns.setdefault(
                        predicate.param, (scan.schema, scan.table, predicate.column, predicate.op)
                    )
        values: list[str] = []
        for number, type_name in enumerate(types, 1):
            if number not in columns:
                if type_name not in _NUMERIC:
                    return None
                values.append("10")
                continue
            schema, table, column, op = columns[number]
            common, bounds = await self._stats(con, schema, table, column)
            if op == "=":
                pool = bounds or common
                if not pool:
                    return None
                values.append(pool[len(pool) // 2])
            elif bounds and len(bounds) >= 2:
                values.append(bounds[-2] if op in (">", ">=") else bounds[1])
            else:
                return None
        return values

    async def _stats(
        self, con: Connection, schema: str, table: str, column: str
    ) -> tuple[list[str], list[str]]:
        key = (schema, table, column)
        if key not in self._stats_cache:
            rows = await con.fetch(
                "SELECT most_common_vals::text::text[], histogram_bounds::text::text[] "
                "FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3",
                schema,
                table,
                column,
            )
            found = (list(rows[0][0] or []), list(rows[0][1] or [])) if rows else ([], [])
            self._stats_cache[key] = found
        return self._stats_cache[key]
