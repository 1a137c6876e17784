"""The ``pool`` benchmark: PoolManager against the Postgres pools people use instead.

Contenders, every one with 10 connections opened at start (min = max = 10) and warmed up:

- **PoolManager** (ours): ``PoolManager(url, min_size=10, max_size=10)``, ``reset="auto"``;
  ``pgbouncer=True`` through PgBouncer.
- **PoolManager read()**: the same pool used through ``async with pool.read()`` (no replica:
  the primary serves it); **PoolManager read() + replica**: the same database named once more
  in ``replicas=``, so every read goes through the replica round robin and its bookkeeping.
- **asyncpg**: ``asyncpg.create_pool(url, min_size=10, max_size=10)``, its documented defaults
  (the reset query runs on every release); ``statement_cache_size=0`` through PgBouncer.
- **asyncpg no-reset**: the same pool with ``reset=`` a no-op. *Unsafe* (a session change leaks
  to the next user): shown only as the ceiling a release without the reset round trip can reach.
- **psycopg_pool**: ``AsyncConnectionPool(url, min_size=10, max_size=10, open=False)`` then
  ``await pool.open(wait=True)``, used the documented way, ``async with pool.connection() as
  conn: await conn.execute(...)``: a transaction per block (BEGIN, query, COMMIT);
  ``prepare_threshold=None`` through PgBouncer (psycopg's documented PgBouncer setting).
- **psycopg_pool autocommit**: the same with ``kwargs={"autocommit": True}`` (one round trip per
  query, the fastest documented psycopg configuration).
- **SQLAlchemy**: ``create_async_engine("postgresql+asyncpg://...", pool_size=10,
  max_overflow=0)``, ``async with engine.connect() as conn: await conn.execute(text(...))`` with
  its defaults (a transaction per block, rollback on return); through PgBouncer
  ``connect_args={"statement_cache_size": 0, "prepared_statement_cache_size": 0}``.

Cases: ``SELECT 1`` and a primary-key lookup in ``bench_users`` (10,000 rows, created in the
``test`` database if missing), at concurrency 1, 10 and 50, direct to Postgres and through a
throwaway PgBouncer in transaction mode; and the cost of one acquire + release (no query) at
concurrency 1. Environment variable ``TEST_DATABASE_URL`` overrides the database
(default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import asyncpg
import psycopg_pool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks._runner import (
    MICROSECONDS,
    QUERIES_PER_SECOND,
    Benchmark,
    Budget,
    Case,
    Check,
    Contender,
    Group,
    Options,
    Sample,
    drive,
    driven,
    event_loop,
    postgres_version,
)

__all__ = ["BENCHMARK"]

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROWS = 10_000
POOL_SIZE = 10
CONCURRENCY = (1, 10, 50)
OURS = "PoolManager"

SELECT_ONE = "SELECT 1"
_COLUMNS = "id, email, name, created_at"
LOOKUP_DOLLAR = f"SELECT {_COLUMNS} FROM bench_users WHERE id = $1"
LOOKUP_PSYCOPG = f"SELECT {_COLUMNS} FROM bench_users WHERE id = %s"
SELECT_ONE_SA = text(SELECT_ONE)
LOOKUP_SA = text(f"SELECT {_COLUMNS} FROM bench_users WHERE id = :id")


class PoolUnderTest(Protocol):
    """What every contender offers the cases: one query, one lookup, one bare acquire."""

    name: str
    ours: bool

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def select_one(self) -> Any: ...
    async def lookup(self, user_id: int) -> Any: ...
    async def acquire_release(self) -> None: ...


# --------------------------------------------------------------------------- contenders


class _AsyncpgPool:
    """The raw asyncpg pool with its documented defaults (or, ``no_reset``, the unsafe ceiling)."""

    ours = False

    def __init__(self, url: str, *, pgbouncer: bool, no_reset: bool = False) -> None:
        self.name = "asyncpg no-reset" if no_reset else "asyncpg"
        self._url, self._pgbouncer, self._no_reset = url, pgbouncer, no_reset
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        extra: dict[str, Any] = {}
        if self._pgbouncer:
            extra["statement_cache_size"] = 0  # asyncpg's documented PgBouncer setting
        if self._no_reset:
            extra["reset"] = _no_reset
        self._pool = await asyncpg.create_pool(
            self._url, min_size=POOL_SIZE, max_size=POOL_SIZE, **extra
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    def _get(self) -> asyncpg.Pool:
        assert self._pool is not None, "open() first"
        return self._pool

    async def select_one(self) -> Any:
        async with self._get().acquire() as conn:
            return await conn.fetchval(SELECT_ONE)

    async def lookup(self, user_id: int) -> Any:
        async with self._get().acquire() as conn:
            return await conn.fetchrow(LOOKUP_DOLLAR, user_id)

    async def acquire_release(self) -> None:
        async with self._get().acquire():
            pass


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


class _PoolManager:
    """Ours: mediz_infra's PoolManager with its defaults (``reset="auto"``)."""

    name = OURS
    ours = True

    def __init__(self, url: str, *, pgbouncer: bool) -> None:
        self._url, self._pgbouncer = url, pgbouncer
        self._pool: Any = None

    async def open(self) -> None:
        from mediz_infra.backends.postgres import PoolManager

        self._pool = await PoolManager(
            self._url,
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
            pgbouncer=True if self._pgbouncer else "auto",
        ).start()
        if self._pool.pgbouncer != self._pgbouncer:
            raise RuntimeError(
                f"PoolManager.pgbouncer is {self._pool.pgbouncer}, expected {self._pgbouncer}"
            )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def select_one(self) -> Any:
        async with self._pool.acquire() as conn:
            return await conn.fetchval(SELECT_ONE)

    async def lookup(self, user_id: int) -> Any:
        async with self._pool.acquire() as conn:
            return await conn.fetchrow(LOOKUP_DOLLAR, user_id)

    async def acquire_release(self) -> None:
        async with self._pool.acquire():
            pass


class _PoolManagerRead(_PoolManager):
    """Ours through ``pool.read()``: with no replica (the primary serves it), or with the same
    database named once more as a replica (the round robin, outage and lag bookkeeping run)."""

    ours = False

    def __init__(self, url: str, *, pgbouncer: bool, replica: bool = False) -> None:
        super().__init__(url, pgbouncer=pgbouncer)
        self._replica = replica
        self.name = "PoolManager read() + replica" if replica else "PoolManager read()"

    async def open(self) -> None:
        from mediz_infra.backends.postgres import PoolManager

        self._pool = await PoolManager(
            self._url,
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
            pgbouncer=True if self._pgbouncer else "auto",
            replicas=[self._url] if self._replica else (),
        ).start()

    async def select_one(self) -> Any:
        async with self._pool.read() as conn:
            return await conn.fetchval(SELECT_ONE)

    async def lookup(self, user_id: int) -> Any:
        async with self._pool.read() as conn:
            return await conn.fetchrow(LOOKUP_DOLLAR, user_id)

    async def acquire_release(self) -> None:
        async with self._pool.read():
            pass


class _PsycopgPool:
    """psycopg 3's AsyncConnectionPool, used as its documentation shows."""

    ours = False

    def __init__(self, url: str, *, pgbouncer: bool, autocommit: bool = False) -> None:
        self.name = "psycopg_pool autocommit" if autocommit else "psycopg_pool"
        self._url, self._pgbouncer, self._autocommit = url, pgbouncer, autocommit
        self._pool: psycopg_pool.AsyncConnectionPool | None = None

    async def open(self) -> None:
        kwargs: dict[str, Any] = {}
        if self._autocommit:
            kwargs["autocommit"] = True
        if self._pgbouncer:
            kwargs["prepare_threshold"] = None  # psycopg's documented PgBouncer setting
        # open=False + await open(): psycopg_pool warns when an async pool opens in __init__.
        self._pool = psycopg_pool.AsyncConnectionPool(
            self._url,
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
            kwargs=kwargs,
            open=False,
        )
        await self._pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    def _get(self) -> psycopg_pool.AsyncConnectionPool:
        assert self._pool is not None, "open() first"
        return self._pool

    async def select_one(self) -> Any:
        async with self._get().connection() as conn:
            cursor = await conn.execute(SELECT_ONE)
            row = await cursor.fetchone()
            return row[0] if row else None

    async def lookup(self, user_id: int) -> Any:
        async with self._get().connection() as conn:
            cursor = await conn.execute(LOOKUP_PSYCOPG, (user_id,))
            return await cursor.fetchone()

    async def acquire_release(self) -> None:
        async with self._get().connection():
            pass


class _SQLAlchemy:
    """SQLAlchemy's async engine on asyncpg, Core usage, default pool behaviour."""

    name = "SQLAlchemy"
    ours = False

    def __init__(self, url: str, *, pgbouncer: bool) -> None:
        self._url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
        self._pgbouncer = pgbouncer
        self._engine: AsyncEngine | None = None

    async def open(self) -> None:
        connect_args: dict[str, Any] = {}
        if self._pgbouncer:
            # SQLAlchemy's asyncpg dialect documents both: its own statement cache off and
            # asyncpg's off, so statements are unnamed and live inside one transaction.
            connect_args = {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
        self._engine = create_async_engine(
            self._url, pool_size=POOL_SIZE, max_overflow=0, connect_args=connect_args
        )

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()

    def _get(self) -> AsyncEngine:
        assert self._engine is not None, "open() first"
        return self._engine

    async def select_one(self) -> Any:
        async with self._get().connect() as conn:
            return (await conn.execute(SELECT_ONE_SA)).scalar()

    async def lookup(self, user_id: int) -> Any:
        async with self._get().connect() as conn:
            return (await conn.execute(LOOKUP_SA, {"id": user_id})).first()

    async def acquire_release(self) -> None:
        async with self._get().connect():
            pass


def _contenders(url: str, *, pgbouncer: bool) -> list[PoolUnderTest]:
    return [
        _PoolManager(url, pgbouncer=pgbouncer),
        _AsyncpgPool(url, pgbouncer=pgbouncer),
        _PsycopgPool(url, pgbouncer=pgbouncer),
        _PsycopgPool(url, pgbouncer=pgbouncer, autocommit=True),
        _SQLAlchemy(url, pgbouncer=pgbouncer),
        _AsyncpgPool(url, pgbouncer=pgbouncer, no_reset=True),
        _PoolManagerRead(url, pgbouncer=pgbouncer),
        _PoolManagerRead(url, pgbouncer=pgbouncer, replica=True),
    ]


# --------------------------------------------------------------------------- setup


async def _ensure_table(url: str) -> None:
    """Create and fill ``bench_users`` unless it already holds exactly ids 1..ROWS."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_users ("
            " id int PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
        row = await conn.fetchrow("SELECT count(*), coalesce(max(id), 0) FROM bench_users")
        if row is None or tuple(row) != (ROWS, ROWS):
            async with conn.transaction():
                await conn.execute("TRUNCATE bench_users")
                await conn.execute(
                    "INSERT INTO bench_users (id, email, name, created_at)"
                    " SELECT g, 'user' || g || '@example.test', 'User ' || g,"
                    "        now() - g * interval '1 minute'"
                    f" FROM generate_series(1, {ROWS}) AS g"
                )
            await conn.execute("ANALYZE bench_users")
    finally:
        await conn.close()


async def _open_all(
    stack: contextlib.AsyncExitStack, url: str, *, pgbouncer: bool
) -> list[PoolUnderTest]:
    opened: list[PoolUnderTest] = []
    for pool in _contenders(url, pgbouncer=pgbouncer):
        try:
            await pool.open()
        except ImportError as exc:  # PoolManager not there yet: compare the peers alone
            print(f"[pool] skipping {pool.name}: {exc}", file=sys.stderr, flush=True)
            continue
        stack.push_async_callback(pool.close)
        one, row = await pool.select_one(), await pool.lookup(42)
        if one != 1 or row is None or row[0] != 42:
            raise RuntimeError(f"{pool.name} returned wrong results: {one!r}, {row!r}")
        # Touch every connection with both statements before measuring anything.
        warm = Budget(seconds=5.0, max_ops=20 * POOL_SIZE)
        await drive(pool.select_one, concurrency=2 * POOL_SIZE, budget=warm)
        await drive(_lookups(pool), concurrency=2 * POOL_SIZE, budget=warm)
        opened.append(pool)
    return opened


def _lookups(pool: PoolUnderTest, seed: int = 7) -> Callable[[], Awaitable[Any]]:
    """One lookup per call, on a fixed pseudo-random sequence of ids (the same for everyone)."""
    rng = random.Random(seed)
    ids = itertools.cycle([rng.randint(1, ROWS) for _ in range(4096)])
    return lambda: pool.lookup(next(ids))


PGBENCH = "pgbench"


def _pgbench(url: str, concurrency: int) -> Callable[[Budget], Awaitable[Sample]]:
    """pgbench (C, one thread, extended protocol) running ``SELECT 1`` from ``concurrency`` clients.

    Not a peer: it shows what the machine itself loses through a hop, the floor the PgBouncer
    checks are measured against. It runs with as many connections as the pools hold
    (``POOL_SIZE``), the server-side concurrency of every pool at c=10 and c=50 alike, and only
    in the c=10 cases (direct, more connections would pass the server's ``max_connections``).
    """

    async def measure(budget: Budget) -> Sample:
        parts = urlsplit(url)
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
            script.write("SELECT 1;\n")
            script.flush()
            argv = [
                shutil.which("pgbench") or "pgbench",
                "-n",
                "-M",
                "extended",
                "-j",
                "1",
                "-c",
                str(concurrency),
                "-T",
                str(max(1, round(budget.seconds))),
                "-f",
                script.name,
                "-h",
                parts.hostname or "127.0.0.1",
                "-p",
                str(parts.port or 5432),
                "-U",
                parts.username or "postgres",
                parts.path.lstrip("/") or "test",
            ]
            done = await asyncio.to_thread(
                subprocess.run, argv, capture_output=True, text=True, timeout=120, check=False
            )
        count = re.search(r"actually processed: (\d+)", done.stdout)
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
        if done.returncode != 0 or count is None or tps is None:
            raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr.strip()[-300:]}")
        ops = int(count.group(1))
        return Sample(ops=ops, seconds=ops / float(tps.group(1)))

    return measure


def _cases(route: str, pools: Sequence[PoolUnderTest], url: str) -> list[Case]:
    cases: list[Case] = []
    for query, key in (("SELECT 1", "select1"), ("lookup by id", "lookup")):
        for concurrency in CONCURRENCY:
            cases.append(
                Case(
                    name=f"{route}/{key}/c{concurrency}",
                    labels={"route": route, "query": query, "c": str(concurrency)},
                    metric=QUERIES_PER_SECOND,
                    contenders=[
                        Contender(
                            pool.name,
                            driven(
                                pool.select_one if key == "select1" else _lookups(pool),
                                concurrency,
                            ),
                            ours=pool.ours,
                        )
                        for pool in pools
                    ]
                    + (
                        [Contender(PGBENCH, _pgbench(url, concurrency))]
                        if key == "select1" and concurrency == POOL_SIZE and shutil.which("pgbench")
                        else []
                    ),
                )
            )
    cases.append(
        Case(
            name=f"{route}/acquire",
            labels={"route": route, "query": "acquire + release", "c": "1"},
            metric=MICROSECONDS,
            contenders=[
                Contender(pool.name, driven(pool.acquire_release, 1), ours=pool.ours)
                for pool in pools
            ],
        )
    )
    return cases


@contextlib.asynccontextmanager
async def _direct(options: Options) -> AsyncIterator[Sequence[Case]]:
    await _ensure_table(DATABASE_URL)
    async with contextlib.AsyncExitStack() as stack:
        yield _cases("direct", await _open_all(stack, DATABASE_URL, pgbouncer=False), DATABASE_URL)


@contextlib.asynccontextmanager
async def _through_pgbouncer(options: Options) -> AsyncIterator[Sequence[Case]]:
    from tests._servers import PgBouncerServer, missing_binary

    why = missing_binary("pgbouncer")
    if why:
        raise RuntimeError(f"the pool benchmark needs pgbouncer: {why}")
    target = urlsplit(DATABASE_URL)
    bouncer = await asyncio.to_thread(
        PgBouncerServer(target_port=target.port or 5432, pool_size=20).start
    )
    try:
        url = bouncer.url(target.path.lstrip("/") or "test", target.username or "postgres")
        async with contextlib.AsyncExitStack() as stack:
            yield _cases("pgbouncer", await _open_all(stack, url, pgbouncer=True), url)
    finally:
        await asyncio.to_thread(bouncer.stop)


def _pgbouncer_version() -> str:
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    try:
        first = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"
    return first.removeprefix("PgBouncer").strip()


async def _environment() -> dict[str, str]:
    server = await postgres_version(DATABASE_URL)
    bouncer = await asyncio.to_thread(_pgbouncer_version)
    return {
        "PostgreSQL": f"{server} on {urlsplit(DATABASE_URL).hostname} (loopback TCP)",
        "PgBouncer": f"{bouncer} (transaction mode, pool 20)",
        "event loop": event_loop(),
    }


def _checks() -> list[Check]:
    checks = []
    for key, query in (("select1", "SELECT 1"), ("lookup", "lookup")):
        for c in (10, 50):
            name = f"direct/{key}/c{c}"
            checks.append(
                Check(
                    f"PoolManager ÷ asyncpg, {query}, c={c}", (name, OURS), (name, "asyncpg"), 1.3
                )
            )
    for key, query in (("select1", "SELECT 1"), ("lookup", "lookup")):
        for c in (10, 50):
            name = f"direct/{key}/c{c}"
            checks.append(
                Check(
                    f"PoolManager ÷ psycopg_pool, {query}, c={c}",
                    (name, OURS),
                    (name, "psycopg_pool"),
                    1.0,
                )
            )
    for c in (10, 50):
        # The machine sets this floor (pgbench itself keeps only about half its rate through
        # the same PgBouncer), so the requirement is to lose no more than pgbench loses.
        checks.append(
            Check(
                f"PoolManager through PgBouncer ÷ direct, SELECT 1, c={c} "
                "(target: pgbench's own ratio)",
                (f"pgbouncer/select1/c{c}", OURS),
                (f"direct/select1/c{c}", OURS),
                1.0,
                relative_to=(
                    (f"pgbouncer/select1/c{POOL_SIZE}", PGBENCH),
                    (f"direct/select1/c{POOL_SIZE}", PGBENCH),
                ),
            )
        )
    for key, query in (("select1", "SELECT 1"), ("lookup", "lookup")):
        for c in CONCURRENCY:
            name = f"direct/{key}/c{c}"
            checks.append(
                Check(
                    f"PoolManager read() ÷ acquire(), {query}, c={c} (at most 10% slower)",
                    (name, "PoolManager read()"),
                    (name, OURS),
                    0.9,
                )
            )
    return checks


BENCHMARK = Benchmark(
    name="pool",
    title="pool: Postgres connection pools",
    groups=(Group("direct", _direct), Group("pgbouncer", _through_pgbouncer)),
    peers=(
        "mediz-infra",
        "asyncpg",
        "psycopg",
        "psycopg-binary",
        "psycopg-pool",
        "sqlalchemy",
        "greenlet",
    ),
    checks=_checks(),
    environment=_environment,
    code=(
        "mediz_infra/backends/postgres",  # the pool's subpackage, every module of it
        "mediz_infra/_deadlines.py",
        "mediz_infra/telemetry.py",
        "mediz_infra/errors.py",
        "mediz_infra/_urls.py",
    ),
    notes=(
        'Contenders: PoolManager defaults (`reset="auto"`, `pgbouncer=True` through '
        "PgBouncer); asyncpg `create_pool` defaults; psycopg_pool used the documented way (a "
        "transaction per `connection()` block), and with `autocommit=True`; SQLAlchemy "
        "`create_async_engine(pool_size=10, max_overflow=0)` on asyncpg. All pools hold 10 "
        "connections (min = max = 10). *asyncpg no-reset* skips the release reset altogether "
        "(unsafe, the ceiling for any asyncpg-based pool). Through PgBouncer each peer uses its "
        "documented setting: asyncpg `statement_cache_size=0`, psycopg "
        "`prepare_threshold=None`, SQLAlchemy `statement_cache_size=0` and "
        "`prepared_statement_cache_size=0`. *pgbench* is not a peer: PostgreSQL's own C client "
        "(one thread, extended protocol, 10 connections) running `SELECT 1`, whose "
        "through-PgBouncer ÷ direct ratio is the floor this machine sets for that hop; the "
        "PgBouncer checks require ours to keep at least that ratio. A lookup through PgBouncer "
        "costs asyncpg two round trips (an unnamed statement is prepared, then bound), so no "
        "ratio is required of it beyond beating the peers. "
        "*PoolManager read()* is ours through `pool.read()` "
        "(no replica), *+ replica* with the same database named as a replica. "
        "See the section above for details."
    ),
)
