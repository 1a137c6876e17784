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
    why = missing_binary(kind)
    if why:
        pytest.fail(why)


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
