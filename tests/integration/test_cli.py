"""The ``mediz-infra`` command: health check and settings, with errors that name the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-m", "mediz_infra.cli", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
    )


def test_check_reports_every_backend(database_url: str, redis_url: str) -> None:
    out = run("check", "--json", DATABASE_URL=database_url, REDIS_URL=redis_url)
    assert out.returncode == 0, out.stderr
    detail = json.loads(out.stdout)
    assert detail["db"]["status"] == "ok" and detail["redis"]["status"] == "ok"
    assert "connecting" in out.stderr  # progress goes to stderr


def test_check_names_the_cause_without_the_password() -> None:
    out = run("check", DATABASE_URL="postgresql://u:hunter2@127.0.0.1:1/db")
    assert out.returncode == 1  # a failed check, not a usage error
    assert "cannot open the Postgres pool" in out.stderr
    assert "hunter2" not in out.stderr + out.stdout


def test_bad_setting_is_named() -> None:
    out = run("settings", DATABASE_POOL_MAX="-4")
    assert out.returncode == 2
    assert "DATABASE_POOL_MAX" in out.stderr


def test_settings_are_redacted() -> None:
    out = run("settings", DATABASE_URL="postgresql://u:hunter2@db/app")
    assert out.returncode == 0
    assert json.loads(out.stdout)["database_url"] == "postgresql://u:***@db/app"


def test_check_with_nothing_configured_says_what_is_unset() -> None:
    out = run("check", "--json")
    assert out.returncode == 0, out.stderr
    detail = json.loads(out.stdout)
    assert detail["db"]["status"] == "off" and "DATABASE_URL" in detail["db"]["detail"]
    assert detail["redis"]["status"] == "off" and "REDIS_URL" in detail["redis"]["detail"]
    assert "DATABASE_URL is unset" in out.stderr


def test_check_fails_when_redis_is_down_but_starts_degraded(database_url: str) -> None:
    out = run("check", "--json", DATABASE_URL=database_url, REDIS_URL="redis://127.0.0.1:1/0")
    assert out.returncode == 1, out.stderr
    assert out.stdout, out.stderr
    detail = json.loads(out.stdout)
    assert detail["db"]["status"] == "ok" and detail["redis"]["status"] == "down"


def test_a_bad_setting_is_a_usage_error_for_check() -> None:
    out = run("check", DATABASE_POOL_MAX="-4")
    assert out.returncode == 2
    assert "DATABASE_POOL_MAX" in out.stderr
