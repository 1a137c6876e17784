"""Scheduled backups: the cron jobs registered on a queue, and what they run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mediz_infra.backends import create_object_store
from mediz_infra.db.backup import Backups, CronQueue, Retention, schedule_backups
from mediz_infra.errors import BackupError
from mediz_infra.queue import Queue
from mediz_infra.queue.cron import Cron

pytestmark = pytest.mark.integration

FAKE_CLI = """
import json, os, sys
with open(os.environ["CALLS"], "a") as log:
    log.write(json.dumps([sys.argv[1:], os.environ.get("S3_URL")]) + "\\n")
if sys.argv[1:3] == ["backup", "list"]:
    print(json.dumps([{"id": "20261204T021500Z"}, {"id": "20261205T021500Z"}]))
if sys.argv[1:3] == ["backup", "verify"] and os.environ.get("FAIL"):
    print("error: pg_restore failed at postgresql://u:hunter2@h/db", file=sys.stderr)
    sys.exit(1)
"""


def test_the_jobs_are_registered_with_their_schedules() -> None:
    queue = Queue("ops")
    typed: CronQueue = queue  # Queue satisfies the protocol the helper takes
    jobs = schedule_backups(typed, store_url="file:///var/backups")
    assert (jobs.backup, jobs.verify) == ("mediz.backup.run", "mediz.backup.verify")
    assert set(queue.crons) == {"mediz.backup.run", "mediz.backup.verify"}
    daily, weekly = queue.crons["mediz.backup.run"], queue.crons["mediz.backup.verify"]
    assert daily.schedule == Cron("15 2 * * *") and weekly.schedule == Cron("45 4 * * 0")
    assert daily.skip_if_running and weekly.skip_if_running
    assert queue.tasks["mediz.backup.run"].retries == 0


async def test_the_weekly_job_verifies_the_newest_backup(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "fake_cli.py"
    script.write_text(FAKE_CLI)
    calls = tmp_path / "calls"
    monkeypatch.setenv("CALLS", str(calls))
    queue = Queue("ops")
    secret_url = "s3://KEY:s3cret@bucket/app"
    schedule_backups(queue, store_url=secret_url, command=[sys.executable, str(script)])
    verify = queue.tasks["mediz.backup.verify"].func
    assert await verify() == "20261205T021500Z"
    seen = [json.loads(line) for line in calls.read_text().splitlines()]
    assert seen == [
        [["backup", "list", "--json"], secret_url],
        [["backup", "verify", "20261205T021500Z"], secret_url],  # the URL by env, not argv
    ]
    monkeypatch.setenv("FAIL", "1")
    with pytest.raises(BackupError, match="exited with 1: error: pg_restore failed") as failed:
        await verify()
    assert "hunter2" not in str(failed.value)


async def test_the_daily_job_backs_up_and_prunes(tmp_path: Path, database_url: str) -> None:
    queue = Queue("ops")
    store_url = f"file://{tmp_path}/backups"
    schedule_backups(
        queue, store_url=store_url, database_url=database_url,
        retention=Retention(daily=1, weekly=0, monthly=0),
    )  # fmt: skip
    backup = queue.tasks["mediz.backup.run"].func
    first = await backup()
    store = create_object_store(store_url)
    old = "20200101T000000Z"
    for name in ("dump.pgc.zst", "manifest.json"):  # an old backup the policy drops
        await store.put_bytes(f"{old}/{name}", await store.get_bytes(f"{first}/{name}"))
    second = await backup()
    listed = [e.id for e in await Backups(store).list()]
    assert second in listed and old not in listed
    assert (tmp_path / "backups" / second / "manifest.json").exists()
