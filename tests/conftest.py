"""Shared fixtures: the real services' URLs and throwaway servers for fault tests.

Defaults are the machine's services (Postgres on 127.0.0.1:5432 database ``test``, Redis on
127.0.0.1:6379 database 15); override with ``--database-url`` / ``--redis-url`` or the
``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` environment variables.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests._servers import PgBouncerServer, PostgresServer, RedisServer, missing_binary

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def pytest_addoption(parser: pytest.Parser) -> None:
    env = os.environ.get
    parser.addoption("--database-url", default=env("TEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.addoption("--redis-url", default=env("TEST_REDIS_URL", DEFAULT_REDIS_URL))


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest) -> str:
    url = str(request.config.getoption("--database-url"))
    if not _reachable(url):
        pytest.fail(f"Postgres at {url} does not answer: start it or pass --database-url")
    return url


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    url = str(request.config.getoption("--redis-url"))
    if not _reachable(url):
        pytest.fail(f"Redis at {url} does not answer: start it or pass --redis-url")
    return url


def _require(kind: str) -> None:
    """Skip (with the install command) when a server binary is missing; fail under CI.

    A developer's machine may lack pgbouncer or redis-server; CI installs them (`.ci/run`), so
    there a missing binary is a broken CI, never a silent skip.
    """
    why = missing_binary(kind)
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)


# Passwords the tests put in URLs. Any of them in a test's captured output (stdout, stderr,
# log records) fails that test: no error, log line, repr or CLI output may show a secret.
TEST_SECRETS = ("hunter2", "s3cret-pw", "Hunter2Secret")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        return  # the failure's own text may quote a secret the test asserted on
    for section, content in report.sections:
        if not section.endswith(report.when):  # sections accumulate: check this phase's own
            continue
        leaked = [secret for secret in TEST_SECRETS if secret in content]
        if leaked:
            report.outcome = "failed"
            report.longrepr = (
                f"secret {leaked[0]!r} appeared in {section!r}: no output may show a password"
            )
            return


@pytest.fixture
def throwaway_redis() -> Iterator[RedisServer]:
    _require("redis")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def throwaway_postgres() -> Iterator[PostgresServer]:
    _require("postgres")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def pgbouncer(request: pytest.FixtureRequest) -> Iterator[PgBouncerServer]:
    """A transaction-mode pgbouncer in front of the machine's Postgres."""
    _require("pgbouncer")
    target = urlsplit(str(request.config.getoption("--database-url"))).port or 5432
    server = PgBouncerServer(target_port=target).start()
    try:
        yield server
    finally:
        server.stop()
