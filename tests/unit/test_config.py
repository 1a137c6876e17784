"""Settings and URL parsing: environment variables, validation errors, redaction."""

from __future__ import annotations

import pytest

from mediz_infra import ConfigError, load_settings
from mediz_infra._urls import parse_url, redact

SECRET = "hunter2"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "DATABASE_REPLICA_URLS", "DATABASE_POOL_MIN", "DATABASE_POOL_MAX",
                 "DATABASE_PGBOUNCER", "REDIS_URL", "S3_URL"):
        monkeypatch.delenv(name, raising=False)


def test_reads_the_environment_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://app:{SECRET}@db:5432/app")
    monkeypatch.setenv("DATABASE_REPLICA_URLS", "postgresql://r1/app, postgresql://r2/app")
    monkeypatch.setenv("DATABASE_POOL_MAX", "25")
    monkeypatch.setenv("DATABASE_PGBOUNCER", "TRUE")
    monkeypatch.setenv("MEDIZ_PREFIX", "medizapp")
    settings = load_settings()
    assert settings.database_dsn() == f"postgresql://app:{SECRET}@db:5432/app"
    assert settings.replica_dsns() == ["postgresql://r1/app", "postgresql://r2/app"]
    assert (settings.database_pool_max, settings.database_pgbouncer) == (25, "true")
    assert settings.prefix == "medizapp"
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.describe())
    assert "app:***@db" in str(settings.describe()["database_url"])


@pytest.mark.parametrize(
    ("env", "field"),
    [
        pytest.param({"DATABASE_URL": f"mysql://a:{SECRET}@h/db"}, "DATABASE_URL", id="scheme"),
        pytest.param({"DATABASE_URL": f"postgresql://a:{SECRET}@h:0/db"}, "DATABASE_URL",
                     id="port"),
        pytest.param({"REDIS_URL": f"http://:{SECRET}@h"}, "REDIS_URL", id="redis-scheme"),
        pytest.param({"DATABASE_POOL_MAX": "-1"}, "DATABASE_POOL_MAX", id="negative"),
        pytest.param({"DATABASE_POOL_MIN": "8", "DATABASE_POOL_MAX": "4"}, "DATABASE_POOL_MIN",
                     id="inverted"),
        pytest.param({"DATABASE_PGBOUNCER": "sometimes"}, "DATABASE_PGBOUNCER", id="pgbouncer"),
        pytest.param({"DATABASE_REPLICA_URLS": f"postgresql://ok/db,ftp://x:{SECRET}@h/db"},
                     "DATABASE_REPLICA_URLS", id="replica"),
    ],
)
def test_bad_values_name_the_variable_and_hide_passwords(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.field == field
    assert SECRET not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_everything_can_be_passed_in_code() -> None:
    settings = load_settings(database_url="postgresql://x@h/db", database_pool_min=0)
    assert settings.database_pool_min == 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p%40ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
        ("redis+sentinel://:pw@h1:26379,h2:26379/mymaster", "redis+sentinel://:***@h1:26379,h2:26379/mymaster"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("u:secret@h/db", "u:***@h/db"),
    ],
)
def test_redaction(url: str, expected: str) -> None:
    assert redact(url) == expected


def test_parsed_url_keeps_the_password_out_of_repr() -> None:
    parsed = parse_url(f"postgresql://app:{SECRET}@db:6432/app?sslmode=require")
    assert (parsed.host, parsed.port, parsed.database) == ("db", 6432, "app")
    assert parsed.password == SECRET
    assert SECRET not in repr(parsed) and SECRET not in str(parsed)
    assert parsed.query == {"sslmode": "require"}


def test_unknown_keyword_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(MEDIZ_ACQUIRE_TIMEOUT=2)
    assert info.value.field == "MEDIZ_ACQUIRE_TIMEOUT"
    assert "acquire_timeout" in str(info.value)
