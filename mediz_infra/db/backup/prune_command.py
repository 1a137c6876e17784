"""``mediz-infra backup prune|keep|unkeep``: retention from the command line.

``prune`` is a dry run unless ``--apply``: it prints every backup with ``keep`` or ``delete``
and the reasons (``newest``, ``daily 2026-12-05``, ``pinned``, ``outside the policy``...).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from ...backends.objectstore import ObjectStore
from ...errors import ConfigError
from .retention import Retention, pin, prune, unpin

__all__ = ["add_prune_arguments", "run_prune_command"]

COMMANDS = ("prune", "keep", "unkeep")
_DEFAULT = Retention()


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def add_prune_arguments(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``prune``, ``keep`` and ``unkeep`` to the ``backup`` subparsers ``sub``."""
    grace_h = _DEFAULT.grace.total_seconds() / 3600
    p = sub.add_parser(
        "prune", parents=[common], help="delete backups outside the retention policy "
        "(a dry run unless --apply)",
    )  # fmt: skip
    p.add_argument(
        "--daily",
        type=_count,
        default=_DEFAULT.daily,
        help=f"days (that have a backup) to keep the newest of (default {_DEFAULT.daily})",
    )
    p.add_argument(
        "--weekly",
        type=_count,
        default=_DEFAULT.weekly,
        help=f"ISO weeks likewise (default {_DEFAULT.weekly})",
    )
    p.add_argument(
        "--monthly",
        type=_count,
        default=_DEFAULT.monthly,
        help=f"months likewise (default {_DEFAULT.monthly})",
    )
    p.add_argument(
        "--grace-hours",
        type=float,
        default=grace_h,
        help=f"age before an incomplete backup is deleted (default {grace_h:g})",
    )
    p.add_argument("--apply", action="store_true", help="delete (default: only show the plan)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    keep = sub.add_parser("keep", parents=[common], help="pin a backup: prune never deletes it")
    keep.add_argument("backup_id")
    keep.add_argument("--reason", default="", help="why (stored with the pin)")
    unkeep = sub.add_parser("unkeep", parents=[common], help="remove a backup's pin")
    unkeep.add_argument("backup_id")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run_prune_command(args: argparse.Namespace, store: ObjectStore) -> int:
    """Run ``prune``, ``keep`` or ``unkeep``; the exit code (0 done)."""
    if args.backup_command == "keep":
        await pin(store, args.backup_id, reason=args.reason)
        _say(f"backup {args.backup_id} pinned: prune will keep it (`backup unkeep` to undo)")
        return 0
    if args.backup_command == "unkeep":
        had = await unpin(store, args.backup_id)
        _say(f"backup {args.backup_id}: " + ("pin removed" if had else "was not pinned"))
        return 0
    if args.grace_hours < 0:
        raise ConfigError("--grace-hours", f"expected >= 0, got {args.grace_hours:g}")
    policy = Retention(
        daily=args.daily,
        weekly=args.weekly,
        monthly=args.monthly,
        grace=timedelta(hours=args.grace_hours),
    )
    decided = await prune(store, policy, apply=args.apply)
    if args.json:
        print(json.dumps([d.as_dict() for d in decided.decisions], indent=2))
    else:
        for d in decided.decisions:
            verb = "keep" if d.keep else ("deleted" if args.apply else "delete")
            print(f"{verb:7} {d.id}  {', '.join(d.reasons)}")
    gone = len(decided.deleted)
    total = len(decided.decisions)
    if args.apply:
        _say(f"pruned {gone} of {total} backups in {store.url}; {total - gone} kept")
    else:
        _say(
            f"dry run: would delete {gone} of {total} backups in {store.url}; "
            "nothing was deleted (pass --apply to delete)"
        )
    return 0
