"""Backup freshness: how old the newest verified backup is, read cheaply and cached.

The verify record (written by ``backup verify``) is the object ``<id>/<id>.verify.json`` beside
the backup's manifest (a loose ``<id>.verify.json`` at the store's top is read too)::

    {"backup_id": "...", "ok": true, "verified_at": "2026-12-05T03:12:09+00:00",
     "duration_s": 41.2, "mismatches": []}

A report is **degraded** when there is no complete backup, when the newest verified backup
(record with ``ok: true``) is older than ``max_age`` (26 h), when the newest backup's
verification failed, or when the newest backup still has no record once it is older than
``unverified_grace`` (6 h: the time a verify may take to follow the backup). Ages count from the
backup's id (its start, UTC).

:class:`BackupFreshness` reads one listing and at most a few small records per refresh, and
serves the report from memory for ``cache_ttl`` seconds (300): a health endpoint probed every
second reaches the store once in five minutes. It also exports the figures as OpenTelemetry
gauges (``mediz.backup.age``, ``mediz.backup.verified``) and, through :meth:`gauges`, to the
metrics dashboard and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ... import telemetry
from ...backends.objectstore import ObjectStore
from ...errors import BackupCorrupt, ConfigError
from .record import VerifyRecord
from .retention import MANIFEST, parse_backup_id

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation

__all__ = ["BackupFreshness", "FreshnessReport", "assess", "read_verify_record"]

MAX_RECORD_READS = 20  # records read per refresh, newest backup first


def read_verify_record(data: bytes) -> VerifyRecord | None:
    """Parse a ``<id>.verify.json`` record; ``None`` when unreadable (counts as unverified)."""
    try:
        return VerifyRecord.from_json(data)
    except BackupCorrupt:
        return None


@dataclass(frozen=True, slots=True)
class FreshnessReport:
    """The state of the backups at ``checked_at``.

    ``newest_verified`` is ``True`` (verified, ok), ``False`` (verification failed) or
    ``None`` (no record yet). Ages are seconds; ``None`` when there is no such backup.
    """

    degraded: bool
    summary: str
    checked_at: datetime
    newest_id: str | None = None
    newest_age_s: float | None = None
    newest_verified: bool | None = None
    verified_id: str | None = None
    verified_age_s: float | None = None

    @property
    def age_seconds(self) -> float | None:
        """The newest verified backup's age (the figure the health check reports)."""
        return self.verified_age_s

    def as_details(self) -> dict[str, Any]:
        """Ids, ages and the verify status, for the health check's details (no URL)."""
        return {
            "newest_id": self.newest_id,
            "newest_age_s": self.newest_age_s,
            "newest_verified": self.newest_verified,
            "verified_id": self.verified_id,
            "verified_age_s": self.verified_age_s,
        }

    def gauges(self) -> dict[str, float]:
        """Numbers for the dashboard: ages in seconds (-1 when none), ``verified`` 1 or 0."""
        return {
            "newest_age_s": -1.0 if self.newest_age_s is None else self.newest_age_s,
            "verified_age_s": -1.0 if self.verified_age_s is None else self.verified_age_s,
            "newest_verified": 1.0 if self.newest_verified else 0.0,
            "degraded": 1.0 if self.degraded else 0.0,
        }


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def assess(
    complete: Iterable[str],
    records: Mapping[str, VerifyRecord | None],
    now: datetime,
    *,
    max_age: timedelta = timedelta(hours=26),
    unverified_grace: timedelta = timedelta(hours=6),
) -> FreshnessReport:
    """The report for the complete backup ids ``complete`` and their verify ``records``.

    Pure: ``records`` maps an id to its record (``None``: unreadable); a missing id has none.
    """
    taken = sorted(
        ((t, i) for i in complete if (t := parse_backup_id(i)) is not None), reverse=True
    )
    if not taken:
        return FreshnessReport(True, "no complete backup in the store", now)
    newest_t, newest = taken[0]
    newest_age = (now - newest_t).total_seconds()
    record = records.get(newest)
    newest_verified = None if record is None else record.ok
    verified = next(((t, i) for t, i in taken if (r := records.get(i)) and r.ok), None)
    verified_age = None if verified is None else (now - verified[0]).total_seconds()
    problems = []
    if verified is None:
        problems.append("no verified backup")
    elif now - verified[0] > max_age:
        problems.append(f"newest verified backup {verified[1]} is older than {_hours(max_age)}")
    if newest_verified is False:
        problems.append(f"verification of the newest backup {newest} failed")
    elif newest_verified is None and now - newest_t > unverified_grace:
        problems.append(f"newest backup {newest} is not verified after {_hours(unverified_grace)}")
    summary = "; ".join(problems) or f"newest verified backup {verified and verified[1]}"
    return FreshnessReport(
        degraded=bool(problems),
        summary=summary,
        checked_at=now,
        newest_id=newest,
        newest_age_s=round(newest_age, 1),
        newest_verified=newest_verified,
        verified_id=None if verified is None else verified[1],
        verified_age_s=None if verified_age is None else round(verified_age, 1),
    )


def _now() -> datetime:
    return datetime.now(UTC)


class BackupFreshness:
    """The freshness of the backups in ``store``, refreshed at most every ``cache_ttl`` seconds.

    Args:
        store: the backups' store (the one ``backup run`` writes to).
        max_age: how old the newest verified backup may be (26 h: a daily backup, verified,
            with two hours' slack).
        unverified_grace: how long the newest backup may wait for its verify record.
        cache_ttl: seconds a report is served from memory (the store is read once per TTL).
        clock: the current UTC time; ``monotonic``: seconds for the cache (both injectable).

    Raises:
        ConfigError: a non-positive ``max_age`` or a negative ``cache_ttl``/``unverified_grace``.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        max_age: timedelta = timedelta(hours=26),
        unverified_grace: timedelta = timedelta(hours=6),
        cache_ttl: float = 300.0,
        clock: Callable[[], datetime] = _now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_age <= timedelta(0):
            raise ConfigError("max_age", f"expected a positive duration, got {max_age}")
        if unverified_grace < timedelta(0):
            raise ConfigError("unverified_grace", f"expected >= 0, got {unverified_grace}")
        if cache_ttl < 0:
            raise ConfigError("cache_ttl", f"expected seconds >= 0, got {cache_ttl!r}")
        self.store = store
        self.max_age = max_age
        self.unverified_grace = unverified_grace
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._monotonic = monotonic
        self._cached: tuple[float, FreshnessReport] | None = None
        self._lock = asyncio.Lock()
        #: refreshes that read the store (for tests and the curious)
        self.reads = 0
        _track(self)

    @property
    def last(self) -> FreshnessReport | None:
        """The last report made (what the OpenTelemetry gauges show), without any I/O."""
        return None if self._cached is None else self._cached[1]

    async def report(self) -> FreshnessReport:
        """The current report: from memory within ``cache_ttl``, else read from the store.

        Raises:
            BackendUnavailable: the store cannot be listed (the health check then fails).
        """
        async with self._lock:  # one refresh at a time; the others then get its result
            if self._cached is not None and self._cached[0] > self._monotonic():
                return self._cached[1]
            made = await self._read()
            self._cached = (self._monotonic() + self.cache_ttl, made)
            return made

    async def gauges(self) -> dict[str, float]:
        """For ``metrics_routes(gauges={"backup": freshness.gauges})``."""
        return (await self.report()).gauges()

    async def _read(self) -> FreshnessReport:
        self.reads += 1
        objects = await self.store.list()
        keys = {o.key for o in objects}
        complete = sorted(
            (k.split("/", 1)[0] for k in keys if k.endswith(f"/{MANIFEST}")), reverse=True
        )
        records: dict[str, VerifyRecord | None] = {}
        for backup_id in complete[:MAX_RECORD_READS]:
            key = next(
                (k for k in (f"{backup_id}/{backup_id}.verify.json", f"{backup_id}.verify.json")
                 if k in keys),
                None,
            )  # fmt: skip
            if key is None:
                continue
            record = read_verify_record(await self.store.get_bytes(key))
            records[backup_id] = record
            if record is not None and record.ok:
                break  # older records cannot change the report
        return assess(
            complete,
            records,
            self._clock(),
            max_age=self.max_age,
            unverified_grace=self.unverified_grace,
        )


# ---- OpenTelemetry: observable gauges over the last reports (no I/O in a callback) --------

_tracked: weakref.WeakSet[BackupFreshness] = weakref.WeakSet()
_registered = False


def _ages(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    out = []
    for source in list(_tracked):
        last = source.last
        if last is None:
            continue
        for which, age in (("newest", last.newest_age_s), ("verified", last.verified_age_s)):
            if age is not None:
                out.append(Observation(age, {"store": source.store.url, "backup": which}))
    return out


def _verified(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    out = []
    for source in list(_tracked):
        last = source.last
        if last is not None and last.newest_id is not None:
            out.append(Observation(1 if last.newest_verified else 0, {"store": source.store.url}))
    return out


def _track(source: BackupFreshness) -> None:
    global _registered
    _tracked.add(source)
    if _registered:
        return
    _registered = True
    meter = telemetry.get_meter("db.backup")
    meter.create_observable_gauge(
        telemetry.BACKUP_AGE, [_ages], unit="s",
        description="age of the newest backup and of the newest verified one",
    )  # fmt: skip
    meter.create_observable_gauge(
        telemetry.BACKUP_VERIFIED, [_verified], unit="1",
        description="1 when the newest backup is verified ok, else 0",
    )  # fmt: skip
