"""Retention: which backups a grandfather-father-son policy keeps, and pruning the rest.

The rules (all times UTC; a backup's time is its id, the moment its run started):

- **daily N**: of the N most recent calendar days *that have a complete backup*, the newest
  backup of each day is kept;
- **weekly N**: the same over ISO weeks (Monday to Sunday, ``date.isocalendar()``);
- **monthly N**: the same over calendar months;
- the newest complete backup is always kept, whatever the counts (a policy of zeros, or backups
  that stopped a year ago, never empties the store);
- a **pinned** backup (``backup keep ID``: a ``keep.json`` object in its folder) is kept
  whatever the policy says (it still fills its day's, week's or month's slot if it is the
  newest of it);
- an **incomplete** backup (objects without a manifest: a run killed after its dump landed, or
  a half-deleted backup) is deleted once its id is older than ``grace``; a younger one may
  still be running and is kept (so keep ``grace`` above your longest backup run);
- folders whose name is not a backup id, and loose objects, are never touched.

Counting days "that have a backup", as restic's and borg's ``--keep-daily`` do, rather than the
last N calendar days: when backups stop for a while, prune does not delete the history that
the stopped days would have replaced.

Deletion order for one backup: the manifest first, so a half-deleted backup is never listed as
good; then the data; then the side records (``keep.json``, ``<id>.verify.json``, anything else
ending in ``.json``). A prune interrupted half-way leaves an incomplete backup, which the next
prune removes after ``grace``.

:func:`plan` is pure (a list of :class:`Candidate` in, a :class:`Plan` out); :func:`prune`,
:func:`pin` and :func:`unpin` are the thin I/O around it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ...backends.objectstore import ObjectInfo, ObjectStore
from ...errors import BackupError, ConfigError

__all__ = [
    "PIN",
    "Candidate",
    "Decision",
    "Plan",
    "Retention",
    "inventory",
    "parse_backup_id",
    "pin",
    "plan",
    "prune",
    "unpin",
]

ID_FORMAT = "%Y%m%dT%H%M%SZ"
MANIFEST = "manifest.json"
PIN = "keep.json"


def parse_backup_id(name: str) -> datetime | None:
    """The start time a backup id names (``20261205T130102Z``), or ``None`` if it is not one."""
    if len(name) != 16:
        return None
    try:
        return datetime.strptime(name, ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Retention:
    """A grandfather-father-son policy.

    Args:
        daily: days (that have a backup) whose newest backup is kept (default 7).
        weekly: ISO weeks likewise (default 4).
        monthly: calendar months likewise (default 12).
        grace: how old an incomplete backup must be before it is deleted (default 1 day; a
            run still uploading must never be pruned, so keep it above your longest backup).

    Raises:
        ConfigError: a negative count or a negative grace.
    """

    daily: int = 7
    weekly: int = 4
    monthly: int = 12
    grace: timedelta = timedelta(days=1)

    def __post_init__(self) -> None:
        for name in ("daily", "weekly", "monthly"):
            if getattr(self, name) < 0:
                raise ConfigError(f"retention.{name}", f"expected >= 0, got {getattr(self, name)}")
        if self.grace < timedelta(0):
            raise ConfigError("retention.grace", f"expected >= 0, got {self.grace}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One backup folder as prune sees it.

    Args:
        id: the folder's name (the backup id).
        taken_at: the time the id names (UTC).
        complete: whether it has a manifest.
        pinned: whether it has a ``keep.json`` pin.
        keys: its objects' keys, relative to the store.
    """

    id: str
    taken_at: datetime
    complete: bool = True
    pinned: bool = False
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """Why a backup is kept (``reasons``: ``daily 2026-12-05``, ``pinned``...) or deleted."""

    id: str
    keep: bool
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "keep": self.keep, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of :func:`plan`: a decision per backup, newest first."""

    decisions: list[Decision] = field(default_factory=list)

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if d.keep]

    @property
    def deleted(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]


def _slots(
    complete: Sequence[Candidate], count: int, period: Callable[[datetime], str], label: str
) -> dict[str, str]:
    """The newest backup of each of the ``count`` most recent periods that have one."""
    chosen: dict[str, str] = {}
    seen: set[str] = set()
    for c in complete:  # newest first
        if len(seen) >= count:
            break
        key = period(c.taken_at)
        if key not in seen:
            seen.add(key)
            chosen[c.id] = f"{label} {key}"
    return chosen


def _day(t: datetime) -> str:
    return t.date().isoformat()


def _week(t: datetime) -> str:
    iso = t.date().isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _month(t: datetime) -> str:
    return f"{t.year}-{t.month:02d}"


def plan(candidates: Iterable[Candidate], policy: Retention, now: datetime) -> Plan:
    """Decide, without I/O, which backups ``policy`` keeps at time ``now``.

    Returns a :class:`Plan` with every candidate, newest first, each with its reasons.
    """
    ordered = sorted(candidates, key=lambda c: (c.taken_at, c.id), reverse=True)
    complete = [c for c in ordered if c.complete]
    reasons: dict[str, list[str]] = {c.id: [] for c in ordered}
    for count, period, label in (
        (policy.daily, _day, "daily"),
        (policy.weekly, _week, "weekly"),
        (policy.monthly, _month, "monthly"),
    ):
        for backup_id, slot in _slots(complete, count, period, label).items():
            reasons[backup_id].append(slot)
    if complete:
        reasons[complete[0].id].insert(0, "newest")
    decisions = []
    for c in ordered:
        why = reasons[c.id]
        if c.pinned:
            why.insert(0, "pinned")
        if c.complete:
            decisions.append(Decision(c.id, bool(why), tuple(why or ["outside the policy"])))
            continue
        if c.pinned:
            decisions.append(Decision(c.id, True, tuple(why)))
        elif now - c.taken_at < policy.grace:
            why = [f"incomplete, younger than {_hours(policy.grace)}"]
            decisions.append(Decision(c.id, True, tuple(why)))
        else:
            why = [f"incomplete for over {_hours(policy.grace)}"]
            decisions.append(Decision(c.id, False, tuple(why)))
    return Plan(decisions)


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def _group(objects: Iterable[ObjectInfo]) -> dict[str, list[ObjectInfo]]:
    """Objects by backup id: those in ``<id>/`` and loose side records ``<id>.<x>.json``."""
    found: dict[str, list[ObjectInfo]] = {}
    loose: list[tuple[str, ObjectInfo]] = []
    for info in objects:
        head, slash, _ = info.key.partition("/")
        if slash:
            if parse_backup_id(head) is not None:
                found.setdefault(head, []).append(info)
        elif info.key.endswith(".json"):
            loose.append((info.key.split(".", 1)[0], info))
    for backup_id, info in loose:
        if backup_id in found:  # a side record of a backup that has objects; else left alone
            found[backup_id].append(info)
    return found


async def inventory(store: ObjectStore) -> list[Candidate]:
    """Every backup folder in ``store`` (complete or not), from one listing."""
    candidates = []
    for backup_id, objects in _group(await store.list()).items():
        names = {o.key for o in objects}
        taken = parse_backup_id(backup_id)
        if taken is None:  # _group keeps parseable ids only
            continue
        candidates.append(
            Candidate(
                id=backup_id,
                taken_at=taken,
                complete=f"{backup_id}/{MANIFEST}" in names,
                pinned=f"{backup_id}/{PIN}" in names,
                keys=tuple(sorted(names)),
            )
        )
    return candidates


def deletion_order(backup_id: str, keys: Iterable[str]) -> list[str]:
    """Manifest first, then the data, then the side records (``*.json``)."""
    manifest = f"{backup_id}/{MANIFEST}"
    rest = sorted(k for k in keys if k != manifest)
    data = [k for k in rest if not k.endswith(".json")]
    side = [k for k in rest if k.endswith(".json")]
    return ([manifest] if manifest in keys else []) + data + side


def _now() -> datetime:
    return datetime.now(UTC)


async def prune(
    store: ObjectStore,
    policy: Retention | None = None,
    *,
    apply: bool = False,
    clock: Callable[[], datetime] = _now,
) -> Plan:
    """Decide with :func:`plan`, and with ``apply=True`` delete what it does not keep.

    A dry run (the default) reads one listing and deletes nothing. With ``apply``, each
    deleted backup loses its manifest first, then its data, then its side records.

    Raises:
        BackendUnavailable: the store cannot be listed or an object cannot be deleted (what
            was deleted before stays deleted; rerun to finish).
    """
    candidates = await inventory(store)
    decided = plan(candidates, policy or Retention(), clock())
    if apply:
        keys = {c.id: c.keys for c in candidates}
        for decision in decided.deleted:
            for key in deletion_order(decision.id, keys[decision.id]):
                await store.delete(key)
    return decided


async def _require_folder(store: ObjectStore, backup_id: str) -> None:
    if parse_backup_id(backup_id) is None:
        raise BackupError(f"backup: {backup_id!r} is not a backup id (see `backup list`)")
    if not await store.list(f"{backup_id}/"):
        raise BackupError(f"backup {backup_id!r}: no such backup in {store.url}; see `backup list`")


async def pin(
    store: ObjectStore, backup_id: str, *, reason: str = "", clock: Callable[[], datetime] = _now
) -> None:
    """Pin a backup: :func:`prune` never deletes it (``backup keep ID``).

    Raises:
        BackupError: ``backup_id`` is not an id, or no backup has it.
    """
    await _require_folder(store, backup_id)
    record = {"backup_id": backup_id, "pinned_at": clock().isoformat(), "reason": reason}
    await store.put_bytes(f"{backup_id}/{PIN}", json.dumps(record).encode())


async def unpin(store: ObjectStore, backup_id: str) -> bool:
    """Remove a pin (``backup unkeep ID``); whether there was one.

    Raises:
        BackupError: ``backup_id`` is not an id, or no backup has it.
    """
    await _require_folder(store, backup_id)
    key = f"{backup_id}/{PIN}"
    had = bool(await store.list(key))
    await store.delete(key)
    return had
