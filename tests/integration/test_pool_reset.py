"""When the release reset round trip runs, and that skipping it never leaks session state.

These tests also guard the asyncpg internals PoolManager hooks: if a new asyncpg stops routing a
statement through ``Connection.execute`` or ``Connection._get_statement``, the session change is
missed and the parametrized test below fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from mediz_infra.backends.postgres import PoolManager
from mediz_infra.backends.postgres import connection as _pgconn
from mediz_infra.backends.postgres.connection import statement_hooks_match

pytestmark = pytest.mark.integration

SET = "SET application_name = 'leaked'"


@pytest.fixture
async def single(database_url: str) -> AsyncIterator[tuple[PoolManager, list[str]]]:
    """A one-connection pool and the list of every statement sent on that connection."""
    seen: list[str] = []
    async with PoolManager(database_url, max_size=1, application_name="clean") as pool:
        async with pool.acquire() as con:
            con.add_query_logger(lambda record: seen.append(record.query))
        yield pool, seen


async def _statements(seen: list[str]) -> list[str]:
    await asyncio.sleep(0)  # query loggers are called on the next loop iteration
    out = list(seen)
    seen.clear()
    return out


def _is_reset(query: str) -> bool:
    return "RESET ALL" in query


async def test_clean_release_sends_no_reset(single: tuple[PoolManager, list[str]]) -> None:
    pool, seen = single
    for _ in range(3):
        await pool.fetchval("SELECT 1")
    assert not any(_is_reset(q) for q in await _statements(seen))


Runner = Callable[[Any], Awaitable[Any]]


async def _via_cursor(con: Any) -> None:
    async with con.transaction():
        async for _ in con.cursor("SELECT set_config('application_name', 'leaked', false)"):
            pass


RUNNERS: dict[str, Runner] = {
    "execute": lambda con: con.execute(SET),
    "execute-args": lambda con: con.execute(
        "SELECT set_config('application_name', $1, false)", "leaked"
    ),
    "fetch": lambda con: con.fetch("SELECT set_config('application_name', 'leaked', false)"),
    "fetchval": lambda con: con.fetchval("SELECT set_config('application_name', 'leaked', false)"),
    "fetchrow": lambda con: con.fetchrow("SELECT set_config('application_name', 'leaked', false)"),
    "executemany": lambda con: con.executemany(
        "SELECT set_config('application_name', $1, false)", [("leaked",)]
    ),
    "prepare": lambda con: con.prepare(SET),
    "cursor": _via_cursor,
}


@pytest.mark.parametrize("how", list(RUNNERS))
async def test_session_change_is_reset_before_the_next_caller(
    single: tuple[PoolManager, list[str]], how: str
) -> None:
    pool, seen = single
    async with pool.acquire() as con:
        result = RUNNERS[how](con)
        stmt = await result
        if how == "prepare":
            await stmt.fetch()
    assert any(_is_reset(q) for q in await _statements(seen))
    assert await pool.fetchval("SHOW application_name") == "clean"
    # ...and the reset ran once: the next clean release skips it again
    await pool.fetchval("SELECT 1")
    assert not any(_is_reset(q) for q in await _statements(seen))


@pytest.fixture
async def role(database_url: str) -> str:
    """A role the connecting superuser may switch to (roles are cluster-wide: created once)."""
    con = await asyncpg.connect(database_url)
    try:
        await con.execute(
            "DO $$ BEGIN CREATE ROLE mz_reset_probe NOLOGIN;"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    finally:
        await con.close()
    return "mz_reset_probe"


@pytest.mark.parametrize(
    "statement",
    [
        "SET ROLE {role}",
        "SET SESSION AUTHORIZATION {role}",
        "SELECT set_config('role', '{role}', false)",
        "SELECT \"set_config\"('role', '{role}', false)",
    ],
    ids=["set-role", "session-authorization", "set_config", "quoted-set_config"],
)
async def test_the_role_does_not_survive_release(
    database_url: str, role: str, statement: str
) -> None:
    async with PoolManager(database_url, max_size=1) as pool:
        before = await pool.fetchrow("SELECT current_user, session_user")
        async with pool.acquire() as con:
            await con.execute(statement.format(role=role))
            assert await con.fetchval("SELECT current_user") == role
        assert await pool.fetchrow("SELECT current_user, session_user") == before


@pytest.mark.parametrize(
    "call",
    [
        "\"set_config\"('application_name', 'leaked', false)",
        "pg_catalog.\"set_config\"('application_name', 'leaked', false)",
        "set_config /* why not */ ('application_name', 'leaked', false)",
    ],
    ids=["quoted", "schema-quoted", "comment"],
)
async def test_a_quoted_set_config_does_not_leak(
    single: tuple[PoolManager, list[str]], call: str
) -> None:
    pool, _ = single
    async with pool.acquire() as con:
        assert await con.fetchval(f"SELECT {call}") == "leaked"
    assert await pool.fetchval("SHOW application_name") == "clean"


async def test_temporary_tables_and_sequence_state_do_not_survive_release(
    single: tuple[PoolManager, list[str]],
) -> None:
    pool, _ = single
    async with pool.acquire() as con:
        await con.execute("CREATE TEMP TABLE mz_scratch (v int)")
        await con.execute("CREATE TEMP SEQUENCE mz_scratch_seq")
        assert await con.fetchval("SELECT nextval('mz_scratch_seq')") == 1
    async with pool.acquire() as con:
        assert await con.fetchval("SELECT to_regclass('pg_temp.mz_scratch')") is None
        with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):  # lastval is reset
            await con.fetchval("SELECT lastval()")


async def test_open_transaction_is_rolled_back(single: tuple[PoolManager, list[str]]) -> None:
    pool, _ = single
    await pool.execute("CREATE TABLE IF NOT EXISTS mz_reset_test (v int)")
    await pool.execute("TRUNCATE mz_reset_test")
    async with pool.acquire() as con:
        await con.execute("BEGIN")
        await con.execute("INSERT INTO mz_reset_test VALUES (1)")
    # asyncpg reports the abandoned transaction through the loop's exception handler
    assert await pool.fetchval("SELECT count(*) FROM mz_reset_test") == 0
    await pool.execute("DROP TABLE mz_reset_test")


async def test_listen_and_advisory_locks_do_not_leak(database_url: str) -> None:
    async with PoolManager(database_url, max_size=1) as pool:
        # asyncpg itself warns about a listener left on a released connection
        with pytest.warns(asyncpg.InterfaceWarning, match="listener"):
            async with pool.acquire() as con:
                await con.add_listener("mz_chan", lambda *args: None)
                assert await con.fetchval("SELECT pg_advisory_lock(4242) IS NOT NULL")
        async with pool.acquire() as con:
            listening = await con.fetchval("SELECT count(*) FROM pg_listening_channels()")
            locks = await con.fetchval(
                "SELECT count(*) FROM pg_locks"
                " WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
        assert (listening, locks) == (0, 0)


async def test_reset_always_runs_every_time(database_url: str) -> None:
    seen: list[str] = []
    async with PoolManager(database_url, max_size=1, reset="always") as pool:
        async with pool.acquire() as con:
            con.add_query_logger(lambda record: seen.append(record.query))
        await pool.fetchval("SELECT 1")
        await pool.fetchval("SELECT 1")
        await asyncio.sleep(0)
    assert sum(_is_reset(q) for q in seen) == 3


def test_this_asyncpg_has_the_statement_hooks_the_pool_relies_on() -> None:
    """Every asyncpg in the declared range is one whose statement path the pool can see."""
    assert statement_hooks_match()


async def test_an_asyncpg_without_the_hooks_resets_every_connection(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pgconn, "_GET_STATEMENT_PARAMETERS", ("self", "query"))
    _pgconn.statement_hooks_match.cache_clear()
    try:
        pool = PoolManager(database_url, min_size=0, max_size=1)
        assert pool.reset_mode == "always"
        await pool.start()
        try:
            async with pool.acquire() as con:
                await con.fetchval("SELECT set_config('application_name', 'x', false)")
            async with pool.acquire() as con:
                assert await con.fetchval("SHOW application_name") != "x"
        finally:
            await pool.close()
    finally:
        monkeypatch.undo()
        _pgconn.statement_hooks_match.cache_clear()
