"""The pooled asyncpg connection: notes every statement that changes session state.

asyncpg's pool runs a reset query (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
RESET ALL``) on every release: a full round trip that costs most of a short query. It is only
needed when the session was changed. This connection class looks at each statement's text as it
is sent and marks the connection *dirty* when the text can change session state, so the pool
resets only dirty connections. Its reset query is asyncpg's with ``SET SESSION AUTHORIZATION
DEFAULT; RESET ROLE`` before it (``RESET ALL`` keeps the role) and ``DISCARD TEMP; DISCARD
SEQUENCES`` after: ``DISCARD ALL`` but for ``DEALLOCATE ALL``, which would drop asyncpg's own
prepared statements.

What marks a connection dirty (case-insensitive, at the start of any statement of the text):
``SET`` (but not ``SET LOCAL`` or ``SET TRANSACTION``, which end with the transaction),
``RESET``, ``LISTEN``, ``PREPARE``, ``DECLARE``, ``LOAD``, ``DISCARD``, ``CREATE TEMP[ORARY]``
(and ``GLOBAL/LOCAL TEMP``), and anywhere in the text a call of ``set_config(``,
``pg_advisory_lock(``, ``pg_advisory_lock_shared(``, ``pg_try_advisory_lock(`` or
``pg_try_advisory_lock_shared(`` (the session-level lock functions; the ``_xact_`` variants end
with the transaction). The check errs towards dirty: a false alarm costs one reset round trip.

What it cannot see: session state changed by code running *inside* the server, such as a
PL/pgSQL function that calls ``set_config(..., false)`` or takes a session advisory lock. An app
that does that passes ``reset="always"`` to :class:`~mediz_infra.backends.postgres.PoolManager`.

:class:`Connector` opens a pool's connections (stamping each one's jittered lifetime) and
restores a released one that needs it: waits for an interrupted query's cancellation, rolls back
an open transaction, runs the reset query only for a dirty one, closes an expired one. It lives
here, with the connection whose bookkeeping it keeps.

Private API note: the class hooks ``Connection.execute`` and ``Connection._get_statement`` (every
extended-protocol query, prepared statement and cursor goes through the latter) and
``_drop_local_statement_cache``; it overrides ``_check_open`` (which asyncpg calls first in every
query method) as the use-after-release guard; and on release it reads ``_protocol``,
``_aborted`` and ``_top_xact``, bumps ``_pool_release_ctr``, calls ``_on_release`` and the
protocol's ``_is_cancelling``/``_wait_for_cancellation``, as asyncpg's own pool does. What that
buys: a release with no I/O and no task for a clean connection (no reset round trip: acquire +
query + release about 1.3x faster than asyncpg's pool at c=10; acquire + release alone about
1 µs instead of 20, ``python -m benchmarks pool``), use after release caught without a proxy
(about 0.1 µs per query), and, in PgBouncer mode, one round trip per query instead of two.
:func:`statement_hooks_match` checks once that this asyncpg still has all of them, with the
signature they were written against; when it does not, the pool resets every connection through
the public ``Connection.reset()`` (``reset="always"``), keeps no descriptions and has no guard.
``tests/integration/test_pool_reset.py`` fails if a release in the tested range stops routing
statements through these methods.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import re
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

_rng = random.Random()  # ours: the app's global `random` state is left alone

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter

    from ..sampling import QuerySampler

__all__ = [
    "Connector",
    "PgBouncerSessionWarning",
    "TrackedConnection",
    "changes_session",
    "statement_hooks_match",
]

log = logging.getLogger("mediz_infra.postgres")

_STATEMENT_START = re.compile(
    r"(?:^|;)\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*"
    r"(?:SET(?!\s+(?:LOCAL|TRANSACTION|CONSTRAINTS)\b)|RESET|LISTEN|PREPARE|DECLARE|LOAD|DISCARD"
    r"|CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?TEMP(?:ORARY)?)\b",
    re.IGNORECASE | re.DOTALL,
)
# The name may be quoted ("set_config", pg_catalog."set_config") and a comment may sit before
# the parenthesis: neither changes what the server calls.
_SESSION_CALL = re.compile(
    r"\b(?:set_config|pg_(?:try_)?advisory_lock(?:_shared)?)\"?\s*(?:/\*.*?\*/\s*)*\(",
    re.IGNORECASE | re.DOTALL,
)
# Around asyncpg's reset query (advisory locks, cursors, LISTEN, RESET ALL): RESET ALL leaves the
# role and the session user alone, and temporary tables and sequence state outlive it.
_RESET_BEFORE = "SET SESSION AUTHORIZATION DEFAULT;\nRESET ROLE;\n"
_RESET_AFTER = "\nDISCARD TEMP;\nDISCARD SEQUENCES;"
_CACHE_MAX = 4096
_DESCRIBED_MAX = 512
_cache: dict[str, bool] = {}


def changes_session(query: str) -> bool:
    """True when ``query`` may change session state (see the module docstring for the list)."""
    known = _cache.get(query)
    if known is not None:
        return known
    dirty = bool(_STATEMENT_START.search(query) or _SESSION_CALL.search(query))
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()  # apps run a bounded set of statements; a rare refill is cheap
    _cache[query] = dirty
    return dirty


_GET_STATEMENT_PARAMETERS = (
    "self", "query", "timeout", "named", "use_cache", "ignore_custom_codec", "record_class"
)
# Private names of asyncpg.Connection and of its protocol that the pool reads or calls.
_CONNECTION_METHODS = ("_check_open", "_on_release", "_drop_local_statement_cache")
_CONNECTION_SLOTS = ("_protocol", "_aborted", "_top_xact", "_pool_release_ctr")
_PROTOCOL_METHODS = (
    "_is_cancelling", "_wait_for_cancellation", "is_in_transaction", "is_connected"
)


@functools.cache
def statement_hooks_match() -> bool:
    """Whether asyncpg's private parts that :class:`TrackedConnection` uses are the expected ones.

    Checked once per process: ``Connection._get_statement`` (with the parameters it was written
    against), ``_drop_local_statement_cache``, ``_check_open`` (the use-after-release guard),
    ``_on_release``, the slots ``_protocol``, ``_aborted``, ``_top_xact`` and
    ``_pool_release_ctr``, and the protocol's ``_is_cancelling``/``_wait_for_cancellation``.
    False on an asyncpg that lacks any of them: the pool then resets every connection on release
    through the public ``Connection.reset()``, keeps no PgBouncer descriptions and has no
    use-after-release guard (slower, still correct).
    """
    get_statement = getattr(asyncpg.Connection, "_get_statement", None)
    if not inspect.iscoroutinefunction(get_statement):
        return False
    if not all(callable(getattr(asyncpg.Connection, m, None)) for m in _CONNECTION_METHODS):
        return False
    slots = set(getattr(asyncpg.Connection, "__slots__", ()))
    if not slots.issuperset(_CONNECTION_SLOTS):
        return False
    protocol = getattr(getattr(asyncpg, "protocol", None), "Protocol", None)
    if protocol is None or not all(callable(getattr(protocol, m, None)) for m in _PROTOCOL_METHODS):
        return False
    try:
        parameters = tuple(inspect.signature(get_statement).parameters)
    except (TypeError, ValueError):
        return False
    return parameters == _GET_STATEMENT_PARAMETERS


class PgBouncerSessionWarning(UserWarning):
    """A statement uses a session feature that PgBouncer's transaction pooling breaks."""


class TrackedConnection(asyncpg.Connection):
    """An asyncpg connection that remembers whether its session state was changed.

    :class:`~mediz_infra.backends.postgres.PoolManager` hands these out from ``acquire()``: the
    connection itself, no proxy. Every asyncpg method works on it. Once it is released, a query
    method raises :class:`asyncpg.InterfaceError` (while it sits idle in the pool; see the
    guard in :meth:`_check_open`).

    The ``_mz_*`` attributes are the pool's bookkeeping: the pool reads and writes them, as
    asyncpg's own pool does with ``Connection._pool_release_ctr``.
    """

    __slots__ = (
        "_mz_described", "_mz_dirty", "_mz_expires", "_mz_generation", "_mz_guarded",
        "_mz_leased", "_mz_pgbouncer", "_mz_pool", "_mz_released", "_mz_reset_always",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        now = time.monotonic()
        self._mz_dirty = False
        self._mz_expires = float("inf")
        self._mz_released = now
        self._mz_pgbouncer = False
        self._mz_reset_always = False
        # True while someone (a caller, or the pool itself) holds the connection.
        self._mz_leased = True
        self._mz_guarded = False
        self._mz_generation = 0
        self._mz_pool: object = None
        # PgBouncer mode only: query -> its described unnamed statement (see _get_statement)
        self._mz_described: dict[tuple[Any, ...], Any] | None = None

    def _check_open(self) -> None:
        # asyncpg calls this first in every query method: the use-after-release guard costs
        # one attribute test per query instead of a proxy object per checkout.
        if not self._mz_leased and self._mz_guarded:
            raise asyncpg.InterfaceError(
                "cannot use this connection: it was released back to the pool; acquire a new "
                "one (async with pool.acquire() as con) and do not keep it after the block"
            )
        super()._check_open()  # type: ignore[misc]

    def _mz_note(self, query: str) -> None:
        if changes_session(query):
            self._mz_dirty = True
            if self._mz_pgbouncer:
                first = query.strip().splitlines()[0][:80] if query.strip() else query
                warnings.warn(
                    PgBouncerSessionWarning(
                        f"{first!r} changes session state, which PgBouncer's transaction pooling "
                        "does not keep: the next transaction may run on another server connection "
                        "(and this one may leak to another client). Use SET LOCAL or "
                        "pg_advisory_xact_lock inside a transaction, or connect to Postgres "
                        "directly (pgbouncer=False) for LISTEN and session locks."
                    ),
                    stacklevel=4,
                )

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        self._mz_note(query)
        return await super().execute(query, *args, timeout=timeout)

    async def add_listener(self, channel: str, callback: Any) -> None:
        self._mz_dirty = True  # the release reset removes it (and asyncpg warns about it)
        await super().add_listener(channel, callback)

    def add_log_listener(self, callback: Any) -> None:
        self._mz_dirty = True
        super().add_log_listener(callback)

    def get_reset_query(self) -> str:
        # Connection.reset() runs this after rolling back: nothing in PgBouncer mode (the
        # server connection is not ours between transactions), nothing for a clean session.
        if self._mz_pgbouncer or not (self._mz_dirty or self._mz_reset_always):
            return ""
        query: str = super().get_reset_query()
        if "RESET ALL" not in query:  # a server without RESET (asyncpg's caps): as asyncpg does
            return query
        return _RESET_BEFORE + query + _RESET_AFTER

    async def _get_statement(self, query: str, timeout: float | None, **kwargs: Any) -> Any:
        self._mz_note(query)
        described = self._mz_described
        if described is None or kwargs.get("named") or kwargs.get("use_cache") is False:
            return await super()._get_statement(query, timeout, **kwargs)  # type: ignore[misc]
        # Without a statement cache (PgBouncer mode) asyncpg describes every query in a round
        # trip of its own, then sends Parse+Bind+Execute. The description of an unnamed
        # statement is ours to keep: asyncpg marks it unprepared, so every use re-sends the
        # Parse in the same message as Bind/Execute, which any server connection accepts.
        # One round trip per query instead of two.
        key = (query, kwargs.get("record_class"), kwargs.get("ignore_custom_codec", False))
        statement = described.get(key)
        if statement is None:
            statement = await super()._get_statement(query, timeout, **kwargs)  # type: ignore[misc]
            if not statement.name and not statement.prepared:
                if len(described) >= _DESCRIBED_MAX:
                    described.clear()
                described[key] = statement
        return statement

    def _drop_local_statement_cache(self) -> None:
        # reload_schema_state(), type codec changes and asyncpg's own stale-cache recovery
        # all come through here: the kept descriptions go with asyncpg's statements.
        super()._drop_local_statement_cache()  # type: ignore[misc]
        if self._mz_described:
            self._mz_described.clear()

    def _mz_release(self, now: float, generation: int) -> bool:
        """Note a release; True when the connection can be reused as it is, with no I/O.

        Only with :func:`statement_hooks_match`. False when a reset or rollback is due, a
        query's cancellation is still under way, the connection is closed, expired or from an
        older generation: the pool then restores it with :meth:`Connector.restore`.
        """
        # Statements and cursors from this lease now refuse to run (asyncpg checks the counter).
        self._pool_release_ctr += 1  # type: ignore[attr-defined]
        self._mz_released = now
        if (
            self._mz_dirty
            or self._aborted  # type: ignore[attr-defined]
            or now >= self._mz_expires
            or generation != self._mz_generation
            or self._top_xact is not None  # type: ignore[attr-defined]
        ):
            return False
        protocol = self._protocol  # type: ignore[attr-defined]
        return bool(
            protocol.is_connected()
            and not protocol.is_in_transaction()
            and not protocol._is_cancelling()
        )

    def _mz_cancelling(self) -> bool:
        """Whether a query cut short is still being cancelled on the server.

        Only with :func:`statement_hooks_match` (it reads the protocol's private state).
        """
        protocol = self._protocol  # type: ignore[attr-defined]
        return protocol is not None and bool(protocol._is_cancelling())

    async def _mz_settle(self) -> None:
        """Wait until the server has answered the cancellation of an interrupted query."""
        protocol = self._protocol  # type: ignore[attr-defined]
        if protocol is not None and protocol._is_cancelling():
            await protocol._wait_for_cancellation()


class Connector:
    """Opens one pool's :class:`TrackedConnection` objects and restores them on release.

    Args:
        dsn: the URL asyncpg connects to (with the password).
        name: the pool's name, for log lines.
        max_lifetime: seconds a connection lives; each gets up to 10% less, at random.
        pgbouncer: PgBouncer transaction pooling: no reset query, no statement cache, warn on
            session changes.
        describe_cache: in PgBouncer mode, keep each query's description per connection.
        reset_mode: ``"auto"`` resets dirty connections only, ``"always"`` every one.
        private_hooks: :func:`statement_hooks_match` said yes: guard use after release, wait
            for an interrupted query's cancellation, call asyncpg's release checks.
        connect_timeout: default seconds to open a connection; the limit on a restore and on
            closing one.
        command_timeout: asyncpg's default per-query limit.
        server_settings: sent at connect (``application_name``, ``statement_timeout``).
        errors: the pool's error counter (``kind="recycled"`` is added here).
        attrs: the pool's telemetry attributes.
        sampler: registered as a query logger on every connection (``sample_queries``).
    """

    __slots__ = (
        "attrs", "command_timeout", "connect_timeout", "describe_cache", "dsn", "errors",
        "max_lifetime", "name", "pgbouncer", "private_hooks", "reset_mode", "sampler",
        "server_settings",
    )

    def __init__(
        self,
        *,
        dsn: str,
        name: str,
        max_lifetime: float,
        pgbouncer: bool,
        describe_cache: bool,
        reset_mode: Literal["auto", "always"],
        private_hooks: bool,
        connect_timeout: float,
        command_timeout: float | None,
        server_settings: Mapping[str, str],
        errors: Counter,
        attrs: Mapping[str, str],
        sampler: QuerySampler | None = None,
    ) -> None:
        self.dsn = dsn
        self.name = name
        self.max_lifetime = max_lifetime
        self.pgbouncer = pgbouncer
        self.describe_cache = describe_cache
        self.reset_mode = reset_mode
        self.private_hooks = private_hooks
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.server_settings = dict(server_settings)
        self.errors = errors
        self.attrs = attrs
        self.sampler = sampler

    async def connect(self, timeout: float) -> TrackedConnection:
        """Open one connection within ``timeout`` seconds; asyncpg's errors propagate."""
        tracked = await asyncpg.connect(
            self.dsn,
            connection_class=TrackedConnection,
            timeout=timeout,
            command_timeout=self.command_timeout,
            statement_cache_size=0 if self.pgbouncer else 100,
            server_settings=self.server_settings,
        )
        # Up to 10% shorter, at random: connections opened together do not all expire together.
        tracked._mz_expires = time.monotonic() + self.max_lifetime * (1 - 0.1 * _rng.random())
        tracked._mz_pgbouncer = self.pgbouncer
        tracked._mz_reset_always = self.reset_mode == "always"
        tracked._mz_guarded = self.private_hooks
        if self.pgbouncer and self.describe_cache:
            tracked._mz_described = {}
        if self.sampler is not None:
            tracked.add_query_logger(self.sampler)
        return tracked

    async def restore(self, con: TrackedConnection, *, retire: bool) -> bool:
        """Make a released connection fit for the next caller; False when it was closed instead.

        Closes it when ``retire`` (an older generation, or the pool is closing) or when its
        lifetime is over; otherwise waits for an interrupted query's cancellation, then runs
        ``Connection.reset()`` (rollback of an open transaction, listeners removed, and the
        reset query when the session is dirty or ``reset="always"``). Never raises but
        :class:`asyncio.CancelledError`: a failure terminates the connection.
        """
        try:
            if con.is_closed():
                con.terminate()
                return False
            if retire or time.monotonic() >= con._mz_expires:
                if not retire:
                    self.errors.add(1, {**self.attrs, "kind": "recycled"})
                await self.close(con)
                return False
            async with asyncio.timeout(self.connect_timeout):
                if self.private_hooks:
                    await con._mz_settle()
                    con._on_release()  # type: ignore[attr-defined]  # warns about listeners
                if con._mz_dirty or con._mz_reset_always or con.is_in_transaction() or (
                    self.private_hooks and con._top_xact is not None  # type: ignore[attr-defined]
                ) or not self.private_hooks:
                    await con.reset()
                    con._mz_dirty = False
        except asyncio.CancelledError:
            con.terminate()
            raise
        except Exception as exc:  # an error here must not reach the caller of release
            log.warning("pool %s: reset failed (%r); dropping the connection", self.name, exc)
            con.terminate()
            return False
        con._mz_released = time.monotonic()
        return True

    async def close(self, con: TrackedConnection) -> None:
        """Close ``con`` gracefully within ``connect_timeout``, else terminate it."""
        try:
            await con.close(timeout=self.connect_timeout)
        except Exception:  # asyncpg has aborted the connection already
            con.terminate()
