"""The index advisor: which indexes the workload needs, proven with hypothetical indexes, and
which existing ones cost writes for nothing.

``report = await IndexAdvisor(pool).run()`` reads the top statements of ``pg_stat_statements``
(or ``run(load_sql_file("workload.sql"))``, or ``run(sampled_workload(pool.query_sampler))``),
plans each one, and reports:

- suggestions (:class:`Suggestion`), ranked by the workload time they save, each verified with
  hypopg when the server has it (labelled unverified otherwise);
- unused indexes, duplicate and redundant ones, and foreign keys without an index.

The run never changes the database. The command line is ``mediz-infra db advise``; see
``docs/advisor.md``.
"""

from .analysis import IndexAdvisor, Progress
from .candidates import Candidate, Finding, Gain, Penalty, Thresholds
from .catalog import DuplicateIndex, ForeignKey, IndexInfo, UnindexedForeignKey, UnusedIndex
from .report import (
    AdvisorReport,
    Applied,
    SkippedStatement,
    Suggestion,
    render_applied,
    render_sql,
    render_text,
)
from .workload import Statement, load_sql_file, sampled_workload

__all__ = [
    # db.advisor.analysis
    "IndexAdvisor",
    "Progress",
    # db.advisor.candidates
    "Candidate",
    "Finding",
    "Gain",
    "Penalty",
    "Thresholds",
    # db.advisor.catalog
    "DuplicateIndex",
    "ForeignKey",
    "IndexInfo",
    "UnindexedForeignKey",
    "UnusedIndex",
    # db.advisor.report
    "AdvisorReport",
    "Applied",
    "SkippedStatement",
    "Suggestion",
    "render_applied",
    "render_sql",
    "render_text",
    # db.advisor.workload
    "Statement",
    "load_sql_file",
    "sampled_workload",
]
