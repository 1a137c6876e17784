"""PoolManager: a bounded, PgBouncer-ready Postgres pool over asyncpg.

It wraps asyncpg's pool (its queue, LIFO reuse and cancellation-safe release stay as they are)
and adds what a serverless-style deployment needs: a typed, descriptive error when the pool is
exhausted, a bounded wait queue, connections recycled after a jittered maximum lifetime and a
maximum idle time, a pre-ping only for connections idle longer than ``ping_after``, jittered
back-off while the server is unreachable, read replicas, PgBouncer transaction-pooling mode, and
gauges and an acquire-wait histogram through :mod:`mediz_infra.telemetry`.

When the release reset runs (``reset="auto"``, the default): asyncpg resets every connection on
release with a round trip. PoolManager skips it unless the connection's session was changed
(see :mod:`mediz_infra.backends._pgconn` for the exact statements that count). An open
transaction is always rolled back and Python-side listeners always cleared (no round trip when
the connection is idle). In PgBouncer mode the reset query never runs: PgBouncer hands the
server connection to other clients between transactions, so a reset would land on a random
server connection. ``reset="always"`` restores asyncpg's behaviour.

Layout: the class is here; ``_pgoptions`` checks its arguments, ``_pgopen`` opens and closes the
asyncpg pool, ``_pgcheckout`` takes a connection out of it, ``_pgacquire`` lends it (the context
managers), ``_pgreplicas`` keeps replicas and back-off, ``_pgconn`` notes session changes and
``_pggauges`` reports gauges.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlencode, urlsplit

import asyncpg

from .. import telemetry
from .._deadlines import Deadlines
from ..errors import BackendTimeout, PoolClosed
from ._pgacquire import Acquire, Read, Transaction
from ._pgcheckout import acquire_once, ping
from ._pgconn import TrackedConnection, statement_hooks_match
from ._pggauges import register_gauges
from ._pgopen import close_pool, free_holders, open_pool
from ._pgoptions import PGBOUNCER_PORTS, check_arguments, parse_pool_url, settings_options
from ._pgreplicas import (
    check_replicas,
    healthy_replicas,
    make_replicas,
    note_outage,
    start_replicas,
)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    from ..config import Settings

__all__ = ["PoolManager", "PoolStats"]

log = logging.getLogger("mediz_infra.postgres")


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a pool's connections."""

    size: int
    idle: int
    in_use: int
    waiting: int
    max_size: int


class PoolManager:
    """A Postgres connection pool for one primary and optional read replicas.

    Use it as ``async with PoolManager(url) as pool`` or call :meth:`start` and :meth:`close`;
    nothing connects before :meth:`start`. Get connections with ``async with pool.acquire() as
    con`` (plain asyncpg connections), ``pool.read()`` for read-only work that a replica may
    serve, and ``pool.transaction()`` for a transaction on the primary.

    Args:
        url: ``postgresql://user:password@host:port/database``. A ``pgbouncer=true|false`` query
            option overrides ``pgbouncer``; other options go to asyncpg (``sslmode`` ...).
        min_size: connections opened at start and kept open.
        max_size: the most connections this pool opens (per process).
        acquire_timeout: seconds to wait for a free connection before :class:`PoolExhausted`.
        command_timeout: default seconds for each query (``None``: no limit).
        statement_timeout: server-side ``statement_timeout`` in seconds, set per connection at
            connect (not in PgBouncer mode: set it on the role there).
        application_name: shown in ``pg_stat_activity``.
        max_lifetime: seconds after which a connection is closed on release; each connection
            gets up to 10% less, at random, so they do not all recycle at once.
        max_idle: seconds an idle connection above ``min_size`` is kept.
        ping_after: a connection idle longer than this is checked with ``SELECT 1`` before it
            is handed out; a busy pool pays nothing.
        max_waiting: the most callers that may wait for a connection; one more fails at once
            with :class:`PoolExhausted` (``None``: unbounded).
        pgbouncer: ``True`` for PgBouncer transaction pooling (no named prepared-statement
            cache, no session reset), ``False`` for a direct connection, ``"auto"`` to assume
            PgBouncer on ports 6432 and 6543.
        replicas: read-replica URLs for :meth:`read`.
        reset: ``"auto"`` runs the release reset only for connections whose session changed;
            ``"always"`` runs it on every release, as asyncpg does.
        describe_cache: PgBouncer mode only: keep each query's description per connection so a
            query costs one round trip instead of two (asyncpg describes every statement anew
            when its statement cache is off). The descriptions are dropped by
            ``reload_schema_state()`` on a connection and with the connection itself
            (``max_lifetime``); after a migration that changes a column's type under a running
            app, call :meth:`expire_connections` or pass ``False``.
        name: the pool's name in telemetry and health output.
        connect_timeout: seconds to open one connection.

    Raises:
        ConfigError: a malformed URL, an unknown scheme, or inconsistent sizes or timeouts;
            the error names the argument and never shows the password.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        acquire_timeout: float = 5.0,
        command_timeout: float | None = 30.0,
        statement_timeout: float | None = None,
        application_name: str = "mediz-infra",
        max_lifetime: float = 3600.0,
        max_idle: float = 300.0,
        ping_after: float = 10.0,
        max_waiting: int | None = None,
        pgbouncer: Literal["auto"] | bool = "auto",
        replicas: Sequence[str] = (),
        reset: Literal["auto", "always"] = "auto",
        describe_cache: bool = True,
        name: str = "primary",
        connect_timeout: float = 5.0,
    ) -> None:
        parsed, query, pgbouncer = parse_pool_url(url, pgbouncer)
        check_arguments(
            min_size=min_size, max_size=max_size, acquire_timeout=acquire_timeout,
            command_timeout=command_timeout, statement_timeout=statement_timeout,
            max_lifetime=max_lifetime, max_idle=max_idle, ping_after=ping_after,
            max_waiting=max_waiting, pgbouncer=pgbouncer, reset=reset,
            connect_timeout=connect_timeout,
        )

        self.name = name
        self.url = parsed.redacted()
        # Our own options stay here; the rest (sslmode, ...) go to asyncpg with the password.
        self._dsn = urlsplit(parsed.raw)._replace(query=urlencode(query)).geturl()
        self.pgbouncer: bool = (
            parsed.port in PGBOUNCER_PORTS if pgbouncer == "auto" else bool(pgbouncer)
        )
        self.min_size = min_size
        self.max_size = max_size
        self.acquire_timeout = acquire_timeout
        self.command_timeout = command_timeout
        self.statement_timeout = statement_timeout
        self.application_name = application_name
        self.max_lifetime = max_lifetime
        self.max_idle = max_idle
        self.ping_after = ping_after
        self.max_waiting = max_waiting
        self.reset_mode = reset
        self.describe_cache = describe_cache
        if not statement_hooks_match():  # an asyncpg whose statement path we cannot see
            log.warning(
                "pool %s: asyncpg %s routes statements differently from the releases mediz-infra "
                "was tested with; every released connection is reset and PgBouncer query "
                "descriptions are not kept (slower, still correct). Install an asyncpg version "
                "in the range mediz-infra declares to get them back",
                name, asyncpg.__version__,
            )
            self.reset_mode, self.describe_cache = "always", False
        self.connect_timeout = connect_timeout
        self._replicas = make_replicas(self, replicas, pgbouncer)
        self._rr = 0
        self._pool: asyncpg.Pool | None = None
        self._free_holders: asyncio.Queue[Any] | None = None
        self._closing: asyncpg.Pool | None = None
        self._deadlines = Deadlines()  # waiting acquires share one timer
        self._start_lock: asyncio.Lock | None = None
        self._waiting = 0
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: str | None = None
        meter = telemetry.get_meter("db")
        self._wait_hist = meter.create_histogram(
            telemetry.DB_POOL_ACQUIRE_WAIT, unit="s", description="Time to get a pooled connection"
        )
        self._errors = meter.create_counter(
            telemetry.DB_POOL_ERRORS, unit="{error}", description="Pool errors by kind"
        )
        self._attrs = {"pool": name}
        register_gauges(self)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> PoolManager:
        """Build a pool from :class:`~mediz_infra.config.Settings` (DATABASE_* variables).

        Raises:
            ConfigError: ``DATABASE_URL`` is unset.
        """
        dsn, options = settings_options(settings)
        options.update(overrides)
        return cls(dsn, **options)

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"<PoolManager {self.name} {self.url} {state} max_size={self.max_size}>"

    # lifecycle ------------------------------------------------------------------------------

    async def start(self) -> PoolManager:
        """Open ``min_size`` connections (and the replicas' pools). Calling it twice is harmless.

        Raises:
            BackendUnavailable: the primary cannot be reached; the pool stays closed.
        """
        if self._pool is not None:
            return self
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._pool is not None:  # another task started it while we waited
                return self  # type: ignore[unreachable]
            pool = await open_pool(self)
            self._pool = pool
            self._free_holders = free_holders(pool)
            await start_replicas(self)
        return self

    async def close(self) -> None:
        """Close every connection, waiting up to ``acquire_timeout`` for checked-out ones."""
        pool, self._pool = self._pool, None
        for replica in self._replicas:
            await replica.close()
        if pool is None:
            return
        self._closing = pool  # checked-out connections are still released into it
        try:
            await close_pool(self, pool)
        finally:
            self._closing = None

    async def expire_connections(self) -> None:
        """Replace every connection (replicas' too): idle ones now, checked-out ones on release.

        Use it after a schema migration, or after rotating the database password.
        """
        if self._pool is not None:
            await self._pool.expire_connections()
        for replica in self._replicas:
            await replica.expire_connections()

    async def __aenter__(self) -> PoolManager:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # asyncpg hooks ---------------------------------------------------------------------------

    async def _init_connection(self, con: asyncpg.Connection) -> None:
        tracked = cast(TrackedConnection, con)
        # Up to 10% shorter, at random: connections opened together do not all expire together.
        tracked._mz_expires = time.monotonic() + self.max_lifetime * (1 - 0.1 * random.random())
        tracked._mz_pgbouncer = self.pgbouncer
        if self.pgbouncer and self.describe_cache:
            tracked._mz_described = {}

    async def _reset_connection(self, con: asyncpg.Connection) -> None:
        # Runs on release, after asyncpg rolled back any open transaction. Must not raise:
        # an error here would reach the caller of release.
        tracked = cast(TrackedConnection, con)
        now = time.monotonic()
        tracked._mz_released = now
        try:
            if now >= tracked._mz_expires:
                self._errors.add(1, {**self._attrs, "kind": "recycled"})
                # Closing hands the holder back to asyncpg's pool, which reconnects lazily.
                await con.close(timeout=self.connect_timeout)
                return
            if self.pgbouncer:
                return
            if tracked._mz_dirty or self.reset_mode == "always":
                query = con.get_reset_query()
                if query:
                    await asyncpg.Connection.execute(con, query)
                tracked._mz_dirty = False
        except Exception as exc:
            log.warning("pool %s: reset failed (%s); dropping the connection", self.name, exc)
            con.terminate()

    # acquiring -------------------------------------------------------------------------------

    def acquire(self, *, timeout: float | None = None) -> Acquire:
        """A connection from the primary: ``async with pool.acquire() as con: ...``.

        Raises (on enter):
            PoolExhausted: no connection was free within ``timeout`` (default
                ``acquire_timeout``), or ``max_waiting`` callers were already waiting.
            BackendUnavailable: the server cannot be reached (fails fast during back-off).
            BackendTimeout: opening a new connection took longer than the timeout.
            PoolClosed: the pool is not started.
        """
        return Acquire(self, timeout)

    def read(self, *, timeout: float | None = None) -> Read:
        """A connection for reads: a healthy replica in turn, or the primary when none is."""
        return Read(self, timeout)

    def transaction(self, *, timeout: float | None = None, **options: Any) -> Transaction:
        """A connection inside a transaction on the primary; commits on success.

        ``options`` go to asyncpg's ``Connection.transaction`` (isolation, readonly, deferrable).
        """
        return Transaction(self, timeout, options)

    async def _get(self, timeout: float | None) -> PoolConnectionProxy:
        pool = self._pool
        if pool is None:
            raise PoolClosed(f"pool {self.name} is not started: call await pool.start() first")
        budget = self.acquire_timeout if timeout is None else timeout
        start = time.perf_counter()
        deadline = time.monotonic() + budget
        try:
            while True:
                proxy = await acquire_once(self, pool, budget)
                released: float = cast(Any, proxy)._mz_released
                if time.monotonic() - released <= self.ping_after or await ping(self, proxy):
                    return proxy
                budget = deadline - time.monotonic()
                if budget <= 0:
                    raise BackendTimeout(f"no live Postgres connection to {self.url} in time")
        finally:
            # recorded for failures too: a slow PoolExhausted is the wait that matters most
            self._wait_hist.record(time.perf_counter() - start, self._attrs)

    def _note_outage(self, exc: BaseException) -> None:
        """Start or lengthen the back-off after a failed connect (see ``_pgreplicas``)."""
        note_outage(self, exc)

    async def _release(self, proxy: PoolConnectionProxy) -> None:
        pool = self._pool or self._closing
        if pool is not None:
            await pool.release(proxy)

    # conveniences ----------------------------------------------------------------------------

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """Run ``query`` on the primary and return every row."""
        async with self.acquire() as con:
            return await con.fetch(query, *args, timeout=timeout)

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Any:
        """Run ``query`` on the primary and return the first row or ``None``."""
        async with self.acquire() as con:
            return await con.fetchrow(query, *args, timeout=timeout)

    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any:
        """Run ``query`` on the primary and return the first column of the first row."""
        async with self.acquire() as con:
            return await con.fetchval(query, *args, timeout=timeout)

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        """Run ``query`` on the primary and return its status (``"INSERT 0 1"``)."""
        async with self.acquire() as con:
            return await con.execute(query, *args, timeout=timeout)

    # observing -------------------------------------------------------------------------------

    def stats(self) -> PoolStats:
        """Current size, idle, in-use and waiting counts (zeros before start)."""
        pool = self._pool
        if pool is None:
            return PoolStats(0, 0, 0, self._waiting, self.max_size)
        size, idle = pool.get_size(), pool.get_idle_size()
        return PoolStats(size, idle, size - idle, self._waiting, self.max_size)

    async def check(self, timeout: float = 2.0) -> dict[str, Any]:
        """Health detail: round-trip latency, pool stats and replicas; no password anywhere.

        Raises:
            BackendUnavailable, BackendTimeout, PoolExhausted, PoolClosed: the primary is not
                usable; the message says why.
        """
        started = time.perf_counter()
        async with self.acquire(timeout=timeout) as con:
            await con.fetchval("SELECT 1", timeout=timeout)
        detail: dict[str, Any] = {
            "url": self.url,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "pgbouncer": self.pgbouncer,
            **{k: getattr(self.stats(), k) for k in PoolStats.__slots__},
        }
        if self._replicas:
            detail["replicas"] = await check_replicas(self, timeout)
        return detail

    def _healthy_replicas(self) -> Iterable[PoolManager]:
        """The replicas not in back-off, in turn (see ``_pgreplicas``)."""
        return healthy_replicas(self)
