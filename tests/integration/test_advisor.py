"""The index advisor against a real Postgres with pg_stat_statements and hypopg.

A throwaway server (tests/_servers.py) preloads pg_stat_statements; hypopg is Debian's
postgresql-15-hypopg (installed by .ci/run). The schema has a 200,000-row ``orders`` table whose
hot query (by customer, newest first) has no index, a well-indexed query, a tiny table queried
often, an index nothing reads, a redundant prefix index and a foreign key without an index.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from mediz_infra.backends import PoolManager
from mediz_infra.db.advisor import (
    IndexAdvisor,
    Statement,
    Thresholds,
    load_sql_file,
    render_text,
    sampled_workload,
)
from tests._servers import PostgresServer
from tests.conftest import _require

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOT = "SELECT id, total FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20"
BY_ID = "SELECT id, status FROM orders WHERE id = $1"
TINY = "SELECT value FROM settings WHERE key = $1"

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    status text NOT NULL,
    total numeric(10, 2) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO customers SELECT i, 'c' || i || '@example.org' FROM generate_series(1, 5000) i;
INSERT INTO orders
SELECT i, 1 + (i * 7919) % 5000, (ARRAY['new', 'paid', 'shipped'])[1 + i % 3],
       (i % 1000) / 10.0, '2026-01-01'::timestamptz + i * interval '1 minute'
FROM generate_series(1, 210000) i;
INSERT INTO settings SELECT 'k' || i, 'v' || i FROM generate_series(1, 40) i;
CREATE INDEX orders_total ON orders (total);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_status_created ON orders (status, created_at);
ANALYZE;
"""


def _hypopg_or_skip(available: bool) -> None:
    if available:
        return
    why = "hypopg not installed: apt-get install postgresql-15-hypopg"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    _require("postgres")
    pg = PostgresServer(settings={"shared_preload_libraries": "pg_stat_statements"}).start()
    try:
        yield pg
    finally:
        pg.cleanup()


async def _seed(url: str) -> None:
    con = await asyncpg.connect(url)
    try:
        available = await con.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'"
        )
        _hypopg_or_skip(bool(available))
        await con.execute(SCHEMA)
        await con.execute("CREATE EXTENSION pg_stat_statements")
        await con.execute("SELECT pg_stat_statements_reset(), pg_stat_reset()")
        for i in range(30):
            await con.fetch(HOT, 1 + i * 37)
        for i in range(300):
            await con.fetch(BY_ID, 1 + i * 11)
            await con.fetch(TINY, f"k{i % 40}")
            await con.execute("UPDATE settings SET value = $1 WHERE key = $2", str(i), "k1")
    finally:
        await con.close()


@pytest.fixture(scope="module")
def seeded(server: PostgresServer) -> str:
    """The schema and its workload, run through pg_stat_statements once per module."""
    asyncio.run(_seed(server.url))
    return server.url


@pytest.fixture
async def pool(seeded: str) -> AsyncIterator[PoolManager]:
    async with PoolManager(seeded, min_size=1, max_size=2) as pool:
        yield pool


async def _catalog_state(pool: PoolManager) -> list[str]:
    rows = await pool.fetch(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "UNION ALL SELECT 'extension ' || extname FROM pg_extension ORDER BY 1"
    )
    return [r[0] for r in rows]


async def test_names_the_missing_index_and_hypopg_confirms_it(pool: PoolManager) -> None:
    before = await _catalog_state(pool)
    stages: list[str] = []
    advisor = IndexAdvisor(pool, progress=lambda stage, done, total: stages.append(stage))
    report = await advisor.run()
    print(render_text(report))
    assert report.source == "pg_stat_statements" and report.hypopg
    assert report.notes == []
    assert {"catalog", "planning", "verifying"} <= set(stages)

    top = report.suggestions[0]
    assert (top.candidate.table, top.candidate.columns) == ("orders", ("customer_id", "created_at"))
    assert top.verified
    [gain] = top.gains
    # pg_stat_statements shows constants as parameters: LIMIT 20 is LIMIT $2
    assert gain.statement.sql == HOT.replace("LIMIT 20", "LIMIT $2")
    assert gain.statement.calls == 30
    assert gain.used and gain.after < gain.before / 10  # hypopg's plan, not our guess
    assert top.sql.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id")
    assert {f.kind for f in top.findings} >= {"seq_scan"}

    # No suggestion for the query the primary key serves, nor for the 40-row table.
    suggested = {(s.candidate.table, g.statement.sql) for s in report.suggestions for g in s.gains}
    assert all("WHERE id =" not in sql and "settings" not in sql for _, sql in suggested)
    assert all(table != "settings" for table, _ in suggested)

    unused = {u.index.name: u for u in report.unused}
    assert "orders_total" in unused and unused["orders_total"].index.size > 0
    assert "orders_pkey" not in unused  # a constraint's index is never "unused"
    redundant = {(d.index.name, d.kept.name, d.reason) for d in report.duplicates}
    assert ("orders_status", "orders_status_created", "prefix") in redundant
    fks = {(f.foreign_key.table, f.foreign_key.columns) for f in report.unindexed_foreign_keys}
    assert fks == {("orders", ("customer_id",))}

    # The run changed nothing: no index, no extension left behind; and the advisor's own
    # catalog queries, now in pg_stat_statements too, are not taken for the app's workload.
    assert await _catalog_state(pool) == before
    assert (await IndexAdvisor(pool).run()).statements == report.statements
    json.dumps(report.to_dict())  # serialisable as is


async def test_the_suggested_index_is_used_and_reads_less(pool: PoolManager) -> None:
    report = await IndexAdvisor(pool).run([Statement(HOT, calls=30)])
    top = report.suggestions[0]
    explain = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {HOT.replace('$1', '42')}"

    async def measure() -> tuple[set[str], int, float]:
        async with pool.acquire() as con:
            [plan] = json.loads(await con.fetchval(explain))
        names: set[str] = set()
        stack = [plan["Plan"]]
        while stack:
            node = stack.pop()
            names.update([node["Index Name"]] if "Index Name" in node else [])
            stack.extend(node.get("Plans", ()))
        blocks = plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]
        return names, blocks, plan["Execution Time"]

    used_before, blocks_before, ms_before = await measure()
    async with pool.acquire() as con:
        await con.execute(top.sql)
        await con.execute("ANALYZE orders")
    try:
        used_after, blocks_after, ms_after = await measure()
        assert top.candidate.name in used_after and top.candidate.name not in used_before
        # Pages read is what the index saves, and unlike a timing it does not vary by run.
        assert blocks_after * 20 < blocks_before, (blocks_before, blocks_after)
        print(
            f"execution time {ms_before:.2f} ms -> {ms_after:.2f} ms; "
            f"buffers {blocks_before} -> {blocks_after}"
        )
        # With the index in place the advisor suggests it no more.
        again = await IndexAdvisor(pool).run([Statement(HOT, calls=30)])
        assert all(s.candidate != top.candidate for s in again.suggestions)
    finally:
        async with pool.acquire() as con:
            await con.execute(f"DROP INDEX {top.candidate.name}")


async def test_failing_statements_are_reported_and_skipped(
    pool: PoolManager, tmp_path: Path
) -> None:
    workload = tmp_path / "workload.sql"
    workload.write_text(
        "-- the app's hot queries\n"
        "SELEC * FROM orders;\n"
        "SELECT * FROM no_such_table WHERE id = 1;\n"
        "SELECT id FROM orders WHERE customer_id = 42 ORDER BY created_at DESC LIMIT 20;\n"
        "VACUUM orders;\n"
    )
    report = await IndexAdvisor(pool).run(load_sql_file(workload))
    skipped = {s.statement.source: s.reason for s in report.skipped}
    assert set(skipped) == {"workload.sql:2", "workload.sql:3", "workload.sql:5"}
    assert "no_such_table" in skipped["workload.sql:3"]
    assert "not a SELECT" in skipped["workload.sql:5"]
    assert [s.candidate.columns for s in report.suggestions] == [("customer_id", "created_at")]


@pytest.fixture(scope="module")
def bare_server() -> Iterator[PostgresServer]:
    """A server without pg_stat_statements preloaded."""
    _require("postgres")
    pg = PostgresServer().start()
    try:
        yield pg
    finally:
        pg.cleanup()


async def test_missing_extensions_are_named_and_the_rest_still_runs(
    bare_server: PostgresServer,
) -> None:
    con = await asyncpg.connect(bare_server.url)
    try:
        await con.execute(
            "CREATE TABLE events (id int PRIMARY KEY, kind int NOT NULL, at timestamptz);"
            "INSERT INTO events SELECT i, i % 500, now() FROM generate_series(1, 20000) i;"
            "CREATE INDEX events_at ON events (at); ANALYZE events;"
            "CREATE EXTENSION pg_stat_statements;"  # created, but the server did not load it
            "CREATE ROLE advisor LOGIN"  # not a superuser: cannot create hypopg
        )
        await con.execute("GRANT SELECT ON events TO advisor")
    finally:
        await con.close()
    url = bare_server.url.replace("postgres@", "advisor@", 1)
    async with PoolManager(url, min_size=1, max_size=1) as pool:
        report = await IndexAdvisor(pool).run()
        assert report.statements == 0 and not report.hypopg
        assert any("shared_preload_libraries" in n for n in report.notes), report.notes
        assert any("CREATE EXTENSION hypopg" in n for n in report.notes), report.notes
        assert [u.index.name for u in report.unused] == ["events_at"]  # the catalog part ran

        limits = Thresholds(min_rows=1000)
        sql = "SELECT * FROM events WHERE kind = $1"
        report = await IndexAdvisor(pool, thresholds=limits).run([Statement(sql, calls=5)])
        [suggestion] = report.suggestions
        assert suggestion.candidate.columns == ("kind",) and not suggestion.verified
        assert "[unverified]" in render_text(report)


def cli(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "mediz_infra.cli", "db", "advise", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=120,
    )


def _indexes(url: str) -> list[str]:
    async def read() -> list[str]:
        con = await asyncpg.connect(url)
        try:
            rows = await con.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        finally:
            await con.close()
        return sorted(r[0] for r in rows)

    return asyncio.run(read())


def test_cli_reports_and_never_writes_without_apply(seeded: str) -> None:
    before = _indexes(seeded)
    out = cli("--json", DATABASE_URL=seeded)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["suggestions"][0]["index"].endswith("orders (customer_id, created_at)")
    assert report["suggestions"][0]["verified"] is True
    assert "planning" in out.stderr and "nothing was changed" in out.stderr

    out = cli("--sql", "--database-url", seeded)
    assert out.returncode == 0, out.stderr
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_created_at_idx" in out.stdout
    assert not out.stdout.startswith("connecting")  # progress goes to stderr only

    out = cli("--apply", stdin="n\n", DATABASE_URL=seeded)  # asked, and the answer is no
    assert out.returncode == 1 and "not confirmed: nothing was changed" in out.stderr
    out = cli("--apply", DATABASE_URL=seeded)  # no answer at all (stdin closed)
    assert out.returncode == 1
    assert _indexes(seeded) == before


def test_cli_apply_creates_the_index_and_the_real_plan_uses_it(seeded: str) -> None:
    before = _indexes(seeded)
    out = cli("--apply", "--yes", DATABASE_URL=seeded)
    try:
        assert out.returncode == 0, out.stderr
        assert "created orders_customer_id_created_at_idx; ANALYZE done" in out.stderr
        assert "uses it: SELECT id, total FROM orders WHERE customer_id = $1" in out.stderr
        assert set(_indexes(seeded)) - set(before) == {"orders_customer_id_created_at_idx"}
    finally:

        async def drop() -> None:
            con = await asyncpg.connect(seeded)
            await con.execute("DROP INDEX IF EXISTS orders_customer_id_created_at_idx")
            await con.close()

        asyncio.run(drop())


def test_cli_failures_name_the_cause_and_never_the_password(tmp_path: Path) -> None:
    out = cli("--database-url", "postgresql://u:hunter2@127.0.0.1:1/db")
    assert out.returncode == 1 and "hunter2" not in out.stdout + out.stderr
    assert "error:" in out.stderr and "u:***@127.0.0.1:1/db" in out.stderr
    out = cli()
    assert out.returncode == 2 and "DATABASE_URL" in out.stderr
    out = cli("--file", str(tmp_path / "missing.sql"), DATABASE_URL="postgresql://u@h/db")
    assert out.returncode == 2 and "file: cannot read" in out.stderr


async def test_the_reference_app_seed_shows_a_real_finding(seeded: str) -> None:
    """The reference app's schema and seed, its own queries run as the app runs them: the
    advisor names the index its symptom page lacks, and hypopg confirms it."""
    from examples.mediz_app.app import HERE, RECENT_REPORTS_SQL
    from examples.mediz_app.caching import POPULAR_SQL

    con = await asyncpg.connect(seeded)
    try:
        await con.execute("DROP DATABASE IF EXISTS mediz_app")
        await con.execute("CREATE DATABASE mediz_app")
    finally:
        await con.close()
    url = seeded.rsplit("/", 1)[0] + "/mediz_app"
    con = await asyncpg.connect(url)
    try:
        await con.execute((HERE / "schema.sql").read_text())
        await con.execute((HERE / "seed.sql").read_text())
        await con.execute("ANALYZE; CREATE EXTENSION pg_stat_statements")
        for i in range(100):
            await con.fetch(RECENT_REPORTS_SQL, 1 + i % 40, 20)
        for days in (7, 30):
            await con.fetch(POPULAR_SQL, 10, days)
    finally:
        await con.close()
    async with PoolManager(url, min_size=1, max_size=1) as pool:
        report = await IndexAdvisor(pool).run()
    [suggestion] = report.suggestions
    assert suggestion.verified and suggestion.candidate.table == "symptom_reports"
    assert suggestion.candidate.columns == ("symptom_id", "reported_at")
    assert [f.kind for f in suggestion.findings] == ["index_order"]
    [gain] = suggestion.gains
    assert gain.statement.calls == 100 and gain.used and gain.after < gain.before
    fks = {(f.foreign_key.table, f.foreign_key.columns) for f in report.unindexed_foreign_keys}
    assert ("symptom_reports", ("symptom_id",)) in fks


async def test_one_index_for_a_query_and_its_prefix(pool: PoolManager) -> None:
    """Two statements, one by customer, one by customer newest first: the longer index serves
    both, so it is the one suggestion, with both statements and both findings."""
    by_customer = "SELECT id FROM orders WHERE customer_id = $1"
    report = await IndexAdvisor(pool).run([Statement(by_customer, 50), Statement(HOT, 30)])
    [suggestion] = report.suggestions
    assert suggestion.candidate.columns == ("customer_id", "created_at")
    assert {g.statement.sql for g in suggestion.gains} == {by_customer, HOT}
    assert all(g.used for g in suggestion.gains)


async def test_an_index_on_a_column_the_workload_updates_is_penalised(pool: PoolManager) -> None:
    moves = Statement("UPDATE orders SET customer_id = $1 WHERE id = $2", calls=500)
    quiet = await IndexAdvisor(pool).run([Statement(HOT, 30)])
    busy = await IndexAdvisor(pool).run([Statement(HOT, 30), moves])
    [before], [after] = quiet.suggestions, busy.suggestions
    assert before.candidate == after.candidate
    assert after.penalty.factor == pytest.approx(before.penalty.factor / 2)
    assert after.score < before.score
    [note] = [n for n in after.penalty.notes if "customer_id" in n]
    assert "500 calls" in note and "HOT" in note
    assert "HOT update" in render_text(busy)  # said in the report, next to the suggestion


async def test_a_pool_sampling_its_statements_is_a_workload(seeded: str, tmp_path: Path) -> None:
    # The app's pool samples what it runs (here every statement); the advisor reads that
    # workload directly or from the file the sampler writes, with no pg_stat_statements.
    async with PoolManager(seeded, min_size=1, max_size=2, sample_queries=1.0) as app_pool:
        assert app_pool.query_sampler is not None
        for i in range(20):
            await app_pool.fetch(HOT, 1 + i * 37)
        async with app_pool.acquire() as con:  # literals are folded into one statement
            for i in range(5):
                await con.fetch(
                    f"SELECT id FROM orders WHERE customer_id = {i} "
                    "ORDER BY created_at DESC LIMIT 5"
                )
        await asyncio.sleep(0)  # asyncpg hands each record to the sampler with call_soon
        sampled = sampled_workload(app_pool.query_sampler)
        path = tmp_path / "workload.json"
        app_pool.query_sampler.write(path)
    by_sql = {s.sql: s for s in sampled}
    hot = HOT.replace("LIMIT 20", "LIMIT $2")  # constants become parameters
    assert by_sql[hot].calls == 20 and by_sql[hot].total_ms is not None
    literal = "SELECT id FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2"
    assert by_sql[literal].calls == 5

    async with PoolManager(seeded, min_size=1, max_size=1) as pool:
        report = await IndexAdvisor(pool).run(sampled, source="pool sample")
    top = report.suggestions[0]
    assert (top.candidate.table, top.candidate.columns) == ("orders", ("customer_id", "created_at"))
    assert top.verified and {g.statement.sql for g in top.gains} == {hot, literal}

    out = cli("--json", "--sampled", str(path), DATABASE_URL=seeded)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["suggestions"][0]["index"].endswith(
        "orders (customer_id, created_at)"
    )
    out = cli("--sampled", str(tmp_path / "missing.json"), DATABASE_URL=seeded)
    assert out.returncode == 2 and "cannot read" in out.stderr
