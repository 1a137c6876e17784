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
from .._urls import parse_bool, parse_url, redact
from ..errors import BackendTimeout, BackendUnavailable, ConfigError, PoolClosed, PoolExhausted
from ._pgacquire import Acquire, Read, Transaction
from ._pgconn import TrackedConnection
from ._pggauges import register_gauges

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    from ..config import Settings

__all__ = ["PoolManager", "PoolStats"]

log = logging.getLogger("mediz_infra.postgres")

_SCHEMES = ("postgresql", "postgres")
_PGBOUNCER_PORTS = frozenset({6432, 6543})
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


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a pool's connections."""

    size: int
    idle: int
    in_use: int
    waiting: int
    max_size: int


def _check_positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value <= 0:
        raise ConfigError(name, f"must be a number of seconds > 0, got {value!r}")


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
        parsed = parse_url(url, field_name="DATABASE_URL", schemes=_SCHEMES)
        query = dict(parsed.query)
        if "pgbouncer" in query:
            try:
                pgbouncer = parse_bool(query.pop("pgbouncer"))
            except ValueError as exc:
                raise ConfigError(
                    "DATABASE_URL?pgbouncer", f"{exc} in {parsed.redacted()}"
                ) from None
        if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
            raise ConfigError("min_size", f"must be an integer >= 0, got {min_size!r}")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ConfigError("max_size", f"must be an integer >= 1, got {max_size!r}")
        if min_size > max_size:
            raise ConfigError(
                "min_size", f"min_size ({min_size}) is larger than max_size ({max_size})"
            )
        if max_waiting is not None and max_waiting < 0:
            raise ConfigError("max_waiting", f"must be >= 0 or None, got {max_waiting!r}")
        _check_positive("acquire_timeout", acquire_timeout)
        _check_positive("command_timeout", command_timeout, allow_none=True)
        _check_positive("statement_timeout", statement_timeout, allow_none=True)
        _check_positive("max_lifetime", max_lifetime)
        _check_positive("max_idle", max_idle)
        _check_positive("ping_after", ping_after)
        _check_positive("connect_timeout", connect_timeout)
        if pgbouncer not in ("auto", True, False):
            raise ConfigError("pgbouncer", f"must be 'auto', True or False, got {pgbouncer!r}")
        if reset not in ("auto", "always"):
            raise ConfigError("reset", f"must be 'auto' or 'always', got {reset!r}")

        self.name = name
        self.url = parsed.redacted()
        # Our own options stay here; the rest (sslmode, ...) go to asyncpg with the password.
        self._dsn = urlsplit(parsed.raw)._replace(query=urlencode(query)).geturl()
        self.pgbouncer: bool = (
            parsed.port in _PGBOUNCER_PORTS if pgbouncer == "auto" else bool(pgbouncer)
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
        self.connect_timeout = connect_timeout
        try:
            self._replicas = [self._replica(r, i, pgbouncer) for i, r in enumerate(replicas)]
        except ConfigError as exc:
            raise ConfigError("DATABASE_REPLICA_URLS", str(exc).partition(": ")[2]) from None
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

    def _replica(self, url: str, index: int, pgbouncer: Literal["auto"] | bool) -> PoolManager:
        return PoolManager(
            url, min_size=0, max_size=self.max_size, acquire_timeout=self.acquire_timeout,
            command_timeout=self.command_timeout, statement_timeout=self.statement_timeout,
            application_name=self.application_name, max_lifetime=self.max_lifetime,
            max_idle=self.max_idle, ping_after=self.ping_after, max_waiting=self.max_waiting,
            pgbouncer=pgbouncer, reset=self.reset_mode, name=f"{self.name}-replica-{index}",
            describe_cache=self.describe_cache,
            connect_timeout=self.connect_timeout,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> PoolManager:
        """Build a pool from :class:`~mediz_infra.config.Settings` (DATABASE_* variables).

        Raises:
            ConfigError: ``DATABASE_URL`` is unset.
        """
        dsn = settings.database_dsn()
        if dsn is None:
            raise ConfigError("DATABASE_URL", "is not set; set it to postgresql://user@host/db")
        pgb = settings.database_pgbouncer
        options: dict[str, Any] = {
            "min_size": settings.database_pool_min,
            "max_size": settings.database_pool_max,
            "pgbouncer": "auto" if pgb == "auto" else pgb == "true",
            "replicas": settings.replica_dsns(),
            "acquire_timeout": settings.acquire_timeout,
            "command_timeout": settings.command_timeout,
            "statement_timeout": settings.statement_timeout,
            "application_name": settings.application_name,
        }
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
            server_settings = {"application_name": self.application_name}
            if self.statement_timeout is not None and not self.pgbouncer:
                server_settings["statement_timeout"] = str(int(self.statement_timeout * 1000))
            try:
                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    max_inactive_connection_lifetime=self.max_idle,
                    command_timeout=self.command_timeout,
                    timeout=self.connect_timeout,
                    connection_class=TrackedConnection,
                    statement_cache_size=0 if self.pgbouncer else 100,
                    server_settings=server_settings,
                    init=self._init_connection,
                    reset=self._reset_connection,
                )
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise BackendUnavailable(
                    f"cannot open the Postgres pool {self.name} at {self.url}: "
                    f"{redact(str(exc))}; check that the server is up and DATABASE_URL is right"
                ) from exc
            self._pool = pool
            # asyncpg's queue of free holders (private): peeked to skip the acquire timer when
            # a holder is free. Without it every acquire simply takes the timed path.
            queue = getattr(pool, "_queue", None)
            self._free_holders = queue if isinstance(queue, asyncio.Queue) else None
            for replica in self._replicas:
                try:
                    await replica.start()
                except BackendUnavailable as exc:  # not fatal: read() retries it later
                    replica._note_outage(exc)
                    log.warning("replica %s unavailable at start: %s", replica.url, exc)
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
                proxy = await self._acquire_once(pool, budget)
                released: float = cast(Any, proxy)._mz_released
                if time.monotonic() - released <= self.ping_after or await self._ping(proxy):
                    return proxy
                budget = deadline - time.monotonic()
                if budget <= 0:
                    raise BackendTimeout(f"no live Postgres connection to {self.url} in time")
        finally:
            # recorded for failures too: a slow PoolExhausted is the wait that matters most
            self._wait_hist.record(time.perf_counter() - start, self._attrs)

    async def _acquire_once(self, pool: asyncpg.Pool, budget: float) -> PoolConnectionProxy:
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
            self._note_outage(exc)
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

    def _note_outage(self, exc: BaseException) -> None:
        self._failures += 1
        backoff = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (self._failures - 1))
        # Equal jitter: processes that lost the server together do not come back together.
        self._retry_at = time.monotonic() + backoff / 2 + random.uniform(0, backoff / 2)
        self._last_error = redact(str(exc)) or type(exc).__name__
        self._errors.add(1, {**self._attrs, "kind": "unavailable"})

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
            replicas = []
            for replica in self._replicas:
                try:
                    replicas.append({"status": "ok", **await replica.check(timeout)})
                except (BackendUnavailable, BackendTimeout, PoolExhausted, PoolClosed) as exc:
                    replicas.append({"status": "down", "url": replica.url, "error": str(exc)})
            detail["replicas"] = replicas
        return detail

    def _healthy_replicas(self) -> Iterable[PoolManager]:
        count = len(self._replicas)
        start = self._rr
        self._rr = (start + 1) % count
        now = time.monotonic()
        for i in range(count):
            replica = self._replicas[(start + i) % count]
            if replica._retry_at <= now:
                yield replica
