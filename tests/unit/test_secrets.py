"""No output shows a password, whatever the URL's shape (see also the sweep in conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from mediz_infra import Cache, ConfigError, PoolManager, Settings, create_redis
from mediz_infra._urls import parse_url, redact, redact_text

PASSWORD = "Hunter2Secret"

# Shapes people write: unencoded reserved characters in the password, a password in the query,
# a userinfo without its "@", several hosts.
URLS = [
    f"postgresql://admin:{PASSWORD}#x@db.example.com:5432/app",
    f"postgresql://admin:{PASSWORD}/x@db.example.com:5432/app",
    f"postgresql://admin:{PASSWORD}?x@db.example.com:5432/app",
    f"postgresql://admin:{PASSWORD}@x@db.example.com:5432/app",
    f"postgresql://admin:a/b={PASSWORD}@db.example.com/app",
    f"postgresql://admin@db.example.com:5432/app?password={PASSWORD}&sslmode=require",
    f"postgresql://admin:{PASSWORD}",
    f"redis://:{PASSWORD}#x@cache.example.com:6379/0",
    f"redis://cache.example.com:6379/0?password={PASSWORD}",
    f"redis+sentinel://:{PASSWORD}@s1:26379,s2:26379/mymaster",
    f"admin:{PASSWORD}@db.example.com/app",
]


def shown(build: Callable[[], object]) -> str:
    """What a user sees: the repr of what ``build`` returns, or the error it raises."""
    try:
        return repr(build())
    except (ConfigError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("url", URLS)
def test_redact_hides_the_password(url: str) -> None:
    assert PASSWORD not in redact(url)


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("template", ["cannot connect to {}: refused", "url='{}'", "({})"])
def test_redact_text_hides_the_password_of_a_url_quoted_in_a_message(
    url: str, template: str
) -> None:
    """What an exception's text becomes in a job's stored error, a log line, the monitor."""
    shown = redact_text(template.format(url))
    assert PASSWORD not in shown and "***" in shown


def test_redact_text_leaves_the_rest_of_the_message() -> None:
    text = 'File "/app/jobs.py", line 3: at 12:30 sent to john@example.com (user_id=7)'
    assert redact_text(text) == text


@pytest.mark.parametrize("url", URLS)
def test_parse_errors_and_reprs_hide_the_password(url: str) -> None:
    assert PASSWORD not in shown(lambda: parse_url(url, field_name="DATABASE_URL"))
    assert PASSWORD not in shown(lambda: str(parse_url(url, field_name="DATABASE_URL")))


def test_a_reserved_character_in_the_password_is_named_not_shown() -> None:
    with pytest.raises(ConfigError, match="percent-encode") as info:
        parse_url(f"postgresql://admin:{PASSWORD}#x@db.example.com:5432/app")
    assert "db.example.com" in str(info.value)


@pytest.mark.parametrize("url", [u for u in URLS if u.startswith("redis")])
def test_create_redis_never_shows_the_password(url: str) -> None:
    assert PASSWORD not in shown(lambda: create_redis(url))


def test_a_password_in_the_redis_query_is_used_and_hidden() -> None:
    client = create_redis(f"redis://cache.example.com:6379/0?password={PASSWORD}")
    assert client.connection_pool.connection_kwargs["password"] == PASSWORD  # type: ignore[union-attr]
    assert PASSWORD not in repr(client)


@pytest.mark.parametrize("url", [u for u in URLS if u.startswith("postgresql")])
def test_the_pool_never_shows_the_password(url: str) -> None:
    assert PASSWORD not in shown(lambda: PoolManager(url))
    assert PASSWORD not in shown(lambda: PoolManager(url).url)


@pytest.mark.parametrize("url", [u for u in URLS if u.startswith("redis")])
def test_the_cache_never_shows_the_password(url: str) -> None:
    assert PASSWORD not in shown(lambda: Cache(url))


@pytest.mark.parametrize("url", URLS)
def test_settings_describe_hides_the_password(url: str) -> None:
    described = shown(lambda: json.dumps(Settings(database_url=url).describe(), default=str))
    assert PASSWORD not in described


@pytest.mark.parametrize("url", URLS[:2] + URLS[5:7])
def test_the_settings_command_hides_the_password(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mediz_infra.cli", "settings"],
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert PASSWORD not in done.stdout + done.stderr
