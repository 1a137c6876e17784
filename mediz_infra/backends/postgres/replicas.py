"""Read replicas: taken in turn, skipped while down or lagging, sampled in the background.

A replica is a pool of its own (``min_size=0``, the primary's other settings). :class:`ReplicaSet`
owns the replicas, the round robin over them and what is known of each:

- **Down.** Each replica has an :class:`~mediz_infra.backends.outage.Outage`, the back-off every
  component shares. A replica that fails a read's checkout (refused, unreachable, or silent past
  the read's share of its deadline), whose query times out, or that fails a background sample
  is tripped: reads skip it at once, with no connection attempt, and the outage's probe (one
  sample, bounded by ``check_timeout``) tries it every ``_PROBE_BACKOFF`` seconds until it
  answers.
- **Lag.** A background task samples every replica every ``check_interval`` seconds with one
  query: its replay lag in seconds and its replay position (WAL LSN). Reads never pay for it. A
  replica whose lag exceeds ``max_lag`` is skipped until a sample sees it caught up.
- **Position.** ``read(after=token)`` takes a replica whose last known replay position is at or
  past the token; one not known to be there is asked on the lent connection (one round trip),
  and skipped if it is behind.

When no replica gives a connection, ``read()`` uses the primary; with ``lag_fallback="fail"``
and every live replica lagging, it raises :class:`~mediz_infra.errors.BackendUnavailable`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..._urls import redact
from ...errors import BackendTimeout, BackendUnavailable, ConfigError, PoolClosed, PoolExhausted
from ..outage import Outage
from .gauges import register_lag_gauge

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from .connection import TrackedConnection

__all__ = ["LAG_QUERY", "POSITION_QUERY", "Replica", "ReplicaSet", "parse_position"]

log = logging.getLogger("mediz_infra.postgres")

# One round trip: the replay position (the current one on a server that is not a standby) and
# the replay lag: 0 when everything received is replayed (an idle primary makes no lag), else the
# age of the last replayed transaction.
_POSITION = (
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END"
    "::text"
)
POSITION_QUERY = f"SELECT {_POSITION}"
LAG_QUERY = f"""SELECT
  {_POSITION},
  CASE WHEN NOT pg_is_in_recovery()
         OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
       ELSE COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0)
  END::float8"""
_PROBE_BACKOFF = 0.25
# What a read's checkout on a replica may raise that means "this replica is not usable now".
_DOWN_ERRORS = (BackendUnavailable, BackendTimeout, TimeoutError, OSError)


def parse_position(token: str) -> int:
    """A WAL position (``"16/B374D848"``, from :meth:`PoolManager.position`) as an integer.

    Raises:
        ConfigError: ``token`` is not a WAL position (field ``after``).
    """
    high, sep, low = token.partition("/") if isinstance(token, str) else ("", "", "")
    try:
        if not sep or len(high) > 8 or len(low) > 8:
            raise ValueError(token)
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise ConfigError(
            "after", f"{token!r} is not a WAL position such as '16/B374D848' (pool.position())"
        ) from None


class Replica(Protocol):
    """What a :class:`ReplicaSet` needs of each replica's pool."""

    url: str
    name: str

    async def start(self) -> Any: ...

    async def close(self) -> None: ...

    async def expire_connections(self) -> None: ...

    def acquire(
        self, *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[TrackedConnection]: ...

    def checkout_nowait(self) -> TrackedConnection | None: ...

    async def checkout(self, timeout: float | None = None) -> TrackedConnection: ...

    def release_nowait(self, con: TrackedConnection) -> bool: ...

    async def release(self, con: TrackedConnection) -> None: ...

    async def check(self, timeout: float = 2.0) -> dict[str, Any]: ...


class ReplicaSet:
    """A primary's replicas, in turn: the next ``read()`` starts one further along.

    Args:
        replicas: the replicas' pools.
        max_lag: seconds of replay lag past which a replica is skipped (``None``: never).
        lag_fallback: with every live replica lagging, ``"primary"`` reads from the primary,
            ``"fail"`` raises :class:`BackendUnavailable`.
        check_interval: seconds between two background samples of each replica.
        check_timeout: the bound on one sample (at start, in the background, as the probe).
    """

    __slots__ = (
        "__weakref__",
        "_lag",
        "_next",
        "_outages",
        "_replayed",
        "_replicas",
        "_sampler",
        "check_interval",
        "check_timeout",
        "lag_fallback",
        "max_lag",
    )

    def __init__(
        self,
        replicas: Sequence[Replica],
        *,
        max_lag: float | None = None,
        lag_fallback: Literal["primary", "fail"] = "primary",
        check_interval: float = 1.0,
        check_timeout: float = 1.0,
    ) -> None:
        self._replicas = tuple(replicas)
        self._next = 0
        self.max_lag = max_lag
        self.lag_fallback = lag_fallback
        self.check_interval = check_interval
        self.check_timeout = check_timeout
        self._outages = tuple(
            Outage(
                f"replica {replica.name} at {replica.url}",
                probe=self._prober(index),
                backoff=_PROBE_BACKOFF,
                timeout=check_timeout,
                logger=log,
                degraded="reads go to the other replicas or the primary",
                backend="Postgres replica",
            )
            for index, replica in enumerate(self._replicas)
        )
        self._lag: list[float | None] = [None] * len(self._replicas)  # seconds; None: unknown
        self._replayed = [0] * len(self._replicas)  # last known replay position
        self._sampler: asyncio.Task[None] | None = None
        register_lag_gauge(self)

    def __len__(self) -> int:
        return len(self._replicas)

    def __iter__(self) -> Iterator[Replica]:
        return iter(self._replicas)

    # lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the replicas' pools, sample each one (within ``check_timeout``), then keep
        sampling in the background. A replica that does not answer is logged (its URL
        redacted) and skipped until its probe sees it back; start() itself never fails.
        """
        for outage in self._outages:  # a restart after close()
            outage.closed = False
        for replica in self._replicas:
            await replica.start()
        results = await asyncio.gather(
            *(self._sample(i) for i in range(len(self._replicas))), return_exceptions=True
        )
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                self._outages[index].trip(result, "the start-up check")
        self._sampler = asyncio.get_running_loop().create_task(
            self._sampling(), name="mediz-infra replica sampler"
        )

    async def close(self) -> None:
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        for outage in self._outages:
            await outage.aclose()
        for replica in self._replicas:
            await replica.close()

    async def expire_connections(self) -> None:
        for replica in self._replicas:
            await replica.expire_connections()

    # reads ---------------------------------------------------------------------------------

    async def checkout(
        self, budget: float, after: int | None = None
    ) -> tuple[Replica, TrackedConnection] | None:
        """A connection from the next usable replica, with that replica, within ``budget``.

        Each replica tried gets at most half of what is left of ``budget``, so a silent one
        leaves the primary the other half. ``None``: no replica gave one; use the primary.

        Raises:
            BackendUnavailable: every live replica lags and ``lag_fallback="fail"``.
        """
        replicas = self._replicas
        count = len(replicas)
        start = self._next
        self._next = (start + 1) % count
        deadline = time.monotonic() + budget
        max_lag = self.max_lag
        lagging = live = 0
        for i in range(count):
            index = (start + i) % count
            outage = self._outages[index]
            if outage.until and outage.down():
                continue
            live += 1
            if max_lag is not None:
                lag = self._lag[index]
                if lag is not None and lag > max_lag:
                    lagging += 1
                    continue
            replica = replicas[index]
            con = replica.checkout_nowait()
            if con is None:
                share = (deadline - time.monotonic()) / 2
                if share <= 0:
                    break
                try:
                    con = await replica.checkout(share)
                except PoolExhausted:  # busy, not down
                    continue
                except _DOWN_ERRORS as exc:
                    outage.trip(exc, "a read")
                    continue
            if (
                after is not None
                and self._replayed[index] < after
                and not await self._caught_up(index, con, after, deadline)
            ):
                continue
            return replica, con
        if lagging and lagging == live and self.lag_fallback == "fail":
            raise BackendUnavailable(
                f"every replica lags more than max_lag={max_lag:g} s "
                f"({', '.join(f'{lag:.1f} s' for lag in self._lag if lag is not None)}); "
                "reads are refused (lag_fallback='fail'); wait, or pass lag_fallback='primary'"
            )
        return None

    async def _caught_up(
        self, index: int, con: TrackedConnection, after: int, deadline: float
    ) -> bool:
        """Ask the replica its replay position on ``con``; give ``con`` back if it is behind."""
        replica = self._replicas[index]
        try:
            position = await con.fetchval(
                POSITION_QUERY, timeout=max(deadline - time.monotonic(), 0.001)
            )
            replayed = parse_position(position)
        except Exception as exc:
            if not replica.release_nowait(con):
                await replica.release(con)
            if isinstance(exc, _DOWN_ERRORS):
                self._outages[index].trip(exc, "a read")
            return False
        self._replayed[index] = max(self._replayed[index], replayed)
        if replayed >= after:
            return True
        if not replica.release_nowait(con):
            await replica.release(con)
        return False

    def note_timeout(self, replica: Replica, error: BaseException) -> None:
        """A query on ``replica`` timed out in a caller's block: skip it until it answers."""
        for index, known in enumerate(self._replicas):
            if known is replica:
                self._outages[index].trip(error, "a query")
                return

    # samples --------------------------------------------------------------------------------

    def _prober(self, index: int) -> Any:
        async def probe() -> None:
            try:
                await self._sample(index)
            except Exception as exc:  # the outage counts BACKEND_ERRORS: say it in ours
                if isinstance(exc, BackendUnavailable | BackendTimeout | TimeoutError | OSError):
                    raise
                raise BackendUnavailable(redact(str(exc)) or type(exc).__name__) from exc

        return probe

    async def _sample(self, index: int) -> None:
        """One sample of replica ``index``: its replay position and lag, within check_timeout."""
        replica = self._replicas[index]
        timeout = self.check_timeout
        async with asyncio.timeout(timeout), replica.acquire(timeout=timeout) as con:
            row: Any = await con.fetchrow(LAG_QUERY, timeout=timeout)
        position, lag = row[0], row[1]
        self._replayed[index] = max(self._replayed[index], parse_position(position))
        self._lag[index] = float(lag)

    async def _sampling(self) -> None:
        """Sample every replica that is up, every ``check_interval`` seconds, until closed."""
        while True:
            await asyncio.sleep(self.check_interval)
            up = [i for i, outage in enumerate(self._outages) if not outage.down()]
            results = await asyncio.gather(
                *(self._sample(i) for i in up), return_exceptions=True
            )
            for index, result in zip(up, results, strict=True):
                if isinstance(result, Exception):
                    self._outages[index].trip(result, "a background sample")

    # observing ------------------------------------------------------------------------------

    def lags(self) -> Iterator[tuple[str, float]]:
        """``(replica name, seconds)`` for each replica whose lag is known."""
        for replica, lag in zip(self._replicas, self._lag, strict=True):
            if lag is not None:
                yield replica.name, lag

    async def check(self, timeout: float) -> list[dict[str, Any]]:
        """Each replica's health: ``ok``, ``lagging`` (past ``max_lag``) or ``down`` (why)."""
        details: list[dict[str, Any]] = []
        for index, replica in enumerate(self._replicas):
            outage, lag = self._outages[index], self._lag[index]
            if outage.down():
                details.append({"status": "down", "url": replica.url, "error": outage.reason})
                continue
            try:
                detail = await replica.check(timeout)
            except (BackendUnavailable, BackendTimeout, PoolExhausted, PoolClosed) as exc:
                details.append({"status": "down", "url": replica.url, "error": str(exc)})
                continue
            lagging = self.max_lag is not None and lag is not None and lag > self.max_lag
            status = "lagging" if lagging else "ok"
            details.append({"status": status, "lag_s": lag, **detail})
        return details
