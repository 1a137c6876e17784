"""The circuit breaker: closed, open and half-open, judged over a sliding window.

The state machine is pure: it reads time from an injectable clock and does no I/O, so every
transition is unit-tested without sleeping. What it does:

- **closed**: calls go through; each outcome is recorded in the window. Once the window holds
  at least ``minimum_calls`` calls and the share of failed calls reaches ``failure_rate`` (or
  the share of calls slower than ``slow_call_duration`` reaches ``slow_call_rate``), it opens.
- **open**: every call is refused with a fresh :class:`~mediz_infra.errors.CircuitOpen` naming
  ``retry_at``, without being made, for ``open_for`` seconds.
- **half-open**: after ``open_for``, exactly ``half_open_calls`` trial calls are let through;
  the others are refused (a trial that was cancelled or raised an ``ignore`` exception gives
  its slot back). A failed (or slow) trial opens the breaker again at once; when
  ``half_open_calls`` trials have succeeded it closes with an empty window.

An outcome is recorded only in the state it was admitted in: a call that started while the
breaker was closed and ends after it opened changes nothing (each transition starts a new
generation). ``asyncio.CancelledError`` (and any ``BaseException`` that is not an
``Exception``) is never a failure; nor are the ``ignore`` exceptions, which count as nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from .._urls import parse_url
from ..errors import CircuitOpen, ConfigError
from .stats import record_fallback, record_transition, track
from .windows import FAILED, SLOW, CountWindow, Tally, TimeWindow, Window

if TYPE_CHECKING:
    from ..backends.redis import RedisClient
    from .shared import SharedState, Snapshot

__all__ = ["BreakerListener", "CircuitBreaker", "State"]

P = ParamSpec("P")
T = TypeVar("T")

State = Literal["closed", "open", "half_open"]
BreakerListener = Callable[["CircuitBreaker", str, str], None]
"""Called as ``listener(breaker, old_state, new_state)`` after each transition."""

log = logging.getLogger("mediz_infra.resilience")

CLOSED: State = "closed"
OPEN: State = "open"
HALF_OPEN: State = "half_open"
# A shared breaker before its first call: closed, but the first call syncs with Redis (and
# starts the listener) on the slow path, so the closed hot path never checks for it.
_SYNC: Any = "closed (not synced yet)"


def _rate(field: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= 1
    ):
        raise ConfigError(field, f"must be a share above 0 and at most 1, got {value!r}")
    return float(value)


def _count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(field, f"must be an integer of at least 1, got {value!r}")
    return value


def _seconds(field: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(field, f"must be a positive number of seconds, got {value!r}")
    return float(value)


class CircuitBreaker:
    """Stops calling an upstream that keeps failing, and tries it again now and then.

    Use one breaker per upstream (per host, say), shared by every call to it. Wrap a call with
    ``await breaker.call(fn, *args)`` or decorate the async function with ``@breaker``.

    Args:
        name: shown in errors, logs and telemetry.
        failure_rate: open when at least this share of the window's calls failed (0 < x <= 1).
        minimum_calls: judge nothing before the window holds this many calls.
        window: :class:`CountWindow` (the last N calls, default 100) or :class:`TimeWindow`.
        slow_call_duration: a call that took longer than this many seconds is *slow*;
            ``None`` (default): durations are not measured.
        slow_call_rate: open when at least this share of the window's calls were slow.
        open_for: seconds the breaker stays open before it lets trial calls through.
        half_open_calls: trial calls let through in half-open; all of them must succeed to
            close.
        record: exception types that count as failures (default: every ``Exception``).
        ignore: exception types that count as nothing (checked first): a 404 the caller
            expects, a validation error of the caller's own input.
        fallback: called with the :class:`~mediz_infra.errors.CircuitOpen` instead of raising
            it; its result is returned for the refused call.
        listeners: called as ``listener(breaker, old, new)`` after every state change; an
            error in one is logged and swallowed.
        clock: monotonic seconds (``time.monotonic``); inject a fake one in tests.
        storage: ``None`` or ``"memory://"``: this process only. A Redis URL or client: the
            state is shared by every process using the same name and prefix (see
            :mod:`mediz_infra.resilience.shared`); a URL's client is closed by :meth:`aclose`.
        prefix: the Redis key prefix (``{prefix}:breaker:{name}``).
        redis_timeout: seconds one Redis round trip may take before the breaker falls back
            to its local state.

    Raises:
        ConfigError: an argument is out of range (the message names it).
    """

    __slots__ = (
        "__weakref__",
        "_fallback",
        "_gen",
        "_ignore",
        "_open_until",
        "_owned",
        "_record",
        "_shared",
        "_state",
        "_tally",
        "_timed",
        "_trial_ok",
        "_trial_slots",
        "clock",
        "failure_rate",
        "failures",
        "half_open_calls",
        "ignored",
        "listeners",
        "minimum_calls",
        "name",
        "open_for",
        "rejected",
        "slow_call_duration",
        "slow_call_rate",
        "successes",
        "window",
    )

    def __init__(
        self,
        name: str = "default",
        *,
        failure_rate: float = 0.5,
        minimum_calls: int = 10,
        window: Window | None = None,
        slow_call_duration: float | None = None,
        slow_call_rate: float = 1.0,
        open_for: float = 30.0,
        half_open_calls: int = 1,
        record: Iterable[type[BaseException]] = (Exception,),
        ignore: Iterable[type[BaseException]] = (),
        fallback: Callable[[CircuitOpen], Awaitable[Any]] | None = None,
        listeners: Iterable[BreakerListener] = (),
        clock: Callable[[], float] = time.monotonic,
        storage: str | RedisClient | None = None,
        prefix: str = "mediz",
        redis_timeout: float = 0.25,
    ) -> None:
        self.name = name
        self.failure_rate = _rate("failure_rate", failure_rate)
        self.minimum_calls = _count("minimum_calls", minimum_calls)
        if window is None:
            window = CountWindow(100)
        if not isinstance(window, CountWindow | TimeWindow) and not callable(
            getattr(window, "tally", None)
        ):
            raise ConfigError("window", f"must be a CountWindow or TimeWindow, got {window!r}")
        self.window = window
        self.slow_call_duration = (
            None
            if slow_call_duration is None
            else _seconds("slow_call_duration", slow_call_duration)
        )
        self.slow_call_rate = _rate("slow_call_rate", slow_call_rate)
        self.open_for = _seconds("open_for", open_for)
        self.half_open_calls = _count("half_open_calls", half_open_calls)
        self._record = tuple(record)
        self._ignore = tuple(ignore)
        for field, kinds in (("record", self._record), ("ignore", self._ignore)):
            for kind in kinds:
                if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                    raise ConfigError(field, f"must hold exception types, got {kind!r}")
        self._fallback = fallback
        self.listeners: list[BreakerListener] = list(listeners)
        self.clock = clock
        self._timed = self.slow_call_duration is not None or isinstance(window, TimeWindow)
        self._tally: Tally = window.tally()
        self._state: State = CLOSED
        self._gen = 0
        self._open_until = 0.0
        self._trial_slots = 0
        self._trial_ok = 0
        self._shared: SharedState | None = None
        self._owned: Any = None
        #: calls by outcome since the breaker was made (exported as ``mediz.resilience.calls``)
        self.successes = self.failures = self.ignored = self.rejected = 0
        if storage is not None:
            self._share(storage, prefix, redis_timeout)
        track(self)

    telemetry_policy = "breaker"

    def telemetry_counts(self) -> dict[str, int]:
        """Calls by outcome, for telemetry."""
        return {
            "success": self.successes,
            "failure": self.failures,
            "ignored": self.ignored,
            "rejected": self.rejected,
        }

    def _share(self, storage: Any, prefix: str, redis_timeout: float) -> None:
        if isinstance(storage, str):
            scheme = parse_url(storage, field_name="storage").scheme
            if scheme == "memory":
                return
            from ..backends.redis import create_redis

            client = create_redis(storage, timeout=redis_timeout, retries=0)
            self._owned = client
        else:
            client = storage
        from .shared import SharedState

        self._shared = SharedState(
            client,
            self.name,
            prefix=prefix,
            open_for=self.open_for,
            trials=self.half_open_calls,
            timeout=_seconds("redis_timeout", redis_timeout),
            on_fallback=functools.partial(record_fallback, self.name),
        )
        self._state = _SYNC

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} {self._state}>"

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> State:
        """``"closed"``, ``"open"`` or ``"half_open"`` (an open breaker whose ``open_for`` has
        passed still reads ``"open"`` until the next call turns it half-open)."""
        return CLOSED if self._state is _SYNC else self._state

    @property
    def shared(self) -> SharedState | None:
        """The Redis side of a shared breaker (its outage, fallback count); else ``None``."""
        return self._shared

    async def aclose(self) -> None:
        """Stop a shared breaker's listener and close the client it built from a URL."""
        if self._shared is not None:
            await self._shared.aclose()
        if self._owned is not None:
            await self._owned.aclose()
            self._owned = None

    @property
    def retry_at(self) -> float | None:
        """When an open breaker lets trial calls through (on :attr:`clock`); else ``None``."""
        return self._open_until if self._state == OPEN else None

    def totals(self) -> tuple[int, int, int]:
        """``(calls, failures, slow calls)`` in the current window."""
        return self._tally.totals(self.clock())

    def add_listener(self, listener: BreakerListener) -> None:
        """Call ``listener(breaker, old, new)`` after every state change from now on."""
        self.listeners.append(listener)

    def reset(self) -> None:
        """Close the breaker and forget the window (an operator's "the upstream is fixed").

        A shared breaker also closes for every process (when called with a loop running).
        """
        self._move(CLOSED)
        self._announce("close")

    def force_open(self, seconds: float | None = None) -> None:
        """Open the breaker now, for ``seconds`` (default ``open_for``; other processes of a
        shared breaker refuse for ``open_for``)."""
        self._move(OPEN, seconds)

    # ------------------------------------------------------------------ calls

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` if the breaker admits it, recording the outcome.

        Raises:
            CircuitOpen: the breaker refused the call (unless a ``fallback`` answers it).
            Exception: whatever ``fn`` raised, after recording it.
        """
        gen = self._gen
        if self._state is not CLOSED:
            if self._shared is not None:
                return await self._call_shared(fn, args, kwargs)
            if self._state is OPEN and self._fallback is None:  # the refusal, inlined
                now = self.clock()
                if now < self._open_until:
                    self.rejected += 1
                    raise CircuitOpen(self.name, OPEN, self._open_until, self._open_until - now)
            refused = self.admit()
            if refused is not None:
                result: T = await self._refuse(refused)
                return result
            gen = self._gen
        if self._timed:
            start = self.clock()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                self.on_error(gen, exc, self.clock() - start)
                raise
            self.on_success(gen, self.clock() - start)
            return result
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self.on_error(gen, exc, 0.0)
            raise
        if gen == self._gen and self._state is CLOSED:
            self._tally.add(0.0, 0)  # the hot path: a success in the closed state
            self.successes += 1
        else:
            self.on_success(gen, 0.0)
        return result

    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorate an async function so that every call goes through :meth:`call`."""
        call = self.call

        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            return await call(fn, *args, **kwargs)

        guarded.breaker = self  # type: ignore[attr-defined]
        return guarded

    # The three steps of a call, public so that other wrappers (a retry loop, an HTTP helper,
    # a Redis-shared breaker) can drive the breaker without going through call().

    def admit(self) -> CircuitOpen | None:
        """Whether a call may start now: ``None`` to go ahead, else the refusal to raise.

        In half-open, a ``None`` takes one trial slot: the caller must report the outcome with
        :meth:`on_success` or :meth:`on_error` (passing :attr:`generation` read after this).
        """
        state = self._state
        if state is CLOSED:
            return None
        now = self.clock()
        if state is OPEN:
            if now < self._open_until:
                return CircuitOpen(self.name, OPEN, self._open_until, self._open_until - now)
            self._move(HALF_OPEN)
        if self._trial_slots > 0:
            self._trial_slots -= 1
            return None
        # every trial slot is taken: the next chance is when one ends; say "soon"
        return CircuitOpen(self.name, HALF_OPEN, now, 0.0)

    @property
    def generation(self) -> int:
        """Changes at every transition; outcomes of an older generation are dropped."""
        return self._gen

    def on_success(self, generation: int, duration: float = 0.0) -> None:
        """Record a call admitted in ``generation`` that returned after ``duration`` seconds."""
        self.successes += 1
        if generation != self._gen:
            return
        slow = self.slow_call_duration is not None and duration > self.slow_call_duration
        self._outcome(SLOW if slow else 0)

    def on_error(self, generation: int, error: BaseException, duration: float = 0.0) -> None:
        """Record a call admitted in ``generation`` that raised ``error``.

        ``ignore`` exceptions and non-``Exception`` ones (cancellation) count as nothing, but
        give a half-open trial slot back; exceptions outside ``record`` count as successes.
        """
        ignored = isinstance(error, self._ignore) or not isinstance(error, Exception)
        outcome = 0 if ignored or not isinstance(error, self._record) else FAILED
        if ignored:
            self.ignored += 1
        elif outcome:
            self.failures += 1
        else:
            self.successes += 1
        if generation != self._gen:
            return
        if ignored:
            if self._state is HALF_OPEN:
                self._trial_slots += 1
            return
        slow = self.slow_call_duration is not None and duration > self.slow_call_duration
        self._outcome(outcome | (SLOW if slow else 0))

    def _outcome(self, outcome: int) -> None:
        if self._state is HALF_OPEN:
            if outcome:
                self._move(OPEN)
                return
            self._trial_ok += 1
            if self._trial_ok >= self.half_open_calls:
                self._move(CLOSED)
            return
        if self._state is OPEN:  # reported after a force_open(): nothing to judge
            return
        now = self.clock() if self._timed else 0.0
        tally = self._tally
        tally.add(now, outcome)
        if not outcome:
            return
        calls, failures, slow = tally.totals(now)
        if calls >= self.minimum_calls and (
            failures >= self.failure_rate * calls or slow >= self.slow_call_rate * calls
        ):
            self._move(OPEN)

    def _move(self, new: State, open_for: float | None = None, *, remote: bool = False) -> None:
        old = CLOSED if self._state is _SYNC else self._state
        self._state = new
        self._gen += 1
        if new is OPEN:
            self._open_until = self.clock() + (self.open_for if open_for is None else open_for)
        elif new is HALF_OPEN:
            self._trial_slots = self.half_open_calls
            self._trial_ok = 0
        else:
            self._tally.clear()
        if new is OPEN and old is not OPEN and not remote:
            self._announce("open")
        if old != new:
            record_transition(self.name, old, new, "shared" if remote else "local")
            for listener in self.listeners:
                try:
                    listener(self, old, new)
                except Exception:
                    log.exception("circuit breaker %r: a state listener failed", self.name)

    # ------------------------------------------------------------------ shared state

    def _announce(self, op: str) -> None:
        """Tell the other processes about a local transition (in the background)."""
        shared = self._shared
        if shared is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop (a sync caller): the next resync merges it
            return
        shared.spawn(self._report(op, shared.version))

    async def _report(self, op: str, version: int) -> None:
        shared = self._shared
        if shared is None:
            return
        snapshot = await shared.run(op, version)
        if snapshot is not None:
            self._adopt(snapshot, force=True)
        elif op == "trial_failed":  # Redis failed: judge the trial locally
            self._move(OPEN, remote=True)

    def _adopt(self, snapshot: Snapshot, *, force: bool = False) -> None:
        """Take the shared state if it is newer (or, ``force``, as new) than the one known."""
        shared = self._shared
        if shared is None or snapshot.version < shared.version:
            return
        if snapshot.version == shared.version and not force:
            return
        shared.version = snapshot.version
        if snapshot.state == OPEN:
            until = self.clock() + snapshot.wait
            if self._state is not OPEN or abs(self._open_until - until) > 0.05:
                self._move(OPEN, snapshot.wait, remote=True)
        elif snapshot.state == HALF_OPEN:
            if self._state is not HALF_OPEN:
                self._move(HALF_OPEN, remote=True)
        elif self._state is not CLOSED:
            self._move(CLOSED, remote=True)

    async def _resync(self) -> None:
        """Read the shared state; announce a breaker opened here while Redis was away."""
        shared = self._shared
        if shared is None:
            return
        snapshot = await shared.run("read")
        if snapshot is None:
            return
        if self._state is OPEN and snapshot.state == CLOSED:
            opened = await shared.run("open", snapshot.version)
            if opened is not None:
                self._adopt(opened, force=True)
            return
        self._adopt(snapshot)

    async def _call_shared(
        self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        """A call while not (known to be) closed, on a shared breaker."""
        shared = self._shared
        assert shared is not None  # only called for shared breakers
        if self._state is _SYNC:
            self._state = CLOSED
            shared.start(self._adopt, self._resync)
            await self._resync()
            return await self.call(fn, *args, **kwargs)
        now = self.clock()
        if self._state is OPEN and now < self._open_until:  # known open: no round trip
            refused: T = await self._refuse(
                CircuitOpen(self.name, OPEN, self._open_until, self._open_until - now)
            )
            return refused
        snapshot = None if shared.down() else await shared.run("trial", shared.version)
        if snapshot is None:  # Redis is away: the local state decides
            shared.fell_back("trial")
            return await self._call_local(fn, args, kwargs)
        self._adopt(snapshot, force=True)
        if snapshot.state == CLOSED:
            return await self.call(fn, *args, **kwargs)
        if not snapshot.granted:
            now = self.clock()
            answer: T = await self._refuse(
                CircuitOpen(self.name, snapshot.state, now + snapshot.wait, snapshot.wait)
            )
            return answer
        version = snapshot.version
        start = self.clock()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            op = self._trial_verdict(exc, self.clock() - start)
            if op == "trial_void":
                self.ignored += 1
            elif op == "trial_failed":
                self.failures += 1
            else:
                self.successes += 1
            if isinstance(exc, asyncio.CancelledError):
                shared.spawn(self._report(op, version))
            else:
                await self._report(op, version)
            raise
        slow = (
            self.slow_call_duration is not None and self.clock() - start > self.slow_call_duration
        )
        await self._report("trial_failed" if slow else "trial_ok", version)
        return result

    def _trial_verdict(self, error: BaseException, duration: float) -> str:
        if isinstance(error, self._ignore) or not isinstance(error, Exception):
            return "trial_void"
        slow = self.slow_call_duration is not None and duration > self.slow_call_duration
        return "trial_failed" if slow or isinstance(error, self._record) else "trial_ok"

    async def _refuse(self, refused: CircuitOpen) -> Any:
        self.rejected += 1
        if self._fallback is not None:
            return await self._fallback(refused)
        raise refused

    async def _call_local(
        self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        """A call judged by the local state alone (a shared breaker while Redis is away)."""
        refused = self.admit()
        if refused is not None:
            result: T = await self._refuse(refused)
            return result
        gen = self._gen
        start = self.clock()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self.on_error(gen, exc, self.clock() - start)
            raise
        self.on_success(gen, self.clock() - start)
        return result
