"""Database operations beyond the pool: the index advisor (:mod:`mediz_infra.db.advisor`)."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# Seen by mypy and IDEs only; at run time the same names come from __getattr__ below, so
# importing :mod:`mediz_infra.db.backup` does not load the index advisor (and redis-py with it).
if TYPE_CHECKING:
    from .advisor import (
        AdvisorReport,
        Applied,
        Candidate,
        DuplicateIndex,
        Finding,
        ForeignKey,
        Gain,
        IndexAdvisor,
        IndexInfo,
        Penalty,
        Progress,
        SkippedStatement,
        Statement,
        Suggestion,
        Thresholds,
        UnindexedForeignKey,
        UnusedIndex,
        load_sql_file,
        render_applied,
        render_sql,
        render_text,
    )
    from .backup import BackupEntry, Backups, Manifest, TableSum, VerifyRecord

__all__ = [
    # db.advisor
    "AdvisorReport",
    "Applied",
    "Candidate",
    "DuplicateIndex",
    "Finding",
    "ForeignKey",
    "Gain",
    "IndexAdvisor",
    "IndexInfo",
    "Penalty",
    "Progress",
    "SkippedStatement",
    "Statement",
    "Suggestion",
    "Thresholds",
    "UnindexedForeignKey",
    "UnusedIndex",
    "load_sql_file",
    "render_applied",
    "render_sql",
    "render_text",
    # db.backup
    "BackupEntry",
    "Backups",
    "Manifest",
    "TableSum",
    "VerifyRecord",
]

# Public name -> the submodule that defines it (imported on first access).
_LAZY = {
    "AdvisorReport": ".advisor",
    "Applied": ".advisor",
    "Candidate": ".advisor",
    "DuplicateIndex": ".advisor",
    "Finding": ".advisor",
    "ForeignKey": ".advisor",
    "Gain": ".advisor",
    "IndexAdvisor": ".advisor",
    "IndexInfo": ".advisor",
    "Penalty": ".advisor",
    "Progress": ".advisor",
    "SkippedStatement": ".advisor",
    "Statement": ".advisor",
    "Suggestion": ".advisor",
    "Thresholds": ".advisor",
    "UnindexedForeignKey": ".advisor",
    "UnusedIndex": ".advisor",
    "load_sql_file": ".advisor",
    "render_applied": ".advisor",
    "render_sql": ".advisor",
    "render_text": ".advisor",
    "BackupEntry": ".backup",
    "Backups": ".backup",
    "Manifest": ".backup",
    "TableSum": ".backup",
    "VerifyRecord": ".backup",
}


# Hidden from type checkers: they see the TYPE_CHECKING imports instead, and a visible
# module __getattr__ would make every misspelt attribute of the package type-check as Any.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__)
