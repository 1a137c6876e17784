"""PoolManager: a bounded, PgBouncer-ready Postgres pool over asyncpg.

It wraps asyncpg's pool (its queue, LIFO reuse and cancellation-safe release stay as they are)
and adds what a serverless-style deployment needs: a typed, descriptive error when the pool is
exhausted, a bounded wait queue, connections recycled after a jittered maximum lifetime and a
maximum idle time, a pre-ping only for connections idle longer than ``ping_after``, jittered
back-off while the server is unreachable, read replicas, PgBouncer transaction-pooling mode, and
gauges and an acquire-wait histogram through :mod:`mediz_infra.telemetry`.

When the release reset runs (``reset="auto"``, the default): asyncpg resets every connection on
release with a round trip. PoolManager skips it unless the connection's session was changed
(see :mod:`mediz_infra.backends.postgres.connection` for the exact statements that count). An open
transaction is always rolled back and Python-side listeners always cleared (no round trip when
the connection is idle). In PgBouncer mode the reset query never runs: PgBouncer hands the
server connection to other clients between transactions, so a reset would land on a random
server connection. ``reset="always"`` restores asyncpg's behaviour.

Layout: :class:`PoolManager` is here, with what it does to its own state: opening and closing the
asyncpg pool, taking a connection out of it (the bounded wait, the ping, the errors) and the
back-off after an outage. :mod:`.options` checks its arguments, :mod:`.checkout` lends a
connection (the context managers), :mod:`.replicas` keeps the read replicas and their round
robin, :mod:`.connection` notes session changes and holds the init and reset hooks, and
:mod:`.gauges` reports gauges.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

import asyncpg

from ... import telemetry
from ..._deadlines import Deadlines
from ..._urls import redact
from ...errors import BackendTimeout, BackendUnavailable, ConfigError, PoolClosed, PoolExhausted
from .checkout import Acquire, Read, Transaction
from .connection import ConnectionHooks, TrackedConnection, released_at, statement_hooks_match
from .gauges import PoolStats, register_gauges
from .options import PGBOUNCER_PORTS, check_arguments, parse_pool_url, settings_options
from .replicas import ReplicaSet

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    from ...config import Settings

__all__ = ["PoolManager", "PoolStats"]

log = logging.getLogger("mediz_infra.postgres")

# Errors raised while *opening* a connection that mean "the server is not reachable now".
_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
)
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 1.0


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
        self._replicas = self._make_replicas(replicas, pgbouncer)
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

    def _make_replicas(
        self, urls: Sequence[str], pgbouncer: Literal["auto"] | bool
    ) -> ReplicaSet | None:
        """One pool per replica URL, with this pool's settings; ``None`` when there is none.

        Raises:
            ConfigError: a malformed replica URL, named as ``DATABASE_REPLICA_URLS``.
        """
        if not urls:
            return None
        try:
            return ReplicaSet([
                PoolManager(
                    url, min_size=0, max_size=self.max_size,
                    acquire_timeout=self.acquire_timeout, command_timeout=self.command_timeout,
                    statement_timeout=self.statement_timeout,
                    application_name=self.application_name, max_lifetime=self.max_lifetime,
                    max_idle=self.max_idle, ping_after=self.ping_after,
                    max_waiting=self.max_waiting, pgbouncer=pgbouncer, reset=self.reset_mode,
                    name=f"{self.name}-replica-{index}", describe_cache=self.describe_cache,
                    connect_timeout=self.connect_timeout,
                )
                for index, url in enumerate(urls)
            ])
        except ConfigError as exc:
            raise ConfigError("DATABASE_REPLICA_URLS", str(exc).partition(": ")[2]) from None

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"<PoolManager {self.name} {self.url} {state} max_size={self.max_size}>"

    # lifecycle ------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """True between a successful :meth:`start` and :meth:`close`."""
        return self._pool is not None

    @property
    def replicas(self) -> ReplicaSet | None:
        """The read replicas' pools, or ``None`` without replicas."""
        return self._replicas

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
            pool = await self._open()
            self._pool = pool
            self._free_holders = _free_holders(pool)
            if self._replicas is not None:
                await self._replicas.start()
        return self

    async def _open(self) -> asyncpg.Pool:
        """Open the asyncpg pool with its ``min_size`` connections.

        Raises:
            BackendUnavailable: the server cannot be reached or refused the connection.
        """
        server_settings = {"application_name": self.application_name}
        if self.statement_timeout is not None and not self.pgbouncer:
            server_settings["statement_timeout"] = str(int(self.statement_timeout * 1000))
        hooks = ConnectionHooks(
            name=self.name, max_lifetime=self.max_lifetime, pgbouncer=self.pgbouncer,
            describe_cache=self.describe_cache, reset_mode=self.reset_mode,
            connect_timeout=self.connect_timeout, errors=self._errors, attrs=self._attrs,
        )
        # Through Any: asyncpg-stubs before 0.31 type the async ``reset`` hook as a plain function.
        create_pool: Any = asyncpg.create_pool
        try:
            pool: asyncpg.Pool = await create_pool(
                self._dsn,
                min_size=self.min_size,
                max_size=self.max_size,
                max_inactive_connection_lifetime=self.max_idle,
                command_timeout=self.command_timeout,
                timeout=self.connect_timeout,
                connection_class=TrackedConnection,
                statement_cache_size=0 if self.pgbouncer else 100,
                server_settings=server_settings,
                init=hooks.init,
                reset=hooks.reset,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise BackendUnavailable(
                f"cannot open the Postgres pool {self.name} at {self.url}: "
                f"{redact(str(exc))}; check that the server is up and DATABASE_URL is right"
            ) from exc
        return pool

    async def close(self) -> None:
        """Close every connection, waiting up to ``acquire_timeout`` for checked-out ones."""
        pool, self._pool = self._pool, None
        if self._replicas is not None:
            await self._replicas.close()
        if pool is None:
            return
        self._closing = pool  # checked-out connections are still released into it
        try:
            await asyncio.wait_for(pool.close(), self.acquire_timeout)
        except TimeoutError:
            log.warning("pool %s: connections still in use after %.1f s; terminating",
                        self.name, self.acquire_timeout)
            pool.terminate()
        finally:
            self._closing = None

    async def expire_connections(self) -> None:
        """Replace every connection (replicas' too): idle ones now, checked-out ones on release.

        Use it after a schema migration, or after rotating the database password.
        """
        if self._pool is not None:
            await self._pool.expire_connections()
        if self._replicas is not None:
            await self._replicas.expire_connections()

    async def __aenter__(self) -> PoolManager:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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
        return Read(self, timeout, self._replicas)

    def transaction(self, *, timeout: float | None = None, **options: Any) -> Transaction:
        """A connection inside a transaction on the primary; commits on success.

        ``options`` go to asyncpg's ``Connection.transaction`` (isolation, readonly, deferrable).
        """
        return Transaction(self, timeout, options)

    async def checkout(self, timeout: float | None = None) -> PoolConnectionProxy:
        """A connection from the primary, to give back with :meth:`release`.

        The step under :meth:`acquire`, for code that cannot use a context manager; prefer
        :meth:`acquire`, which always gives the connection back. Raises what it does.
        """
        pool = self._pool
        if pool is None:
            raise PoolClosed(f"pool {self.name} is not started: call await pool.start() first")
        budget = self.acquire_timeout if timeout is None else timeout
        start = time.perf_counter()
        deadline = time.monotonic() + budget
        try:
            while True:
                proxy = await self._acquire_once(pool, budget)
                if time.monotonic() - released_at(proxy) <= self.ping_after or await self._ping(
                    proxy
                ):
                    return proxy
                budget = deadline - time.monotonic()
                if budget <= 0:
                    raise BackendTimeout(f"no live Postgres connection to {self.url} in time")
        finally:
            # recorded for failures too: a slow PoolExhausted is the wait that matters most
            self._wait_hist.record(time.perf_counter() - start, self._attrs)

    async def release(self, proxy: PoolConnectionProxy) -> None:
        """Give back a connection from :meth:`checkout` (also while the pool is closing)."""
        pool = self._pool or self._closing
        if pool is not None:
            await pool.release(proxy)

    async def _acquire_once(self, pool: asyncpg.Pool, budget: float) -> PoolConnectionProxy:
        """One connection from ``pool`` within ``budget`` seconds, not yet pinged.

        A free holder is handed over at once; otherwise the caller joins a bounded wait queue
        with a shared deadline. During the back-off after an outage a pool with no idle
        connection fails fast.

        Raises:
            BackendUnavailable: in back-off after an outage, or the server cannot be reached.
            PoolExhausted: ``max_waiting`` callers already wait, or none was free in time.
            BackendTimeout: a slot was free but opening the connection took the whole budget.
        """
        if self._retry_at and time.monotonic() < self._retry_at and pool.get_idle_size() == 0:
            raise BackendUnavailable(
                f"Postgres pool {self.name} at {self.url} is unreachable "
                f"({self._last_error}); retrying in {self._retry_at - time.monotonic():.2f} s"
            )
        free = self._free_holders
        # A free holder means no wait: asyncpg hands it over at once (at worst it opens a
        # connection, bounded by connect_timeout), so that path skips the timer.
        fast = free is not None and free.qsize() > 0
        if not fast and self.max_waiting is not None and self._waiting >= self.max_waiting:
            self._errors.add(1, {**self._attrs, "kind": "exhausted"})
            raise self._exhausted(budget, queue_full=True)
        try:
            if fast:
                proxy = await pool.acquire()
            else:
                proxy = await self._wait_for_holder(pool, budget)
        except TimeoutError:
            if pool.get_size() - pool.get_idle_size() < self.max_size:
                # A slot was free: the time went into opening a connection.
                raise BackendTimeout(
                    f"opening a Postgres connection to {self.url} took more than "
                    f"{budget:.1f} s; check the server's load and network"
                ) from None
            self._errors.add(1, {**self._attrs, "kind": "exhausted"})
            raise self._exhausted(budget) from None
        except _OUTAGE_ERRORS as exc:
            self.note_outage(exc)
            raise BackendUnavailable(
                f"cannot connect to Postgres pool {self.name} at {self.url}: "
                f"{redact(str(exc))}; check that the server is up"
            ) from exc
        if self._failures:
            self._failures = 0
            self._retry_at = 0.0
            log.info("pool %s: Postgres reachable again", self.name)
        return proxy

    async def _wait_for_holder(self, pool: asyncpg.Pool, budget: float) -> PoolConnectionProxy:
        task = self._deadlines.enter(budget)
        self._waiting += 1
        try:
            return await pool.acquire()
        except asyncio.CancelledError:
            if self._deadlines.expired(task):  # ours becomes a timeout; a caller's cancel stays
                raise TimeoutError from None
            raise
        finally:
            self._waiting -= 1
            self._deadlines.leave(task)

    async def _ping(self, proxy: PoolConnectionProxy) -> bool:
        """``SELECT 1`` on ``proxy``; a dead connection is dropped (asyncpg reopens its holder)."""
        try:
            await proxy.fetchval("SELECT 1", timeout=self.connect_timeout)
        except Exception as exc:
            self._errors.add(1, {**self._attrs, "kind": "stale"})
            log.info("pool %s: dropped a stale connection (%s)", self.name, exc)
            proxy.terminate()  # hands the holder back; asyncpg reconnects on next acquire
            return False
        return True

    def _exhausted(self, budget: float, *, queue_full: bool = False) -> PoolExhausted:
        stats = self.stats()
        why = (
            f"{stats.waiting} callers already waiting (max_waiting={self.max_waiting})"
            if queue_full
            else f"no connection free after {budget:.1f} s"
        )
        return PoolExhausted(
            f"Postgres pool {self.name} exhausted: {stats.in_use}/{self.max_size} in use, "
            f"{stats.waiting} waiting; {why}. Raise DATABASE_POOL_MAX (and the server's "
            "max_connections), shorten transactions, or raise MEDIZ_ACQUIRE_TIMEOUT",
            size=self.max_size, in_use=stats.in_use, waiting=stats.waiting, timeout=budget,
        )

    # outage back-off -------------------------------------------------------------------------

    @property
    def retry_at(self) -> float:
        """When (``time.monotonic()``) the pool may try the server again; 0 when not in back-off."""
        return self._retry_at

    def note_outage(self, exc: BaseException) -> None:
        """Count a failed connect and set when to try again (jittered, exponential back-off).

        Until then an acquire that finds no idle connection fails fast with
        :class:`BackendUnavailable`, and :meth:`read` skips this pool as a replica.
        """
        self._failures += 1
        backoff = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (self._failures - 1))
        # Equal jitter: processes that lost the server together do not come back together.
        self._retry_at = time.monotonic() + backoff / 2 + random.uniform(0, backoff / 2)
        self._last_error = redact(str(exc)) or type(exc).__name__
        self._errors.add(1, {**self._attrs, "kind": "unavailable"})

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
        if self._replicas is not None:
            detail["replicas"] = await self._replicas.check(timeout)
        return detail


def _free_holders(pool: asyncpg.Pool) -> asyncio.Queue[Any] | None:
    """asyncpg's queue of free holders, or ``None`` when this asyncpg has none."""
    # Private to asyncpg: peeked to skip the acquire timer when a holder is free. Without it
    # every acquire simply takes the timed path.
    queue = getattr(pool, "_queue", None)
    return queue if isinstance(queue, asyncio.Queue) else None
