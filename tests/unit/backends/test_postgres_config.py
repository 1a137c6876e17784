"""PoolManager's argument checks and the session-statement detector: no server needed."""

from __future__ import annotations

import pytest

from mediz_infra import ConfigError, PoolClosed
from mediz_infra.backends.postgres import PoolManager
from mediz_infra.backends.postgres.connection import changes_session

URL = "postgresql://app:hunter2@db.internal:5432/app"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"min_size": -1}, "min_size", id="negative-min"),
        pytest.param({"max_size": 0}, "max_size", id="zero-max"),
        pytest.param({"min_size": 5, "max_size": 2}, "min_size", id="inverted"),
        pytest.param({"acquire_timeout": 0}, "acquire_timeout", id="zero-timeout"),
        pytest.param({"max_lifetime": -5}, "max_lifetime", id="negative-lifetime"),
        pytest.param({"max_waiting": -1}, "max_waiting", id="negative-waiting"),
        pytest.param({"pgbouncer": "maybe"}, "pgbouncer", id="bad-pgbouncer"),
        pytest.param({"reset": "never"}, "reset", id="bad-reset"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        PoolManager(URL, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("mysql://app:hunter2@db/app", id="unknown-scheme"),
        pytest.param("postgresql://app:hunter2@db:99999/app", id="bad-port"),
        pytest.param("app:hunter2@db/app", id="no-scheme"),
        pytest.param("", id="empty"),
        pytest.param("postgresql://app:hunter2@db/app?pgbouncer=perhaps", id="bad-option"),
    ],
)
def test_bad_urls_are_config_errors_without_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        PoolManager(url)
    assert info.value.field.startswith("DATABASE_URL")
    assert "hunter2" not in str(info.value)


def test_repr_and_url_hide_the_password() -> None:
    pool = PoolManager(URL)
    assert "hunter2" not in repr(pool)
    assert "hunter2" not in pool.url
    assert "***" in pool.url


@pytest.mark.parametrize(
    ("url", "flag", "expected"),
    [
        pytest.param("postgresql://u@h:6432/d", "auto", True, id="auto-6432"),
        pytest.param("postgresql://u@h:5432/d", "auto", False, id="auto-5432"),
        pytest.param("postgresql://u@h:5432/d", True, True, id="forced-on"),
        pytest.param("postgresql://u@h:6432/d", False, False, id="forced-off"),
        pytest.param("postgresql://u@h:5432/d?pgbouncer=true", "auto", True, id="url-option"),
    ],
)
def test_pgbouncer_mode(url: str, flag: object, expected: bool) -> None:
    assert PoolManager(url, pgbouncer=flag).pgbouncer is expected  # type: ignore[arg-type]


async def test_use_before_start_is_a_clear_error() -> None:
    pool = PoolManager(URL)
    with pytest.raises(PoolClosed, match="start"):
        async with pool.acquire():
            pass


@pytest.mark.parametrize(
    "query",
    [
        "SET search_path TO app",
        "set statement_timeout = 0",
        "BEGIN; SET work_mem = '64MB'; COMMIT",
        "/* app */ SET role reporting",
        "-- comment\nSET x.y = 1",
        "RESET ALL",
        "LISTEN jobs",
        "PREPARE q AS SELECT 1",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "CREATE TEMP TABLE t (a int)",
        "create temporary table t (a int)",
        "SELECT pg_advisory_lock(42)",
        "SELECT pg_try_advisory_lock_shared(1, 2)",
        "SELECT set_config('app.user', '7', false)",
        "SELECT \"set_config\"('app.user', '7', false)",
        "SELECT pg_catalog.\"set_config\"('app.user', '7', false)",
        "SELECT set_config /* c */ ('app.user', '7', false)",
        "SELECT \"pg_advisory_lock\"(42)",
        "SET ROLE reporting",
        "SET SESSION AUTHORIZATION reporting",
        "DISCARD PLANS",
        "LOAD 'auto_explain'",
    ],
)
def test_session_changing_statements_are_detected(query: str) -> None:
    assert changes_session(query)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1",
        "UPDATE users SET name = $1 WHERE id = $2",
        "SET LOCAL statement_timeout = '1s'",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SELECT pg_advisory_xact_lock(42)",
        "SELECT * FROM settings WHERE reset = true",
        "INSERT INTO listeners (name) VALUES ('listen')",
    ],
)
def test_plain_statements_are_not_flagged(query: str) -> None:
    assert not changes_session(query)
