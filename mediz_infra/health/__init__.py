"""Health: liveness, readiness and detailed health with cached, concurrent, timed checks.

:class:`HealthRouter` serves ``/health/live``, ``/health/ready``, ``/health`` and
``/health/checks/<name>`` as ``application/health+json``; :class:`Check` names one check;
:func:`pool_check`, :func:`redis_check`, :func:`value_check` and
:func:`backup_freshness_check` build the usual ones.
"""

from .checks import Check, CheckFunc, CheckResult, CheckRunner, Observation, Status
from .probes import (
    BackupFreshnessSource,
    CheckablePool,
    FreshnessFigures,
    backup_freshness_check,
    pool_check,
    redis_check,
    value_check,
)
from .router import HEALTH_JSON, HealthRouter

__all__ = [
    # checks
    "Check",
    "CheckFunc",
    "CheckResult",
    "CheckRunner",
    "Observation",
    "Status",
    # probes
    "BackupFreshnessSource",
    "CheckablePool",
    "FreshnessFigures",
    "backup_freshness_check",
    "pool_check",
    "redis_check",
    "value_check",
    # router
    "HEALTH_JSON",
    "HealthRouter",
]
