"""Database backups: pg_dump streamed through zstd and AES-256-GCM into an object store.

:class:`Backups` makes, lists, restores and verifies backups in one store (``s3://`` or
``file://``);
:func:`prune` applies a :class:`Retention` policy (:func:`pin` exempts a backup);
``mediz-infra backup`` is its command line. See docs/operations.md for the runbook.
Its failures are :class:`BackupError` (and :class:`BackupCorrupt` for an object that fails its
checksum or key check) and :class:`ObjectMissing`, re-exported here from
:mod:`mediz_infra.errors` so callers can catch them next to :class:`Backups`.
"""

from ...errors import BackupCorrupt, BackupError, ObjectMissing
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
