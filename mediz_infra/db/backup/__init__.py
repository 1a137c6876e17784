"""Database backups: pg_dump streamed through zstd and AES-256-GCM into an object store.

:class:`Backups` makes, lists, restores and verifies backups in one store (``s3://`` or
``file://``);
:func:`prune` applies a :class:`Retention` policy (:func:`pin` exempts a backup);
``mediz-infra backup`` is its command line. See docs/operations.md for the runbook.
Its failures are :class:`BackupError` (and :class:`BackupCorrupt` for an object that fails its
checksum or key check) and :class:`ObjectMissing`, re-exported here from
:mod:`mediz_infra.errors` so callers can catch them next to :class:`Backups`.
"""

from typing import TYPE_CHECKING

from ..._lazy import lazy_exports
from ...errors import BackupCorrupt, BackupError, ObjectMissing

# Seen by mypy and IDEs only; at run time the same names come from __getattr__ below, so
# ``import mediz_infra.db.backup.command`` (``mediz-infra backup run``) loads neither the
# scheduler nor the freshness check (and its OpenTelemetry instruments).
if TYPE_CHECKING:
    from .backups import BackupEntry, Backups
    from .crypto import key_fingerprint, parse_key
    from .freshness import BackupFreshness, FreshnessReport, assess, read_verify_record
    from .lock import RunLock
    from .manifest import Manifest, TableSum
    from .progress import Progress
    from .record import VerifyRecord, record_key
    from .retention import Candidate, Decision, Plan, Retention, pin, plan, prune, unpin
    from .schedule import BackupJobs, CronQueue, schedule_backups
    from .tables import compare_sums, sums_like, table_sums
    from .tools import ClientTool

__all__ = [
    # db.backup.backups
    "BackupEntry",
    "Backups",
    # db.backup.crypto
    "key_fingerprint",
    "parse_key",
    # db.backup.lock
    "RunLock",
    # db.backup.freshness
    "BackupFreshness",
    "FreshnessReport",
    "assess",
    "read_verify_record",
    # db.backup.manifest
    "Manifest",
    "TableSum",
    # db.backup.progress
    "Progress",
    # db.backup.retention
    "Candidate",
    "Decision",
    "Plan",
    "Retention",
    "pin",
    "plan",
    "prune",
    "unpin",
    # db.backup.schedule
    "BackupJobs",
    "CronQueue",
    "schedule_backups",
    # db.backup.tables
    "compare_sums",
    "sums_like",
    "table_sums",
    # db.backup.tools
    "ClientTool",
    # errors
    "BackupCorrupt",
    "BackupError",
    "ObjectMissing",
    # db.backup.record
    "VerifyRecord",
    "record_key",
]

# Public name -> the submodule that defines it (imported on first access).
_LAZY = {
    "BackupEntry": ".backups",
    "Backups": ".backups",
    "key_fingerprint": ".crypto",
    "parse_key": ".crypto",
    "BackupFreshness": ".freshness",
    "FreshnessReport": ".freshness",
    "assess": ".freshness",
    "read_verify_record": ".freshness",
    "RunLock": ".lock",
    "Manifest": ".manifest",
    "TableSum": ".manifest",
    "Progress": ".progress",
    "Candidate": ".retention",
    "Decision": ".retention",
    "Plan": ".retention",
    "Retention": ".retention",
    "pin": ".retention",
    "plan": ".retention",
    "prune": ".retention",
    "unpin": ".retention",
    "BackupJobs": ".schedule",
    "CronQueue": ".schedule",
    "schedule_backups": ".schedule",
    "compare_sums": ".tables",
    "sums_like": ".tables",
    "table_sums": ".tables",
    "ClientTool": ".tools",
    "VerifyRecord": ".record",
    "record_key": ".record",
}


# Hidden from type checkers: they see the TYPE_CHECKING imports instead, and a visible
# module __getattr__ would make every misspelt attribute of the package type-check as Any.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, __all__)
