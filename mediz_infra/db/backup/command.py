"""``mediz-infra backup run|list|restore|verify``: the command line over :class:`Backups`.

``prune``, ``keep`` and ``unkeep`` are in :mod:`.prune_command`.

The destination is ``--to URL`` or ``S3_URL``; the key (for encryption and for restoring an
encrypted backup) is ``MEDIZ_BACKUP_KEY``, read from the environment only, never printed.
Exit codes: 0 done (``verify``: passed), 1 the operation failed, or ``verify`` found the backup
bad (cause and fix on stderr), 2 a usage or setting error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..._urls import redact
from ...backends.objectstore import create_object_store
from ...errors import BackupError, ConfigError, InfraError
from .backups import Backups
from .crypto import parse_key
from .progress import Progress, human_bytes
from .prune_command import COMMANDS as PRUNE_COMMANDS
from .prune_command import add_prune_arguments, run_prune_command

__all__ = ["add_arguments", "backup"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
KEY_ENV = "MEDIZ_BACKUP_KEY"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``backup`` subcommands and their options."""
    sub = parser.add_subparsers(dest="backup_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--to", dest="store_url", help="s3://bucket/prefix or file:///path "
                        "(default: S3_URL)")  # fmt: skip
    run = sub.add_parser("run", parents=[common], help="dump the database into the store")
    run.add_argument("--database-url", help="default: DATABASE_URL")
    run.add_argument("--level", type=int, default=3, help="zstd level 1-22 (default 3)")
    run.add_argument(
        "--checksums",
        choices=("server", "stream"),
        default="server",
        help="per-table sums: the server hashes the rows (default), or this process hashes "
        "pg_dump's output as it passes (the server reads each table once)",
    )
    run.add_argument("--encrypt", action="store_true", help=f"AES-256-GCM with ${KEY_ENV}")
    run.add_argument("--part-size", type=int, help="S3 part size in MiB (default 8)")
    run.add_argument("--concurrency", type=int, help="S3 parts uploaded at once (default 4)")
    listing = sub.add_parser("list", parents=[common], help="complete backups, oldest first")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    restore = sub.add_parser("restore", parents=[common], help="restore a backup into a database")
    restore.add_argument("backup_id")
    restore.add_argument("--target", required=True, help="postgresql:// URL of the database")
    restore.add_argument("--clean", action="store_true", help="allow a non-empty target: "
                         "drop and recreate what the backup holds")  # fmt: skip
    verify = sub.add_parser("verify", parents=[common], help="restore into a scratch database "
                            "and compare with the manifest")  # fmt: skip
    verify.add_argument("backup_id")
    verify.add_argument("--database-url", help="its server holds the scratch database "
                        "(default: DATABASE_URL)")  # fmt: skip
    verify.add_argument("--scratch", help="postgresql:// URL of another server for the scratch "
                        "database (the role needs CREATEDB)")  # fmt: skip
    add_prune_arguments(sub, common)


def _key(required: bool) -> bytes | None:
    text = os.environ.get(KEY_ENV)
    if not text:
        if required:
            raise ConfigError(KEY_ENV, "unset; --encrypt needs a 32-byte key in it")
        return None
    return parse_key(text)


def _store(args: argparse.Namespace, settings: Any) -> Any:
    url = args.store_url or settings.s3_dsn()  # settings read only when --to is not given
    if not url:
        raise ConfigError("S3_URL", "unset; set it or pass --to s3://bucket/prefix")
    options: dict[str, Any] = {}
    if getattr(args, "part_size", None):
        options["part_size"] = args.part_size * 1024 * 1024
    if getattr(args, "concurrency", None):
        options["concurrency"] = args.concurrency
    return create_object_store(url, **options)


async def backup(args: argparse.Namespace, settings: Any) -> int:
    """Run one ``backup`` subcommand; ``settings`` supplies the default URLs.

    ``settings`` is asked only for a URL that the arguments do not give, so the command line can
    pass an object that reads the environment on first use.
    """
    store = _store(args, settings)
    try:
        command = args.backup_command
        if command in PRUNE_COMMANDS:
            return await run_prune_command(args, store)
        if command == "run":
            key = _key(required=args.encrypt) if args.encrypt else None
            backups = Backups(store, key=key, level=args.level, checksums=args.checksums)
            url = args.database_url or settings.database_dsn()
            if not url:
                raise ConfigError("DATABASE_URL", "unset; set it or pass --database-url")
            _say(f"backup: {redact(url)} -> {store.url}")
            bar = Progress("dumped", sys.stderr)
            manifest = await backups.run(url, progress=bar, notify=_say)
            ratio = manifest.stored_size / max(manifest.raw_size, 1)
            _say(
                f"backup {manifest.id} done: {bar.summary()}; stored "
                f"{human_bytes(manifest.stored_size)} ({ratio:.0%}), {len(manifest.tables)} tables"
            )
            print(manifest.id)
            return EXIT_OK
        backups = Backups(store, key=_key(required=False))
        if command == "list":
            entries = await backups.list()
            if args.json:
                print(json.dumps([e.as_dict() for e in entries], indent=2))
            else:
                print(
                    f"{'id':18} {'database':16} {'finished':26} {'stored':>10} enc tables verified"
                )
                for e in entries:
                    d = e.as_dict()
                    enc = "yes" if d["encrypted"] else "no"
                    print(
                        f"{d['id']:18} {d['database']:16} {d['finished_at'][:25]:26} "
                        f"{human_bytes(d['stored_size']):>10} {enc:3} {d['tables']:<6} "
                        f"{_verified(e)}"
                    )
                _say(f"{len(entries)} complete backups in {store.url}")
            return EXIT_OK
        if command == "restore":
            _say(f"restore: {args.backup_id} from {store.url} -> {redact(args.target)}")
            bar = Progress("restored", sys.stderr)
            await backups.restore(
                args.backup_id, args.target, clean=args.clean, progress=bar, notify=_say
            )
            _say(f"restore of {args.backup_id} done: {bar.summary()}")
            return EXIT_OK
        if command == "verify":
            return await _verify(backups, args, settings, store.url)
        raise ConfigError("command", f"unknown backup command {command!r}")
    except ConfigError:
        raise
    except (BackupError, InfraError) as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED
    finally:
        await store.aclose()


def _verified(entry: Any) -> str:
    if entry.verified is None:
        return "never"
    return f"{'ok' if entry.verified else 'FAILED'} {entry.verified_at:%Y-%m-%d %H:%M}Z"


async def _verify(backups: Backups, args: argparse.Namespace, settings: Any, where: str) -> int:
    url = args.database_url or settings.database_dsn()
    if not url and not args.scratch:
        raise ConfigError("DATABASE_URL", "unset; set it, or pass --database-url or --scratch")
    server = args.scratch or url
    _say(f"verify: {args.backup_id} from {where} -> a scratch database on {redact(server)}")
    bar = Progress("restored", sys.stderr)
    record = await backups.verify(args.backup_id, url or server, scratch_url=args.scratch,
                                  progress=bar)  # fmt: skip
    if record.ok:
        took = f"{human_bytes(bar.done)} restored and compared in {record.duration_s:.1f} s"
        _say(f"verify of {args.backup_id} passed: every table matches the manifest ({took})")
        return EXIT_OK
    _say(f"verify of {args.backup_id} FAILED ({len(record.mismatches)} problems):")
    for line in record.mismatches:
        _say(f"  {line}")
    return EXIT_FAILED
