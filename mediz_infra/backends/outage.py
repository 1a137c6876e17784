"""One outage policy for every component: after a backend fails, skip it until a probe sees it back.

A component (the cache, the rate limiter) keeps one :class:`Outage` per backend client. The
first failure is recorded with :meth:`Outage.trip`; from then on :meth:`Outage.down` answers
"skip the backend" in about a microsecond, so callers get the component's fallback (the function
runs uncached, the rule's ``on_backend_error`` decides) instead of a connection attempt or a
timeout each. No caller is ever sent to find out whether the backend is back: one background
task, owned by the tracker, probes it every ``backoff`` seconds (tens of milliseconds by default)
and only a successful probe ends the outage. So a hung server costs callers one timeout in all,
and a restarted one is used again within about ``backoff`` plus one round trip of its return.

Without a probe (a store that cannot be pinged), the back-off lapses after ``backoff`` seconds
and the next caller tries the backend itself.

:func:`redis_probe` builds the probe for a Redis client: a ``PING`` on a fresh connection that
neither waits for the client's pool nor retries, bounded by the component's timeout, so its
failure says what is wrong (refused, no answer) as soon as the server can tell.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..errors import BackendTimeout, InfraError

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = ["BACKEND_ERRORS", "Outage", "describe_failure", "redis_probe"]

# redis-py is imported only by what uses Redis: the Postgres pool's replica tracking uses
# Outage too, and redis-py is about 12 MB of a process's memory (``mediz-infra backup run``).
# A Redis error cannot be raised before redis-py is loaded, so until then the checks below
# leave its classes out.
_OTHER_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, InfraError)

if TYPE_CHECKING:
    BACKEND_ERRORS: tuple[type[BaseException], ...]
    """What counts as "the backend is down": components fall back on these."""


def _redis_errors() -> Any:
    """``redis.exceptions`` if redis-py is loaded, else None."""
    return sys.modules.get("redis.exceptions")


def _backend_errors() -> tuple[type[BaseException], ...]:
    """:data:`BACKEND_ERRORS` as far as this process can raise them now."""
    redis = _redis_errors()
    if redis is None:
        return _OTHER_ERRORS
    # RedisClusterException is not a RedisError: raised when no Cluster node answers
    return (redis.RedisError, redis.RedisClusterException, *_OTHER_ERRORS)


def _load_backend_errors(name: str) -> Any:
    """PEP 562: reading BACKEND_ERRORS imports redis-py, so the tuple is whole from then on."""
    if name == "BACKEND_ERRORS":
        import redis.exceptions  # noqa: F401  (loaded: _backend_errors() includes its classes)

        errors = _backend_errors()
        globals()["BACKEND_ERRORS"] = errors
        return errors
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Hidden from type checkers (they see the declaration above): a visible module __getattr__
# would make every misspelt attribute of this module type-check as Any.
if not TYPE_CHECKING:
    __getattr__ = _load_backend_errors


def describe_failure(error: BaseException, timeout: float) -> tuple[str, str]:
    """``(kind, reason)`` of a backend failure: what a counter is labelled and a log line says.

    ``kind`` is ``"refused"`` (nothing listens), ``"timeout"`` (no answer within ``timeout``),
    ``"connection"`` (another connection failure: reset, unreachable, no Cluster node) or
    ``"error"`` (the server answered with an error). The whole exception chain is searched,
    because redis-py wraps the socket's error, and a call cut short by a deadline while
    redis-py was retrying a refused connection carries that refusal as its context.
    """
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 8 and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for exc in seen:
        if isinstance(exc, ConnectionRefusedError) or (
            isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED
        ):
            return "refused", "connection refused"
        if "connection refused" in str(exc).lower():
            return "refused", "connection refused"
    redis = _redis_errors()
    timeouts: tuple[type[BaseException], ...] = (TimeoutError, BackendTimeout)
    connections: tuple[type[BaseException], ...] = (OSError,)
    if redis is not None:
        timeouts = (*timeouts, redis.TimeoutError)
        connections = (*connections, redis.ConnectionError, redis.RedisClusterException)
    if isinstance(error, timeouts):
        return "timeout", f"no answer within {timeout:g} s"
    message = str(error) or "(no message)"
    if isinstance(error, connections):
        return "connection", f"{type(error).__name__}: {message}"
    return "error", f"{type(error).__name__}: {message}"


def redis_probe(client: Redis | RedisCluster, timeout: float) -> Callable[[], Awaitable[object]]:
    """A probe for :class:`Outage`: one ``PING`` bounded by ``timeout`` seconds.

    On a standalone client (``redis://``, ``rediss://``, ``unix://``) the ``PING`` goes over a
    fresh connection with the client's address, credentials and TLS settings but no retries and
    ``timeout`` as its connect and socket timeouts: the app's pool may be configured to retry
    and wait for seconds, and its slots belong to real work. Sentinel and Cluster
    clients are pinged through the client itself, under ``timeout``: they pick the node.
    """
    from redis.asyncio import Redis
    from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = getattr(client, "connection_pool", None)
    direct = (
        isinstance(client, Redis)
        and pool is not None
        and pool.connection_class in (Connection, SSLConnection, UnixDomainSocketConnection)
        and "connection_pool" not in pool.connection_kwargs
    )

    async def ping_fresh() -> None:
        assert pool is not None
        options = {
            **pool.connection_kwargs,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        connection = pool.connection_class(**options)
        try:
            async with asyncio.timeout(timeout):
                await connection.connect()
                await connection.send_command("PING")
                await connection.read_response()
        finally:
            await connection.disconnect(nowait=True)

    async def ping_client() -> None:
        async with asyncio.timeout(timeout):
            await client.ping()

    return ping_fresh if direct else ping_client


class Outage:
    """The outage state of one backend client, shared by everything that uses that client.

    Args:
        name: shown in log lines (the component and its redacted URL).
        probe: checks the backend (raises one of :data:`BACKEND_ERRORS` when it is down; bound
            it yourself, e.g. with :func:`redis_probe`). Without one, the back-off lapses after
            ``backoff`` seconds and the next caller tries the backend itself.
        backoff: seconds between two probes while the backend is down (or, without a probe,
            how long callers skip it after a failure).
        timeout: the caller's timeout, named when a failure is a timeout; also how long one
            probe may take at most.
        logger: where failures (``WARNING``) and the recovery (``INFO``) are logged.
        log_every: at most one failure line per this many seconds, with the number held back;
            ``None``: failures are not logged here (the component logs them its own way).
        degraded: what callers get while the backend is skipped, for the failure line
            (``"serving uncached"``).
        on_probe_failure: called with each failed probe's error (to count it).
        backend: the backend's kind in log lines (``"Redis"``, ``"Postgres replica"``).
    """

    __slots__ = (
        "_last_log",
        "_suppressed",
        "_task",
        "backend",
        "backoff",
        "closed",
        "degraded",
        "error",
        "kind",
        "log_every",
        "logger",
        "name",
        "on_probe_failure",
        "probe",
        "reason",
        "timeout",
        "until",
    )

    def __init__(
        self,
        name: str,
        *,
        probe: Callable[[], Awaitable[object]] | None = None,
        backoff: float = 0.05,
        timeout: float = 0.25,
        logger: logging.Logger | None = None,
        log_every: float | None = 30.0,
        degraded: str = "skipping it",
        on_probe_failure: Callable[[BaseException], None] | None = None,
        backend: str = "Redis",
    ) -> None:
        self.name = name
        self.backend = backend
        self.probe = probe
        self.backoff = backoff
        self.timeout = timeout
        self.logger = logger or logging.getLogger("mediz_infra.backends")
        self.log_every = log_every
        self.degraded = degraded
        self.on_probe_failure = on_probe_failure
        #: ``0.0`` while the backend is healthy (one falsy check on the hot path), else the
        #: monotonic time until which callers skip it (renewed by the probe while it runs)
        self.until = 0.0
        #: the last failure, its kind and reason (see :func:`describe_failure`)
        self.error: BaseException | None = None
        self.kind = ""
        self.reason = ""
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._last_log = -1e18
        self._suppressed = 0

    def __repr__(self) -> str:
        state = f"down ({self.kind})" if self.down() else "up"
        return f"<Outage {self.name!r} {state}>"

    def down(self) -> bool:
        """Whether callers should skip the backend now."""
        return self.until > time.monotonic()

    @property
    def probing(self) -> bool:
        """Whether a probe task is alive (on any event loop)."""
        return self._task is not None and not self._task.done()

    def trip(self, error: BaseException, doing: str) -> None:
        """Record a failure met while ``doing`` something: skip the backend, start the probe.

        Call from the event loop that uses the backend (the probe task runs on it).
        """
        self._record(error, doing)
        if self.probe is None:
            self.until = time.monotonic() + self.backoff
            return
        if self.closed:
            self.until = time.monotonic() + self.backoff
            return
        self.until = self._lease()
        loop = asyncio.get_running_loop()
        task = self._task
        # a task of another (finished) loop will never run again: replace it
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._probing(), name=f"outage probe: {self.name}")

    def reset(self) -> None:
        """The backend answered: stop skipping it (a running probe ends at its next step)."""
        self.until = 0.0

    async def aclose(self) -> None:
        """Stop probing for good: cancel the probe task and wait for it to end."""
        self.closed = True
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        if task.get_loop() is asyncio.get_running_loop():
            await asyncio.gather(task, return_exceptions=True)

    async def _probing(self) -> None:
        probe = self.probe
        assert probe is not None
        # a timeout says nothing about why (a hung server, or a refused connection retried
        # until the caller's deadline): ask at once, so the reason is known for the next callers
        wait = 0.0 if self.kind == "timeout" else self.backoff
        while not self.closed:
            await asyncio.sleep(wait)
            wait = self.backoff
            if not self.until:  # a caller's success ended the outage meanwhile
                return
            self.until = self._lease()
            try:
                await probe()
            except _backend_errors() as exc:
                self._record(exc, "probe")
                if self.on_probe_failure is not None:
                    self.on_probe_failure(exc)
            else:
                self.until = 0.0
                self.logger.info("%s: %s answers again; back in use", self.name, self.backend)
                return

    def _lease(self) -> float:
        """Until when callers skip the backend on the probe's word.

        Each round of the probe renews it (a round takes ``backoff`` plus at most ``timeout``),
        so it lapses only if the probe task died (cancelled with the loop, say): the next
        caller then tries the backend itself and, if it fails, starts a new probe.
        """
        return time.monotonic() + 2 * (self.backoff + self.timeout)

    def _record(self, error: BaseException, doing: str) -> None:
        self.error = error
        self.kind, self.reason = describe_failure(error, self.timeout)
        if self.log_every is None:
            return
        now = time.monotonic()
        if now - self._last_log < self.log_every:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
        self.logger.warning(
            "%s: %s failed during %s: %s; %s until it answers again%s",
            self.name, self.backend, doing, self.reason, self.degraded, more,
        )
        self._last_log = now
        self._suppressed = 0
