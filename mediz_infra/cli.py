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
import math
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


def _number(kind: type[int] | type[float], low: float, *, above: bool, unit: str) -> Any:
    """An argparse ``type`` for a finite number ``> low`` (``above``) or ``>= low``: a bad value
    is a usage error naming the option (exit 2), never a traceback."""
    bound = f"> {low:g}" if above else f">= {low:g}"
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {what} {bound}{unit}, got {text!r}"
            ) from None
        if not math.isfinite(value) or (value <= low if above else value < low):
            raise argparse.ArgumentTypeError(f"must be {bound}{unit}, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _add_worker_arguments(work: argparse.ArgumentParser) -> None:
    work.add_argument("target", help="the Queue as module:attribute, e.g. app.jobs:queue")
    seconds = _number(float, 0, above=True, unit=" seconds")
    add = work.add_argument
    add(
        "--concurrency",
        type=_number(int, 1, above=False, unit=""),
        default=10,
        help="jobs run at once (10)",
    )
    add(
        "--lease",
        type=seconds,
        default=30.0,
        help="seconds a pickup is held without a heartbeat (30)",
    )
    add(
        "--heartbeat",
        type=seconds,
        default=None,
        help="seconds between lease heartbeats, < --lease (lease / 3)",
    )
    add(
        "--grace",
        type=_number(float, 0, above=False, unit=" seconds"),
        default=30.0,
        help="on SIGTERM/SIGINT, seconds running jobs get to finish (30)",
    )
    add("--poll", type=seconds, default=1.0, help="longest idle wait, seconds (1)")
    add(
        "--max-stalls",
        type=_number(int, 0, above=False, unit=""),
        default=5,
        help="take-backs from dead workers before a job is dead (5)",
    )
    add(
        "--presence-ttl",
        type=seconds,
        default=5.0,
        help="seconds a killed worker stays listed in the monitor (5)",
    )
    add(
        "--rate-limit",
        type=_number(float, 0, above=True, unit=" jobs per second"),
        default=None,
        help="jobs started per second across the queue's workers; "
        "replaces the Queue's rate_limit (the Queue's)",
    )
    add(
        "--rate-burst",
        type=_number(int, 1, above=False, unit=""),
        default=None,
        help="starts allowed at once after a quiet spell; needs a rate limit "
        "(the Queue's, or rate-limit rounded up)",
    )
    add(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="the log level when the app module set up no logging (info)",
    )


def _worker_options(args: argparse.Namespace) -> None:
    """The checks that span options (each option's own range is checked by argparse)."""
    lease, heartbeat = args.lease, args.heartbeat
    if heartbeat is not None and heartbeat >= lease:
        raise ConfigError("--heartbeat", f"must be < --lease ({lease:g} s), got {heartbeat:g}")


async def _work(args: argparse.Namespace) -> int:
    import logging
    import traceback

    from ._urls import redact_text
    from .queue import Worker

    _worker_options(args)
    queue = _load_queue(args.target)
    if not logging.getLogger().handlers:  # the app module set up no logging: the worker's own
        logging.basicConfig(
            level=args.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    if args.rate_limit is not None or args.rate_burst is not None:
        rate_limit = args.rate_limit if args.rate_limit is not None else queue.rate
        if rate_limit is None:
            raise ConfigError(
                "--rate-burst",
                "needs a rate limit: give --rate-limit, or a rate_limit to the Queue",
            )
        if args.rate_limit is None:
            rate_limit = rate_limit[0]  # the queue's own rate, with the burst given here
        queue.set_rate_limit(rate_limit, args.rate_burst)
    worker = Worker(
        queue,
        concurrency=args.concurrency,
        lease=args.lease,
        heartbeat=args.heartbeat,
        grace=args.grace,
        poll=args.poll,
        max_stalls=args.max_stalls,
        presence_ttl=args.presence_ttl,
    )
    tasks = ", ".join(sorted(queue.tasks)) or "none"
    rate = (
        "no rate limit" if queue.rate is None else f"rate {queue.rate[0]:g}/s burst {queue.rate[1]}"
    )
    _progress(
        f"worker {worker.id}: {queue!r}, concurrency {args.concurrency}, {rate}, tasks: {tasks}"
    )
    _progress("working; SIGTERM or Ctrl-C stops fetching and lets running jobs finish")
    try:
        stats = await worker.run(handle_signals=True)
    except Exception as exc:  # the app's lifespan failed (or the worker broke): masked
        _progress(redact_text(traceback.format_exc()).rstrip())
        _progress(
            f"error: the worker stopped: {redact_text(f'{type(exc).__name__}: {exc}')}; "
            "if a lifespan of the queue raised it, fix what it opens (a URL, a server) and restart"
        )
        return EXIT_FAILED
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
    _add_worker_arguments(
        sub.add_parser("worker", help="run a job queue's worker until SIGTERM or Ctrl-C")
    )
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
