"""PoolManager: a bounded, PgBouncer-ready Postgres pool of its own over asyncpg connections.

PoolManager opens asyncpg connections itself (``asyncpg.connect`` with
:class:`~.connection.TrackedConnection`) and lends them without asyncpg's ``Pool``: a checkout
that finds a free connection and nobody waiting is synchronous bookkeeping (no task, no timer,
no proxy object), and so is the release of a connection whose session is clean. That is what
makes it faster than asyncpg's pool at low concurrency (see ``python -m benchmarks pool``).

- **Free list, LIFO.** The most recently released connection is lent first: it is the warmest,
  and the ones at the bottom age out after ``max_idle`` (one timer per pool, not per release).
- **Waiters, FIFO.** A caller that finds no free connection and no room to open one waits in a
  bounded queue (``max_waiting``) under the pool's shared :class:`~mediz_infra._deadlines.Deadlines`
  timer; a released connection goes straight to the first waiter, and a freed slot (a
  connection closed) lets the first waiter open a new one.
- **Slots.** At most ``max_size`` connections exist or are being opened; ``min_size`` are opened
  by :meth:`PoolManager.start`, the rest on demand.
- **Release.** A clean connection goes back with no I/O. One that needs work (an open
  transaction, a dirty session, a query cancelled mid-flight, an expired lifetime or
  generation) is restored by :meth:`.connection.Connector.restore` in a task of the pool's, which
  the releasing caller awaits through :func:`asyncio.shield`: a cancelled caller never takes the
  connection with it.
- **Cancellation.** No await of acquire, pre-ping, reset or release loses a connection: a
  connection handed to a waiter that was cancelled at that moment goes to the next one, a
  connect whose caller was cancelled finishes in the pool's task and joins the free list, a
  pre-ping cancelled mid-query is restored like a release.

When the release reset runs (``reset="auto"``, the default): only when the connection's session
was changed (see :mod:`.connection` for the exact statements that count) or a transaction was
left open (rolled back: asyncpg's ``Connection.reset()``). Python-side listeners are removed with
it. In PgBouncer mode the reset query never runs: PgBouncer hands the server connection to other
clients between transactions, so a reset would land on a random server connection.
``reset="always"`` runs it on every release, as asyncpg's pool does.

Layout: :class:`PoolManager` is here, with what it does to its own state: the free list, the
waiters and the slots, the pre-ping, the errors and the back-off after an outage. :mod:`.options`
checks its arguments, :mod:`.checkout` lends a connection (the context managers),
:mod:`.replicas` keeps the read replicas and their round robin, :mod:`.connection` is the
connection class (session tracking, the use-after-release guard) and the :class:`~.connection.
Connector` that opens and restores connections, and :mod:`.gauges` reports gauges.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
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
from ..sampling import QuerySampler
from .checkout import Acquire, Read, Transaction
from .connection import Connector, TrackedConnection, statement_hooks_match
from .gauges import PoolStats, register_gauges
from .options import (
    PGBOUNCER_PORTS,
    check_arguments,
    check_replica_arguments,
    parse_pool_url,
    settings_options,
)
from .replicas import ReplicaSet, parse_position

_rng = random.Random()  # ours: the app's global `random` state is left alone

if TYPE_CHECKING:
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

# What a waiter is handed: a connection, or None for "a slot is free: open one".
_Handoff = asyncio.Future[TrackedConnection | None]


class PoolManager:
    """A Postgres connection pool for one primary and optional read replicas.

    Use it as ``async with PoolManager(url) as pool`` or call :meth:`start` and :meth:`close`;
    nothing connects before :meth:`start`. Get connections with ``async with pool.acquire() as
    con`` (the pool's own asyncpg connections, no proxy), ``pool.read()`` for read-only work
    that a replica may serve, and ``pool.transaction()`` for a transaction on the primary.

    Args:
        url: ``postgresql://user:password@host:port/database``. A ``pgbouncer=true|false`` query
            option overrides ``pgbouncer``; other options go to asyncpg (``sslmode`` ...).
        min_size: connections opened at start and kept open.
        max_size: the most connections this pool opens (per process).
        acquire_timeout: seconds to wait for a free connection before :class:`PoolExhausted`.
        command_timeout: default seconds for each query (``None``: no limit). With
            ``acquire_timeout`` it bounds what a request waits for the database: a query on a
            hung server raises :class:`TimeoutError` after it, and the caller does not wait for
            the server to confirm the cancellation (the pool does, in the background).
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
        max_lag: seconds of replay lag past which :meth:`read` skips a replica (``None``:
            never); lag is sampled in the background, never per read.
        lag_fallback: with every live replica past ``max_lag``, ``"primary"`` reads from the
            primary, ``"fail"`` raises :class:`BackendUnavailable`.
        replica_check_interval: seconds between two background samples of each replica
            (its lag and replay position; a replica that fails one is skipped until it answers).
        replica_check_timeout: the bound on one sample: at :meth:`start`, in the background,
            and as the probe of a replica that is down.
        sample_queries: keep this share (0 to 1) of the statements run on the pool's
            connections, replicas included, in :attr:`query_sampler`: the workload the index
            advisor reads (``IndexAdvisor(pool).run(pool.query_sampler.statements())`` or
            ``mediz-infra db advise --sampled FILE``). ``None`` (the default): off, no cost.

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
        command_timeout: float | None = 5.0,
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
        max_lag: float | None = None,
        lag_fallback: Literal["primary", "fail"] = "primary",
        replica_check_interval: float = 1.0,
        replica_check_timeout: float = 1.0,
        sample_queries: float | None = None,
    ) -> None:
        parsed, query, pgbouncer = parse_pool_url(url, pgbouncer)
        check_arguments(
            min_size=min_size, max_size=max_size, acquire_timeout=acquire_timeout,
            command_timeout=command_timeout, statement_timeout=statement_timeout,
            max_lifetime=max_lifetime, max_idle=max_idle, ping_after=ping_after,
            max_waiting=max_waiting, pgbouncer=pgbouncer, reset=reset,
            connect_timeout=connect_timeout,
        )
        check_replica_arguments(
            max_lag=max_lag, lag_fallback=lag_fallback,
            replica_check_interval=replica_check_interval,
            replica_check_timeout=replica_check_timeout,
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
        self._private_hooks = statement_hooks_match()
        if not self._private_hooks:  # an asyncpg whose private parts we cannot rely on
            log.warning(
                "pool %s: asyncpg %s differs from the releases mediz-infra was tested with; "
                "every released connection is reset, PgBouncer query descriptions are not kept "
                "and use after release is not caught (slower, still correct). Install an "
                "asyncpg version in the range mediz-infra declares to get them back",
                name, asyncpg.__version__,
            )
            self.reset_mode, self.describe_cache = "always", False
        self.connect_timeout = connect_timeout
        self.query_sampler: QuerySampler | None = (
            None if sample_queries is None else QuerySampler(sample_queries)
        )
        """The statements sampled with ``sample_queries`` (``None`` when off)."""
        self._replicas = self._make_replicas(
            replicas, pgbouncer, max_lag=max_lag, lag_fallback=lag_fallback,
            check_interval=replica_check_interval, check_timeout=replica_check_timeout,
        )
        self._connector: Connector | None = None
        self._started = False  # lending: between a successful start() and close()
        self._live = False  # adopting new connections: from start() to close()
        # Release needs no I/O for a clean connection only when asyncpg's private parts are known.
        self._fast_release = self._private_hooks and self.reset_mode == "auto"
        self._free: list[TrackedConnection] = []  # LIFO: append and pop at the end
        self._waiters: collections.deque[_Handoff] = collections.deque()
        self._connections: set[TrackedConnection] = set()  # every open one; each holds a slot
        self._slots = 0  # connections open or being opened (<= max_size)
        self._generation = 0
        self._tasks: set[asyncio.Task[Any]] = set()  # restores, connects and closes in flight
        self._drained: asyncio.Event | None = None  # set by the last connection out, on close
        self._reaper: asyncio.TimerHandle | None = None
        self._deadlines = Deadlines()  # waiting acquires share one timer
        self._start_lock: asyncio.Lock | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: str | None = None
        meter = telemetry.get_meter("db")
        self._wait_hist = meter.create_histogram(
            telemetry.DB_POOL_ACQUIRE_WAIT, unit="s", description="Time to get a pooled connection"
        )
        self._record_wait = self._wait_hist.record
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
        self, urls: Sequence[str], pgbouncer: Literal["auto"] | bool, **watch: Any
    ) -> ReplicaSet | None:
        """One pool per replica URL, with this pool's settings; ``None`` when there is none.

        Raises:
            ConfigError: a malformed replica URL, named as ``DATABASE_REPLICA_URLS``.
        """
        if not urls:
            return None
        try:
            pools = [
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
            ]
        except ConfigError as exc:
            raise ConfigError("DATABASE_REPLICA_URLS", str(exc).partition(": ")[2]) from None
        for pool in pools:  # reads count in the workload too
            pool.query_sampler = self.query_sampler
        return ReplicaSet(pools, **watch)

    def __repr__(self) -> str:
        state = "open" if self._started else "closed"
        return f"<PoolManager {self.name} {self.url} {state} max_size={self.max_size}>"

    # lifecycle ------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """True between a successful :meth:`start` and :meth:`close`."""
        return self._started

    @property
    def replicas(self) -> ReplicaSet | None:
        """The read replicas' pools, or ``None`` without replicas."""
        return self._replicas

    async def start(self) -> PoolManager:
        """Open ``min_size`` connections (and the replicas' pools). Calling it twice is harmless.

        Raises:
            BackendUnavailable: the primary cannot be reached; the pool stays closed.
        """
        if self._started:
            return self
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:  # another task started it while we waited
                return self  # type: ignore[unreachable]
            await self._open()
            self._started = True
            self._arm_reaper()
            if self._replicas is not None:
                await self._replicas.start()
        return self

    async def _open(self) -> None:
        """Open the ``min_size`` first connections, concurrently.

        Raises:
            BackendUnavailable: the server cannot be reached or refused the connection.
        """
        server_settings = {"application_name": self.application_name}
        if self.statement_timeout is not None and not self.pgbouncer:
            server_settings["statement_timeout"] = str(int(self.statement_timeout * 1000))
        self._connector = Connector(
            dsn=self._dsn, name=self.name, max_lifetime=self.max_lifetime,
            pgbouncer=self.pgbouncer, describe_cache=self.describe_cache,
            reset_mode=self.reset_mode, private_hooks=self._private_hooks,
            connect_timeout=self.connect_timeout, command_timeout=self.command_timeout,
            server_settings=server_settings, errors=self._errors, attrs=self._attrs,
            sampler=self.query_sampler,
        )
        self._generation += 1  # a connection of an earlier start() is closed on release
        self._live, self._drained = True, None
        self._slots += self.min_size
        opening = [self._connect(self.connect_timeout) for _ in range(self.min_size)]
        try:
            results = await asyncio.gather(*opening, return_exceptions=True)
        except BaseException:  # cancelled: nothing opened so far stays behind
            self._live = False
            for con in list(self._connections):
                con.terminate()
                self._forget(con)
            raise
        opened = [r for r in results if isinstance(r, TrackedConnection)]
        failed = [r for r in results if not isinstance(r, TrackedConnection)]
        if not failed:
            for con in opened:
                con._mz_leased = False
            self._free.extend(opened)
            return
        self._live = False
        for con in opened:
            con.terminate()
            self._forget(con)
        exc = failed[0]
        if not isinstance(exc, Exception):  # CancelledError, KeyboardInterrupt
            raise exc
        raise BackendUnavailable(
            f"cannot open the Postgres pool {self.name} at {self.url}: "
            f"{redact(str(exc))}; check that the server is up and DATABASE_URL is right"
        ) from exc

    async def close(self) -> None:
        """Close every connection, waiting up to ``acquire_timeout`` for checked-out ones.

        Waiting callers get :class:`PoolClosed`; a connection released after this closes.
        """
        if self._replicas is not None:
            await self._replicas.close()
        if not self._live:
            return
        self._started = self._live = False
        self._generation += 1
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(PoolClosed(f"pool {self.name} was closed"))
        idle, self._free = self._free, []
        for con in idle:
            self._spawn(self._close(con))
        drained = self._drained = asyncio.Event()
        if not self._connections:
            drained.set()
        try:
            await asyncio.wait_for(drained.wait(), self.acquire_timeout)
        except TimeoutError:
            log.warning("pool %s: connections still in use after %.1f s; terminating",
                        self.name, self.acquire_timeout)
            for con in list(self._connections):
                con.terminate()
                self._forget(con)
        if self._tasks:  # restores and closes still under way end within connect_timeout
            await asyncio.wait(list(self._tasks))

    async def expire_connections(self) -> None:
        """Replace every connection (replicas' too): idle ones now, checked-out ones on release.

        Use it after a schema migration, or after rotating the database password.
        """
        self._generation += 1
        idle, self._free = self._free, []
        closing = [self._spawn(self._close(con)) for con in idle]
        if closing:
            await asyncio.wait(closing)  # owned tasks: a cancelled caller does not stop them
        if self._replicas is not None:
            await self._replicas.expire_connections()

    async def __aenter__(self) -> PoolManager:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # acquiring -------------------------------------------------------------------------------

    def acquire(self, *, timeout: float | None = None) -> Acquire:
        """A connection from the primary: ``async with pool.acquire() as con: ...``.

        ``con`` is a :class:`~.connection.TrackedConnection`, an :class:`asyncpg.Connection`:
        every asyncpg method works on it. After the block it belongs to the pool again, and a
        query on it raises :class:`asyncpg.InterfaceError` while it sits idle.

        Raises (on enter):
            PoolExhausted: no connection was free within ``timeout`` (default
                ``acquire_timeout``), or ``max_waiting`` callers were already waiting.
            BackendUnavailable: the server cannot be reached (fails fast during back-off).
            BackendTimeout: opening a new connection took longer than the timeout.
            PoolClosed: the pool is not started.
        """
        return Acquire(self, timeout)

    def read(self, *, timeout: float | None = None, after: str | None = None) -> Read:
        """A connection for reads: a usable replica in turn, or the primary when none is.

        ``timeout`` (default ``acquire_timeout``) bounds getting the connection, whichever
        server gives it: each replica tried gets at most half of what is left, and a replica
        that fails or stays silent is skipped by later reads until it answers again. ``after``:
        a token from :meth:`position`; only a replica that has replayed past it is used.

        Raises (on enter): as :meth:`acquire`; :class:`ConfigError` for an ``after`` that is
        not a position; :class:`BackendUnavailable` when every replica lags and
        ``lag_fallback="fail"``.
        """
        position = None if after is None or self._replicas is None else parse_position(after)
        return Read(self, timeout, self._replicas, self.acquire_timeout, position)

    async def position(self, *, timeout: float | None = None) -> str:
        """The primary's WAL position now (``"16/B374D848"``): a token for ``read(after=...)``.

        Call it after a write has committed: a read with ``after=`` the token sees that write,
        from a replica that has replayed it or from the primary.
        """
        return str(await self.fetchval("SELECT pg_current_wal_lsn()::text", timeout=timeout))

    def transaction(self, *, timeout: float | None = None, **options: Any) -> Transaction:
        """A connection inside a transaction on the primary; commits on success.

        ``options`` go to asyncpg's ``Connection.transaction`` (isolation, readonly, deferrable).
        """
        return Transaction(self, timeout, options)

    def checkout_nowait(self) -> TrackedConnection | None:
        """A free connection that needs no pre-ping when nobody waits, else ``None``. No I/O.

        The synchronous first step of :meth:`checkout`, for the context managers' hot path.
        """
        free = self._free
        if free and not self._waiters:
            con = free[-1]
            if time.monotonic() - con._mz_released <= self.ping_after and not con.is_closed():
                free.pop()
                con._mz_leased = True
                self._record_wait(0.0, self._attrs)
                return con
        return None

    async def checkout(self, timeout: float | None = None) -> TrackedConnection:
        """A connection from the primary, to give back with :meth:`release`.

        The step under :meth:`acquire`, for code that cannot use a context manager; prefer
        :meth:`acquire`, which always gives the connection back. Raises what it does.
        """
        con = self.checkout_nowait()
        if con is not None:
            return con
        if not self._started:
            raise PoolClosed(f"pool {self.name} is not started: call await pool.start() first")
        budget = self.acquire_timeout if timeout is None else timeout
        start = time.perf_counter()
        deadline = time.monotonic() + budget
        try:
            while True:
                con, fresh = await self._take(budget)
                if fresh or time.monotonic() - con._mz_released <= self.ping_after:
                    return con
                if await self._ping(con, deadline - time.monotonic()):
                    return con
                budget = deadline - time.monotonic()
                if budget <= 0:
                    raise BackendTimeout(f"no live Postgres connection to {self.url} in time")
        finally:
            # recorded for failures too: a slow PoolExhausted is the wait that matters most
            self._record_wait(time.perf_counter() - start, self._attrs)

    def release_nowait(self, con: TrackedConnection) -> bool:
        """Give back a clean connection with no I/O; ``False`` when :meth:`release` must run.

        The synchronous first step of :meth:`release`, for the context managers' hot path.

        Raises:
            asyncpg.InterfaceError: ``con`` is not one of this pool's connections.
        """
        if con._mz_pool is not self:
            raise asyncpg.InterfaceError(
                f"release(): this connection does not belong to pool {self.name}"
            )
        if (
            self._fast_release
            and self._started
            and con._mz_leased
            and con._mz_release(time.monotonic(), self._generation)
        ):
            self._recycle(con)
            return True
        return False

    async def release(self, con: TrackedConnection) -> None:
        """Give back a connection from :meth:`checkout` (also while the pool is closing).

        A clean connection goes back at once; one that needs a rollback, a reset or a close is
        restored in a task of the pool's, awaited through :func:`asyncio.shield`: cancelling
        the caller does not stop it. A connection whose query was cut short (its timeout, or a
        cancelled caller) is restored without the caller waiting: the server's confirmation of
        the cancel may never come from a hung server, and the caller's deadline has passed.
        Releasing a connection twice is harmless.
        """
        if self.release_nowait(con) or not con._mz_leased:
            return
        con._mz_leased = False
        restoring = self._spawn(self._restore(con))
        if not (self._private_hooks and con._mz_cancelling()):
            await asyncio.shield(restoring)

    async def _take(self, budget: float) -> tuple[TrackedConnection, bool]:
        """A connection within ``budget`` seconds, and whether it is fresh (no ping needed).

        A free connection when nobody waits; else a new one while there is a free slot; else
        the caller joins the bounded wait queue with a shared deadline. During the back-off
        after an outage a pool with no free connection fails fast.

        Raises:
            BackendUnavailable: in back-off after an outage, or the server cannot be reached.
            PoolExhausted: ``max_waiting`` callers already wait, or none was free in time.
            BackendTimeout: a slot was free but opening the connection took the whole budget.
            PoolClosed: the pool was closed meanwhile.
        """
        free = self._free
        while free and not self._waiters:
            con = free.pop()
            if not con.is_closed():
                con._mz_leased = True
                return con, False
            self._forget(con)
        if self._retry_at and time.monotonic() < self._retry_at:
            raise BackendUnavailable(
                f"Postgres pool {self.name} at {self.url} is unreachable "
                f"({self._last_error}); retrying in {self._retry_at - time.monotonic():.2f} s"
            )
        if self._slots < self.max_size and not self._waiters:
            self._slots += 1
            return await self._open_in_slot(budget), True
        if self.max_waiting is not None and len(self._waiters) >= self.max_waiting:
            self._errors.add(1, {**self._attrs, "kind": "exhausted"})
            raise self._exhausted(budget, queue_full=True)
        started = time.monotonic()
        handed = await self._wait(budget)
        if handed is None:  # a slot was freed for us
            return await self._open_in_slot(budget - (time.monotonic() - started)), True
        return handed, True

    async def _wait(self, budget: float) -> TrackedConnection | None:
        """Wait in line for a released connection (or a freed slot, ``None``)."""
        handoff: _Handoff = asyncio.get_running_loop().create_future()
        self._waiters.append(handoff)
        task = self._deadlines.enter(budget)
        try:
            return await handoff
        except asyncio.CancelledError:
            if handoff.cancelled():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(handoff)
            elif handoff.exception() is None:
                # Handed over just as we were cancelled: it goes to the next in line.
                self._pass_on(handoff.result())
            if self._deadlines.expired(task):  # ours becomes PoolExhausted; a caller's cancel stays
                self._errors.add(1, {**self._attrs, "kind": "exhausted"})
                raise self._exhausted(budget) from None
            raise
        finally:
            self._deadlines.leave(task)

    async def _open_in_slot(self, budget: float) -> TrackedConnection:
        """Open a connection in the slot the caller holds.

        The connect runs in a task of the pool's, awaited through a shield: a caller cancelled
        meanwhile leaves the new connection to the free list (or the next waiter).

        Raises:
            BackendUnavailable, BackendTimeout, PoolClosed: as :meth:`checkout`.
        """
        timeout = max(min(self.connect_timeout, budget), 0.001)
        opening = self._spawn(self._connect(timeout))
        try:
            con: TrackedConnection = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(self._adopt)
            raise
        except TimeoutError:
            raise BackendTimeout(
                f"opening a Postgres connection to {self.url} took more than "
                f"{timeout:.1f} s; check the server's load and network"
            ) from None
        except _OUTAGE_ERRORS as exc:
            self.note_outage(exc)
            raise BackendUnavailable(
                f"cannot connect to Postgres pool {self.name} at {self.url}: "
                f"{redact(str(exc))}; check that the server is up"
            ) from exc
        except asyncpg.PostgresError as exc:  # refused: authentication, unknown database ...
            raise BackendUnavailable(
                f"Postgres refused a connection for pool {self.name} at {self.url}: "
                f"{redact(str(exc))}; check DATABASE_URL"
            ) from exc
        if self._failures:
            self._failures = 0
            self._retry_at = 0.0
            log.info("pool %s: Postgres reachable again", self.name)
        return con

    async def _connect(self, timeout: float) -> TrackedConnection:
        """Open one connection in a slot already counted; the slot is freed if that fails."""
        assert self._connector is not None
        try:
            con = await self._connector.connect(timeout)
        except BaseException:
            self._free_slot()
            raise
        if not self._live:  # closed meanwhile
            con.terminate()
            self._free_slot()
            raise PoolClosed(f"pool {self.name} was closed")
        con._mz_pool = self
        con._mz_generation = self._generation
        self._connections.add(con)
        return con

    def _adopt(self, opening: asyncio.Task[TrackedConnection]) -> None:
        """A connect whose caller was cancelled: its connection joins the pool."""
        if not opening.cancelled() and opening.exception() is None:
            self._recycle(opening.result())

    async def _ping(self, con: TrackedConnection, budget: float) -> bool:
        """``SELECT 1`` on ``con`` within ``budget`` (at most ``connect_timeout``) seconds.

        A dead or silent connection is dropped (its slot freed).
        """
        try:
            await con.fetchval("SELECT 1", timeout=max(min(self.connect_timeout, budget), 0.001))
        except asyncio.CancelledError:
            # Interrupted mid-query: restored (the server's cancel awaited) like a release.
            con._mz_leased = False
            self._spawn(self._restore(con))
            raise
        except Exception as exc:
            self._errors.add(1, {**self._attrs, "kind": "stale"})
            log.info("pool %s: dropped a stale connection (%s)", self.name, exc)
            con.terminate()
            self._forget(con)
            return False
        return True

    # giving back -----------------------------------------------------------------------------

    def _recycle(self, con: TrackedConnection) -> None:
        """A usable connection: to the first waiter, else onto the free list."""
        if not self._live:
            self._spawn(self._close(con))
            return
        waiters = self._waiters
        while waiters:
            handoff = waiters.popleft()
            if not handoff.done():
                con._mz_leased = True
                handoff.set_result(con)
                return
        con._mz_leased = False
        self._free.append(con)

    def _pass_on(self, handed: TrackedConnection | None) -> None:
        """What a cancelled waiter was handed goes on: a connection, or a slot."""
        if handed is None:
            self._free_slot()
        else:
            self._recycle(handed)

    def _free_slot(self) -> None:
        """A slot came free: the first waiter may open a connection in it."""
        if self._live:
            waiters = self._waiters
            while waiters:
                handoff = waiters.popleft()
                if not handoff.done():
                    handoff.set_result(None)
                    return
        self._slots -= 1

    def _forget(self, con: TrackedConnection) -> None:
        """``con`` is closed (or terminated): drop it and free its slot, once."""
        if con not in self._connections:
            return
        self._connections.discard(con)
        self._free_slot()
        if self._drained is not None and not self._connections:
            self._drained.set()

    async def _restore(self, con: TrackedConnection) -> None:
        """Restore a released connection (see :meth:`.connection.Connector.restore`)."""
        assert self._connector is not None
        guarded, con._mz_guarded = con._mz_guarded, False  # the pool's own queries pass
        try:
            retire = not self._live or con._mz_generation != self._generation
            usable = await self._connector.restore(con, retire=retire)
        except BaseException:  # cancelled at loop shutdown: restore() terminated it
            self._forget(con)
            raise
        finally:
            con._mz_guarded = guarded
        if not usable:
            self._forget(con)
        elif self._live and con._mz_generation == self._generation:
            self._recycle(con)
        else:  # the pool closed or expired its connections meanwhile
            await self._close(con)

    async def _close(self, con: TrackedConnection) -> None:
        assert self._connector is not None
        try:
            await self._connector.close(con)
        finally:
            self._forget(con)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        """A task of the pool's: kept until done, awaited by :meth:`close`."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # idle connections ------------------------------------------------------------------------

    def _arm_reaper(self) -> None:
        loop = asyncio.get_running_loop()
        self._reaper = loop.call_later(max(self.max_idle / 2, 0.01), self._reap)

    def _reap(self) -> None:
        """Close connections idle longer than ``max_idle`` above ``min_size``: the oldest first."""
        self._reaper = None
        if not self._live:
            return
        limit = time.monotonic() - self.max_idle
        free = self._free
        spare = len(self._connections) - self.min_size
        closing = 0
        while closing < spare and free and free[0]._mz_released <= limit:
            self._spawn(self._close(free.pop(0)))
            closing += 1
        self._arm_reaper()

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
        self._retry_at = time.monotonic() + backoff / 2 + _rng.uniform(0, backoff / 2)
        self._last_error = redact(str(exc)) or type(exc).__name__
        self._errors.add(1, {**self._attrs, "kind": "unavailable"})

    # conveniences ----------------------------------------------------------------------------

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """Run ``query`` on the primary and return every row."""
        con = self.checkout_nowait() or await self.checkout()
        try:
            return await con.fetch(query, *args, timeout=timeout)
        finally:
            if not self.release_nowait(con):
                await self.release(con)

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Any:
        """Run ``query`` on the primary and return the first row or ``None``."""
        con = self.checkout_nowait() or await self.checkout()
        try:
            return await con.fetchrow(query, *args, timeout=timeout)
        finally:
            if not self.release_nowait(con):
                await self.release(con)

    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any:
        """Run ``query`` on the primary and return the first column of the first row."""
        con = self.checkout_nowait() or await self.checkout()
        try:
            return await con.fetchval(query, *args, timeout=timeout)
        finally:
            if not self.release_nowait(con):
                await self.release(con)

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        """Run ``query`` on the primary and return its status (``"INSERT 0 1"``)."""
        con = self.checkout_nowait() or await self.checkout()
        try:
            return await con.execute(query, *args, timeout=timeout)
        finally:
            if not self.release_nowait(con):
                await self.release(con)

    # observing -------------------------------------------------------------------------------

    def stats(self) -> PoolStats:
        """Current size, idle, in-use and waiting counts (zeros before start).

        ``size`` counts open connections (one being restored or closed after release counts
        as in use until that ends); ``waiting`` the callers in line.
        """
        size, idle = len(self._connections), len(self._free)
        waiting = sum(not w.done() for w in self._waiters) if self._waiters else 0
        return PoolStats(size, idle, size - idle, waiting, self.max_size)

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
