"""Scheduled backups on the app's queue: a daily ``backup run`` and a weekly ``backup verify``.

:func:`schedule_backups` registers two cron jobs on a ``mediz_infra.queue.Queue`` (any object
with its ``cron`` decorator). Each job runs the ``mediz-infra backup`` command line in a child
process (``python -m mediz_infra``): the worker keeps no pg_dump pipeline in its own memory, a
crash of the dump cannot take the worker down, and the jobs do exactly what an operator's
command does (its lock, its verify record). URLs reach the child through its environment
(``DATABASE_URL``, ``S3_URL``), never its arguments, so no credential shows in ``ps``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..._urls import redact
from ...errors import BackupError
from .retention import Retention

__all__ = ["BackupJobs", "CronQueue", "schedule_backups"]

DEFAULT_COMMAND = (sys.executable, "-m", "mediz_infra")


class CronQueue(Protocol):
    """What :func:`schedule_backups` needs of a queue: ``Queue.cron``."""

    def cron(
        self,
        expression: str | None = ...,
        *,
        name: str | None = ...,
        skip_if_running: bool = ...,
        timeout: float | None = ...,
    ) -> Callable[[Callable[[], Awaitable[Any]]], Any]: ...


@dataclass(frozen=True, slots=True)
class BackupJobs:
    """The registered jobs: their task names and schedules (UTC cron expressions)."""

    backup: str
    verify: str
    backup_cron: str
    verify_cron: str


async def run_cli(
    command: Sequence[str], args: Sequence[str], env: Mapping[str, str] | None = None
) -> str:
    """Run ``command + args`` with ``env`` added to this process's environment; its stdout.

    Raises:
        BackupError: it exited non-zero (its exit code and the end of its stderr, redacted).
    """
    proc = await asyncio.create_subprocess_exec(
        *command, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        out, err = await proc.communicate()
    finally:
        if proc.returncode is None:  # cancelled (the job's timeout): stop the child too
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        tail = redact(err.decode(errors="replace").strip())[-1000:]
        raise BackupError(f"`backup {' '.join(args[1:2])}` exited with {proc.returncode}: {tail}")
    return out.decode(errors="replace")


def schedule_backups(
    queue: CronQueue,
    *,
    store_url: str | None = None,
    database_url: str | None = None,
    backup_cron: str = "15 2 * * *",
    verify_cron: str = "45 4 * * 0",
    encrypt: bool = False,
    retention: Retention | None = None,
    timeout: float = 6 * 3600.0,
    command: Sequence[str] = DEFAULT_COMMAND,
) -> BackupJobs:
    """Register ``mediz.backup.run`` (daily) and ``mediz.backup.verify`` (weekly) on ``queue``.

    Args:
        store_url: the destination (default: the workers' ``S3_URL``).
        database_url: the database (default: the workers' ``DATABASE_URL``).
        backup_cron: when to back up (default 02:15 UTC every day).
        verify_cron: when to verify the newest backup (default 04:45 UTC on Sundays).
        encrypt: ``backup run --encrypt`` (the workers need ``MEDIZ_BACKUP_KEY``).
        retention: when given, ``backup prune --apply`` with it after each successful backup.
        timeout: seconds a job may run before it is stopped (6 h).
        command: the command line to run (default ``python -m mediz_infra``).

    Both jobs skip a tick while the previous one still runs; a failed job is not retried (the
    next tick is the retry) and shows in the queue's dead letters with the command's error.

    Raises:
        ConfigError: a bad cron expression (from the queue).
    """
    env = {}
    if store_url:
        env["S3_URL"] = store_url
    if database_url:
        env["DATABASE_URL"] = database_url
    run_args = ["backup", "run", *(["--encrypt"] if encrypt else [])]

    async def backup() -> str:
        backup_id = (await run_cli(command, run_args, env)).strip()
        if retention is not None:
            await run_cli(command, _prune_args(retention), env)
        return backup_id

    async def verify() -> str | None:
        listed = json.loads(await run_cli(command, ["backup", "list", "--json"], env))
        if not listed:
            return None
        newest = str(listed[-1]["id"])  # listed oldest first
        await run_cli(command, ["backup", "verify", newest], env)
        return newest

    register = queue.cron
    register(backup_cron, name="mediz.backup.run", skip_if_running=True, timeout=timeout)(backup)
    register(verify_cron, name="mediz.backup.verify", skip_if_running=True, timeout=timeout)(verify)
    return BackupJobs("mediz.backup.run", "mediz.backup.verify", backup_cron, verify_cron)


def _prune_args(policy: Retention) -> list[str]:
    return [
        "backup", "prune", "--apply", "--daily", str(policy.daily), "--weekly",
        str(policy.weekly), "--monthly", str(policy.monthly), "--grace-hours",
        f"{policy.grace.total_seconds() / 3600:g}",
    ]  # fmt: skip
