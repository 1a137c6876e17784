"""PoolManager's read replicas and outage back-off.

A replica is a PoolManager of its own (``min_size=0``, the primary's other settings). This module
builds them, starts them with the primary, picks a healthy one in turn for ``read()``, reports
them in the health detail, and keeps the jittered back-off a pool waits out after an outage.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._urls import redact
from ..errors import BackendTimeout, BackendUnavailable, ConfigError, PoolClosed, PoolExhausted

if TYPE_CHECKING:
    from .postgres import PoolManager

__all__ = ["check_replicas", "healthy_replicas", "make_replicas", "note_outage", "start_replicas"]

log = logging.getLogger("mediz_infra.postgres")

_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 1.0


def make_replicas(
    primary: PoolManager, urls: Sequence[str], pgbouncer: Literal["auto"] | bool
) -> list[PoolManager]:
    """One pool per replica URL, with the primary's settings.

    Raises:
        ConfigError: a malformed replica URL, named as ``DATABASE_REPLICA_URLS``.
    """
    try:
        return [_replica(primary, r, i, pgbouncer) for i, r in enumerate(urls)]
    except ConfigError as exc:
        raise ConfigError("DATABASE_REPLICA_URLS", str(exc).partition(": ")[2]) from None


def _replica(
    primary: PoolManager, url: str, index: int, pgbouncer: Literal["auto"] | bool
) -> PoolManager:
    from .postgres import PoolManager  # postgres imports this module

    return PoolManager(
        url, min_size=0, max_size=primary.max_size, acquire_timeout=primary.acquire_timeout,
        command_timeout=primary.command_timeout, statement_timeout=primary.statement_timeout,
        application_name=primary.application_name, max_lifetime=primary.max_lifetime,
        max_idle=primary.max_idle, ping_after=primary.ping_after, max_waiting=primary.max_waiting,
        pgbouncer=pgbouncer, reset=primary.reset_mode, name=f"{primary.name}-replica-{index}",
        describe_cache=primary.describe_cache,
        connect_timeout=primary.connect_timeout,
    )


async def start_replicas(primary: PoolManager) -> None:
    """Start each replica's pool; one that is down is noted (``read()`` retries it later)."""
    for replica in primary._replicas:
        try:
            await replica.start()
        except BackendUnavailable as exc:  # not fatal: read() retries it later
            replica._note_outage(exc)
            log.warning("replica %s unavailable at start: %s", replica.url, exc)


def healthy_replicas(primary: PoolManager) -> Iterator[PoolManager]:
    """The replicas not in back-off, starting one further along at each call (round robin)."""
    count = len(primary._replicas)
    start = primary._rr
    primary._rr = (start + 1) % count
    now = time.monotonic()
    for i in range(count):
        replica = primary._replicas[(start + i) % count]
        if replica._retry_at <= now:
            yield replica


def note_outage(pool: PoolManager, exc: BaseException) -> None:
    """Count a failed connect and set when ``pool`` may try again (jittered, exponential)."""
    pool._failures += 1
    backoff = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (pool._failures - 1))
    # Equal jitter: processes that lost the server together do not come back together.
    pool._retry_at = time.monotonic() + backoff / 2 + random.uniform(0, backoff / 2)
    pool._last_error = redact(str(exc)) or type(exc).__name__
    pool._errors.add(1, {**pool._attrs, "kind": "unavailable"})


async def check_replicas(primary: PoolManager, timeout: float) -> list[dict[str, Any]]:
    """Each replica's health detail, or ``status: down`` with the error."""
    replicas = []
    for replica in primary._replicas:
        try:
            replicas.append({"status": "ok", **await replica.check(timeout)})
        except (BackendUnavailable, BackendTimeout, PoolExhausted, PoolClosed) as exc:
            replicas.append({"status": "down", "url": replica.url, "error": str(exc)})
    return replicas
