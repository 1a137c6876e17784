"""The pooled asyncpg connection: notes every statement that changes session state.

asyncpg's pool runs a reset query (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
RESET ALL``) on every release: a full round trip that costs most of a short query. It is only
needed when the session was changed. This connection class looks at each statement's text as it
is sent and marks the connection *dirty* when the text can change session state, so the pool
resets only dirty connections.

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

:class:`ConnectionHooks` is asyncpg's per-connection ``init`` and ``reset`` for these connections:
it stamps each one's lifetime, recycles it when that is over, and runs the reset query only for a
dirty one. It lives here, with the connection whose bookkeeping it keeps.

Private API note: the class hooks ``Connection.execute`` and ``Connection._get_statement`` (every
extended-protocol query, prepared statement and cursor goes through the latter) and
``_drop_local_statement_cache``. What that buys: no reset round trip on release for clean
connections (acquire + query + release about 1.3x faster, ``python -m benchmarks pool``) and, in
PgBouncer mode, one round trip per query instead of two. :func:`statement_hooks_match` checks once
that this asyncpg still has those methods with the signature they were written against; when it
does not, the pool resets every connection (``reset="always"``) and keeps no descriptions, as
asyncpg's own pool does. ``tests/integration/test_pool_reset.py`` fails if a release in the tested
range stops routing statements through these methods.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import re
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

import asyncpg

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter

__all__ = [
    "ConnectionHooks",
    "PgBouncerSessionWarning",
    "TrackedConnection",
    "changes_session",
    "released_at",
    "statement_hooks_match",
]

log = logging.getLogger("mediz_infra.postgres")

_STATEMENT_START = re.compile(
    r"(?:^|;)\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*"
    r"(?:SET(?!\s+(?:LOCAL|TRANSACTION|CONSTRAINTS)\b)|RESET|LISTEN|PREPARE|DECLARE|LOAD|DISCARD"
    r"|CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?TEMP(?:ORARY)?)\b",
    re.IGNORECASE | re.DOTALL,
)
_SESSION_CALL = re.compile(
    r"\b(?:set_config|pg_(?:try_)?advisory_lock(?:_shared)?)\s*\(", re.IGNORECASE
)
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


@functools.cache
def statement_hooks_match() -> bool:
    """Whether asyncpg's private statement methods are the ones :class:`TrackedConnection` hooks.

    Checked once per process. False on an asyncpg whose ``Connection`` lacks them or whose
    ``_get_statement`` takes other parameters: the pool then resets every connection on release.
    """
    get_statement = getattr(asyncpg.Connection, "_get_statement", None)
    drop_cache = getattr(asyncpg.Connection, "_drop_local_statement_cache", None)
    if not inspect.iscoroutinefunction(get_statement) or not callable(drop_cache):
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

    Users receive it from the pool like any asyncpg connection; the extra attributes are the
    pool's bookkeeping.
    """

    __slots__ = ("_mz_described", "_mz_dirty", "_mz_expires", "_mz_pgbouncer", "_mz_released")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        now = time.monotonic()
        self._mz_dirty = False
        self._mz_expires = float("inf")
        self._mz_released = now
        self._mz_pgbouncer = False
        # PgBouncer mode only: query -> its described unnamed statement (see _get_statement)
        self._mz_described: dict[tuple[Any, ...], Any] | None = None

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


def released_at(proxy: Any) -> float:
    """When the pool last took back the connection behind ``proxy`` (``time.monotonic()``)."""
    released: float = proxy._mz_released
    return released


class ConnectionHooks:
    """asyncpg's ``init`` and ``reset`` hooks for one pool's :class:`TrackedConnection` objects.

    Args:
        name: the pool's name, for log lines.
        max_lifetime: seconds a connection lives; each gets up to 10% less, at random.
        pgbouncer: PgBouncer transaction pooling: never reset, warn on session changes.
        describe_cache: in PgBouncer mode, keep each query's description per connection.
        reset_mode: ``"auto"`` resets dirty connections only, ``"always"`` every one.
        connect_timeout: seconds a recycled connection may take to close.
        errors: the pool's error counter (``kind="recycled"`` is added here).
        attrs: the pool's telemetry attributes.
    """

    __slots__ = (
        "attrs", "connect_timeout", "describe_cache", "errors", "max_lifetime", "name",
        "pgbouncer", "reset_mode",
    )

    def __init__(
        self,
        *,
        name: str,
        max_lifetime: float,
        pgbouncer: bool,
        describe_cache: bool,
        reset_mode: Literal["auto", "always"],
        connect_timeout: float,
        errors: Counter,
        attrs: Mapping[str, str],
    ) -> None:
        self.name = name
        self.max_lifetime = max_lifetime
        self.pgbouncer = pgbouncer
        self.describe_cache = describe_cache
        self.reset_mode = reset_mode
        self.connect_timeout = connect_timeout
        self.errors = errors
        self.attrs = attrs

    async def init(self, con: asyncpg.Connection) -> None:
        tracked = cast(TrackedConnection, con)
        # Up to 10% shorter, at random: connections opened together do not all expire together.
        tracked._mz_expires = time.monotonic() + self.max_lifetime * (1 - 0.1 * random.random())
        tracked._mz_pgbouncer = self.pgbouncer
        if self.pgbouncer and self.describe_cache:
            tracked._mz_described = {}

    async def reset(self, con: asyncpg.Connection) -> None:
        # Runs on release, after asyncpg rolled back any open transaction. Must not raise:
        # an error here would reach the caller of release.
        tracked = cast(TrackedConnection, con)
        now = time.monotonic()
        tracked._mz_released = now
        try:
            if now >= tracked._mz_expires:
                self.errors.add(1, {**self.attrs, "kind": "recycled"})
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
