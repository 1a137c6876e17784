"""``mediz-infra``: the command line: ``check``, ``settings``, ``db advise``, ``worker`` and
``backup``.

Every failure prints its cause and the fix and exits non-zero; nothing prints a password.
``check`` exits 0 when every configured backend answers (an unset one is reported as ``off``),
1 when one is down or unreachable, and 2 on a usage or settings error (nothing was checked).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from .errors import ConfigError, InfraError

__all__ = ["main"]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Exit codes: what a script or an orchestrator can tell apart.
EXIT_OK = 0  # every configured backend answered (unconfigured ones are reported, not failed)
EXIT_FAILED = 1  # a backend is down or could not be reached
EXIT_USAGE = 2  # the command or a setting is wrong: nothing was checked


def load_settings() -> Any:
    """The settings from the environment (pydantic-settings is imported only here)."""
    from .config import load_settings as load

    return load()


class _SettingsOnUse:
    """The settings, read from the environment on first use: ``backup run --to URL
    --database-url URL`` reads none, and pydantic-settings is about 10 MB of its peak memory."""

    def __init__(self) -> None:
        self._settings: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._settings is None:
            self._settings = load_settings()
        return getattr(self._settings, name)


async def _check(as_json: bool) -> int:
    from .infra import Infra

    settings = load_settings()  # a ConfigError here is a usage error (main)
    infra = Infra.from_settings(settings)
    _progress(f"connecting: {infra!r}")
    for name, unset in (("DATABASE_URL", infra.db is None), ("REDIS_URL", infra.redis is None)):
        if unset:
            _progress(f"note: {name} is unset; that backend is reported as off")
    started = time.perf_counter()
    try:
        async with infra:
            _progress(f"connected in {time.perf_counter() - started:.2f} s; checking backends ...")
            detail = await infra.check()
    except ConfigError:
        raise
    except InfraError as exc:
        _progress(f"error: {exc}")
        return EXIT_FAILED
    if as_json:
        print(json.dumps(detail, indent=2, default=str))
    else:
        for name, part in detail.items():
            extra = part.get("error") or part.get("detail") or f"{part.get('latency_ms', '?')} ms"
            print(f"{name:8} {part['status']:5} {extra}")
    # "off" is a backend left unconfigured on purpose, not a failed check
    healthy = all(part["status"] in ("ok", "off") for part in detail.values())
    return EXIT_OK if healthy else EXIT_FAILED


def _load_queue(target: str) -> Any:
    """The :class:`~mediz_infra.queue.Queue` that ``module:attribute`` names."""
    import importlib

    from .queue import Queue

    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigError("target", f"{target!r} is not module:attribute (e.g. app.jobs:queue)")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as uvicorn does: the app's modules from where it runs
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            "target",
            f"cannot import {module_name!r} ({exc}); run from the app's directory "
            "or add it to PYTHONPATH",
        ) from None
    queue = getattr(module, attribute, None)
    if not isinstance(queue, Queue):
        raise ConfigError(
            "target",
            f"{module_name}.{attribute} is {type(queue).__name__}, not a Queue; "
            "name the Queue object the tasks are registered on",
        )
    return queue


async def _work(args: argparse.Namespace) -> int:
    from .queue import Worker

    queue = _load_queue(args.target)
    worker = Worker(
        queue,
        concurrency=args.concurrency,
        lease=args.lease,
        grace=args.grace,
        max_stalls=args.max_stalls,
    )
    tasks = ", ".join(sorted(queue.tasks)) or "none"
    _progress(f"worker {worker.id}: {queue!r}, concurrency {args.concurrency}, tasks: {tasks}")
    _progress("working; SIGTERM or Ctrl-C stops fetching and lets running jobs finish")
    try:
        stats = await worker.run(handle_signals=True)
    finally:
        await queue.aclose()
    _progress(
        f"stopped: {stats.completed} completed, {stats.retried} retried, {stats.dead} dead, "
        f"{stats.released} handed back, {stats.lost_leases} lost leases, "
        f"{stats.backend_errors} broker errors"
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mediz-infra`` command."""
    parser = argparse.ArgumentParser(prog="mediz-infra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="connect to every configured backend and report health")
    check.add_argument("--json", action="store_true", help="print the full detail as JSON")
    sub.add_parser("settings", help="print the settings read from the environment (redacted)")
    db = sub.add_parser("db", help="database operations").add_subparsers(
        dest="db_command", required=True
    )
    from .db.advisor.command import add_arguments, advise

    add_arguments(db.add_parser("advise", help="suggest indexes; report unused and duplicate ones"))
    work = sub.add_parser("worker", help="run a job queue's worker until SIGTERM or Ctrl-C")
    work.add_argument("target", help="the Queue as module:attribute, e.g. app.jobs:queue")
    work.add_argument("--concurrency", type=int, default=10, help="jobs run at once (10)")
    work.add_argument("--lease", type=float, default=30.0, help="lease seconds (30)")
    work.add_argument("--grace", type=float, default=30.0, help="shutdown grace seconds (30)")
    work.add_argument("--max-stalls", type=int, default=5, help="take-backs before dead (5)")
    from .db.backup.command import add_arguments as add_backup_arguments
    from .db.backup.command import backup

    add_backup_arguments(
        sub.add_parser("backup", help="back up, list, restore, verify (pg_dump to S3)")
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            return asyncio.run(backup(args, _SettingsOnUse()))
        if args.command == "db":
            url = args.database_url or load_settings().database_dsn()
            if not url:
                raise ConfigError("DATABASE_URL", "unset; set it or pass --database-url")
            return asyncio.run(advise(url, args))
        if args.command == "worker":
            return asyncio.run(_work(args))
        if args.command == "settings":
            print(json.dumps(load_settings().describe(), indent=2, default=str))
            return 0
        return asyncio.run(_check(args.json))
    except InfraError as exc:  # a setting is wrong (ConfigError): nothing was checked
        _progress(f"error: {exc}")
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
