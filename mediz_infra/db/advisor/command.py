"""``mediz-infra db advise``: the advisor on the command line.

The report goes to stdout (a ranked table, ``--json`` or ``--sql``); progress, notes and errors
go to stderr, so ``--sql > migration.sql`` and ``--json | jq`` stay clean. Nothing is written to
the database unless ``--apply`` is given, and then only after a ``y`` on stdin or ``--yes``.
The database URL is shown redacted everywhere.

Exit codes: 0 done; 1 the database could not be reached, an index failed to build, or
``--apply`` was not confirmed; 2 a usage error (a bad option, an unreadable file).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from ..._urls import redact
from ...errors import InfraError
from .analysis import IndexAdvisor
from .candidates import Thresholds
from .report import render_applied, render_sql, render_text
from .workload import Statement, load_sql_file, sampled_workload

__all__ = ["add_arguments", "advise"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``db advise``."""
    parser.add_argument("--database-url", help="the database to advise (default: DATABASE_URL)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--file", help="a file of SQL statements separated by ';' instead of pg_stat_statements"
    )
    source.add_argument(
        "--sampled",
        help="a file of statements a pool sampled (QuerySampler.write) instead of "
        "pg_stat_statements",
    )
    parser.add_argument(
        "--top", type=int, default=50, help="statements to take from pg_stat_statements (50)"
    )
    parser.add_argument(
        "--min-rows",
        type=int,
        default=Thresholds.min_rows,
        help=f"tables with fewer rows get no suggestion ({Thresholds.min_rows:,})",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the whole report as JSON")
    output.add_argument(
        "--sql", action="store_true", help="print CREATE INDEX CONCURRENTLY statements only"
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="create the suggested indexes (CONCURRENTLY), ANALYZE, and re-plan",
    )
    parser.add_argument("--yes", action="store_true", help="with --apply: do not ask")


class ProgressBar:
    """Progress on stderr: a bar redrawn in place on a terminal, a line per stage elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._stage: str | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._tty:
            width = 30
            filled = width * done // total if total else width
            bar = "#" * filled + "." * (width - filled)
            end = "\n" if done >= total else ""
            self._stream.write(f"\r{stage:<10} [{bar}] {done}/{total}{end}")
        elif stage != self._stage:
            self._stream.write(f"{stage} ({total}) ...\n")
        self._stage = stage
        self._stream.flush()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def advise(url: str, args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    """Run ``db advise`` against ``url`` with parsed ``args``; returns the exit code."""
    from ...backends import PoolManager

    stdin = sys.stdin if stdin is None else stdin
    if args.top < 1 or args.min_rows < 0:
        _say("error: --top must be at least 1 and --min-rows at least 0")
        return EXIT_USAGE
    # ConfigError: usage
    statements: list[Statement] | None = None
    if args.file:
        statements = load_sql_file(args.file)
    elif getattr(args, "sampled", None):
        statements = sampled_workload(args.sampled, top=args.top)
    _say(f"connecting to {redact(url)} ...")
    pool = PoolManager(url, min_size=1, max_size=1, command_timeout=None, name="advisor")
    try:
        await pool.start()
    except InfraError as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED
    try:
        advisor = IndexAdvisor(
            pool,
            top=args.top,
            thresholds=Thresholds(min_rows=args.min_rows),
            progress=ProgressBar(sys.stderr),
        )
        report = await advisor.run(statements, source=args.file or getattr(args, "sampled", None))
        if args.json or args.sql:  # the text report shows its notes itself
            for note in report.notes:
                _say(f"note: {note}")
        if args.json:
            print(json.dumps(report.to_dict(), indent=2))
        elif args.sql:
            print(render_sql(report))
        else:
            print(render_text(report))
        if not args.apply:
            if report.suggestions:
                _say("nothing was changed; --sql prints a migration, --apply creates the indexes")
            return EXIT_OK
        if not report.suggestions:
            _say("--apply: no index to create")
            return EXIT_OK
        if not args.yes:
            count = len(report.suggestions)
            _say(
                f"create {count} index{'es' if count > 1 else ''} on {redact(url)} "
                "CONCURRENTLY? [y/N] "
            )
            answer = stdin.readline().strip().lower()
            if answer not in ("y", "yes"):
                _say("not confirmed: nothing was changed (pass --yes to skip the question)")
                return EXIT_FAILED
        results = await advisor.apply(report.suggestions)
        _say(render_applied(results))
        return EXIT_OK if all(r.created for r in results) else EXIT_FAILED
    except InfraError as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED
    finally:
        await pool.close()
