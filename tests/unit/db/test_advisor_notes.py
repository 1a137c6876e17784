"""What the advisor says when the server lacks hypopg and pg_stat_statements.

A real server always has hypopg's files here (CI installs them), so the "not installed at all"
case is played by a scripted connection that answers the catalog as such a server would; the
integration tests cover the rest on real Postgres.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mediz_infra.db.advisor import IndexAdvisor


class Bare:
    """A connection to a server without hypopg or pg_stat_statements and with no tables."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]:
        self.sent.append(query)
        if "pg_available_extensions" in query:
            return [(None, False)]
        return []

    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any:
        self.sent.append(query)
        return 0 if "pg_extension" in query else None

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        self.sent.append(query)
        return "OK"


class Pool:
    def __init__(self, con: Bare) -> None:
        self.con = con

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Bare]:
        yield self.con


async def test_missing_extensions_are_named_with_the_fix() -> None:
    con = Bare()
    report = await IndexAdvisor(Pool(con)).run()  # type: ignore[arg-type]
    assert not report.hypopg and report.statements == 0
    hypopg, pgss = report.notes
    assert "hypopg is not installed" in hypopg and "apt-get install postgresql-15-hypopg" in hypopg
    assert "unverified" in hypopg
    assert "shared_preload_libraries = 'pg_stat_statements'" in pgss
    assert "CREATE EXTENSION pg_stat_statements" in pgss and "--file" in pgss
    # read-only, rolled back, no extension created
    assert con.sent[1] == "BEGIN READ ONLY" and con.sent[-1] == "ROLLBACK"
    assert not any("CREATE EXTENSION" in q for q in con.sent)
