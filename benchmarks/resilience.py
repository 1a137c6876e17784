"""The ``resilience`` benchmark: what each policy costs a call that succeeds, and a refusal.

- **Success-path overhead** (µs, c=1): the time of a call through the policy minus the time of
  the same bare call, in alternating batches of 200 (so machine drift hits both alike). The
  protected function is ``async def fn(): return 1``. Ours: ``CircuitBreaker.call(fn)``
  (defaults: a count window of 100, no slow-call timing). aiobreaker 1.2.0:
  ``CircuitBreaker().call_async(fn)``. purgatory 3.0.1: its documented decorator
  ``@AsyncCircuitBreakerFactory()("name")`` on in-memory storage. pybreaker 1.4.1 has no asyncio
  support (its ``call_async`` needs tornado): its ``CircuitBreaker().call(fn)`` around a plain
  function, against the plain function, so the figure is its bookkeeping alone. tenacity: the
  documented ``@retry(stop=stop_after_attempt(3))`` on ``fn``, against ours, ``Retry(attempts=3)
  .call(fn)``. Ours also: ``Bulkhead`` against a
  bare ``asyncio.Semaphore``, and ``Timeout`` against a bare ``asyncio.timeout()``.
- **Redis-shared breaker** (µs, c=1): ``CircuitBreaker(storage=TEST_REDIS_URL)`` after its
  first call against the local breaker and purgatory on its ``AsyncRedisUnitOfWork`` (which
  reads and writes Redis on every call).
- **Refusal** (µs per refused call, c=1, including raising and catching the error): each breaker
  opened by failures, then called while open.
- **Facts** (in the results' environment): how many of 50 callers arriving at once a half-open
  breaker configured for one trial call lets through, and how much memory 60,000 refused calls
  leave behind (``tracemalloc``, after a garbage collection).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import os
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aiobreaker
import purgatory
import pybreaker
from tenacity import retry, stop_after_attempt

from benchmarks._runner import (
    MICROSECONDS,
    Benchmark,
    Budget,
    Case,
    Check,
    Contender,
    Group,
    Measure,
    Options,
    Sample,
    event_loop,
    overhead,
    overhead_sync,
)
from mediz_infra.resilience import Bulkhead, CircuitBreaker, CircuitOpen, Retry, Timeout

__all__ = ["BENCHMARK"]

BATCH = 200
OURS = "mediz-infra"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REFUSALS = 60_000


class Failure(Exception):
    pass


async def fn() -> int:
    return 1


def plain_fn() -> int:
    return 1


async def failing() -> int:
    raise Failure


def _overhead(through: Callable[[], Awaitable[object]]) -> Measure:
    """Per-call time of ``through()`` minus ``fn()``, in alternating batches."""
    return overhead(through, fn)


def _overhead_sync(through: Callable[[], object]) -> Measure:
    """Per-call time of the synchronous ``through()`` minus ``plain_fn()``."""
    return overhead_sync(through, plain_fn)


def _refusals(call: Callable[[], Awaitable[object]], error: type[BaseException]) -> Measure:
    """Per-call time of ``call()`` that must raise ``error``."""

    async def measure(budget: Budget) -> Sample:
        clock = time.perf_counter
        start = clock()
        deadline = start + budget.seconds
        ops = 0
        while ops < budget.max_ops and clock() < deadline:
            for _ in range(BATCH):
                try:
                    await call()
                except error:
                    pass
                else:
                    raise RuntimeError("the breaker let a call through while open")
            ops += BATCH
        return Sample(ops, clock() - start)

    return measure


def _sync_refusals(call: Callable[[], object], error: type[BaseException]) -> Measure:
    async def run() -> object:
        return call()

    return _refusals(run, error)


# --------------------------------------------------------------------------- the breakers


def _ours(**options: Any) -> CircuitBreaker:
    return CircuitBreaker("bench", **options)


def _purgatory(threshold: int = 5, ttl: float = 3600) -> Callable[[], Awaitable[int]]:
    factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=ttl)
    return factory("bench")(fn)  # type: ignore[no-any-return]


async def _opened_ours() -> CircuitBreaker:
    breaker = _ours(minimum_calls=5, open_for=3600)
    for _ in range(5):
        with contextlib.suppress(Failure):
            await breaker.call(failing)
    assert breaker.state == "open"
    return breaker


async def _opened_aiobreaker() -> aiobreaker.CircuitBreaker:
    breaker = aiobreaker.CircuitBreaker(fail_max=5, timeout_duration=dt.timedelta(hours=1))
    for _ in range(5):
        with contextlib.suppress(Failure, aiobreaker.CircuitBreakerError):
            await breaker.call_async(failing)
    return breaker


async def _opened_purgatory() -> Callable[[], Awaitable[int]]:
    factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=3600)
    failing_call = factory("bench-open")(failing)
    for _ in range(5):
        with contextlib.suppress(Exception):
            await failing_call()
    return factory("bench-open")(fn)  # type: ignore[no-any-return]


def _opened_pybreaker() -> pybreaker.CircuitBreaker:
    breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=3600)

    def fail() -> None:
        raise Failure

    for _ in range(5):
        with contextlib.suppress(Failure, pybreaker.CircuitBreakerError):
            breaker.call(fail)
    return breaker


@contextlib.asynccontextmanager
async def _local(options: Options) -> AsyncIterator[Sequence[Case]]:
    ours = _ours()
    aio = aiobreaker.CircuitBreaker()
    purg = _purgatory()
    pyb = pybreaker.CircuitBreaker()

    @retry(stop=stop_after_attempt(3))
    async def tenacious() -> int:
        return 1

    ours_retry = Retry(attempts=3)
    bulkhead = Bulkhead(10)
    semaphore = asyncio.Semaphore(10)
    limit = Timeout(60)

    async def semaphored() -> int:
        async with semaphore:
            return await fn()

    async def timed() -> int:
        async with asyncio.timeout(60):
            return await fn()

    opened = await _opened_ours()
    opened_aio = await _opened_aiobreaker()
    opened_purg = await _opened_purgatory()
    opened_pyb = _opened_pybreaker()
    purgatory_error = _purgatory_error()
    yield [
        Case(
            "breaker/success",
            {"policy": "circuit breaker", "path": "success overhead", "c": "1"},
            MICROSECONDS,
            [
                Contender(OURS, _overhead(lambda: ours.call(fn)), ours=True),
                Contender("aiobreaker", _overhead(lambda: aio.call_async(fn))),
                Contender("purgatory", _overhead(purg)),
                Contender("pybreaker (sync)", _overhead_sync(lambda: pyb.call(plain_fn))),
                Contender("tenacity @retry", _overhead(tenacious)),
            ],
        ),
        Case(
            "breaker/refused",
            {"policy": "circuit breaker", "path": "refused while open", "c": "1"},
            MICROSECONDS,
            [
                Contender(OURS, _refusals(lambda: opened.call(fn), CircuitOpen), ours=True),
                Contender(
                    "aiobreaker",
                    _refusals(lambda: opened_aio.call_async(fn), aiobreaker.CircuitBreakerError),
                ),
                Contender("purgatory", _refusals(opened_purg, purgatory_error)),
                Contender(
                    "pybreaker (sync)",
                    _sync_refusals(
                        lambda: opened_pyb.call(plain_fn), pybreaker.CircuitBreakerError
                    ),
                ),
            ],
        ),
        Case(
            "retry/success",
            {"policy": "retry", "path": "success overhead", "c": "1"},
            MICROSECONDS,
            [
                Contender(OURS, _overhead(lambda: ours_retry.call(fn)), ours=True),
                Contender("tenacity @retry", _overhead(tenacious)),
            ],
        ),
        Case(
            "bulkhead/success",
            {"policy": "bulkhead", "path": "success overhead", "c": "1"},
            MICROSECONDS,
            [
                Contender(OURS, _overhead(lambda: bulkhead.call(fn)), ours=True),
                Contender("asyncio.Semaphore", _overhead(semaphored)),
            ],
        ),
        Case(
            "timeout/success",
            {"policy": "timeout", "path": "success overhead", "c": "1"},
            MICROSECONDS,
            [
                Contender(OURS, _overhead(lambda: limit.call(fn)), ours=True),
                Contender("asyncio.timeout", _overhead(timed)),
            ],
        ),
    ]


@contextlib.asynccontextmanager
async def _redis(options: Options) -> AsyncIterator[Sequence[Case]]:
    local = _ours()
    shared = CircuitBreaker("bench-shared", storage=REDIS_URL, prefix="bench-resilience")
    await shared.call(fn)  # the first call syncs with Redis and starts the listener
    factory = purgatory.AsyncCircuitBreakerFactory(
        default_threshold=5, default_ttl=3600, uow=purgatory.AsyncRedisUnitOfWork(REDIS_URL)
    )
    await factory.initialize()
    purg = factory("bench-redis")(fn)
    try:
        yield [
            Case(
                "redis/success",
                {"policy": "circuit breaker, Redis-shared", "path": "success overhead", "c": "1"},
                MICROSECONDS,
                [
                    Contender(OURS, _overhead(lambda: shared.call(fn)), ours=True),
                    Contender("mediz-infra local", _overhead(lambda: local.call(fn))),
                    Contender("purgatory Redis", _overhead(purg)),
                ],
            )
        ]
    finally:
        await shared.aclose()


def _purgatory_error() -> type[BaseException]:
    from purgatory.domain.model import OpenedState

    return OpenedState


# --------------------------------------------------------------------------- facts


async def _half_open_admissions() -> dict[str, int]:
    """How many of 50 simultaneous callers each breaker lets through in half-open (1 trial)."""
    entered = 0

    async def slow() -> int:
        nonlocal entered
        entered += 1
        await asyncio.sleep(0.01)
        return 1

    async def burst(call: Callable[[], Awaitable[object]]) -> int:
        nonlocal entered
        entered = 0
        await asyncio.gather(*(call() for _ in range(50)), return_exceptions=True)
        return entered

    found: dict[str, int] = {}
    ours = _ours(minimum_calls=1, open_for=0.05, half_open_calls=1)
    with contextlib.suppress(Failure):
        await ours.call(failing)
    aio = aiobreaker.CircuitBreaker(fail_max=1, timeout_duration=dt.timedelta(seconds=0.05))
    with contextlib.suppress(Failure, aiobreaker.CircuitBreakerError):
        await aio.call_async(failing)
    factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=1, default_ttl=0.05)
    with contextlib.suppress(Exception):
        await factory("half-open")(failing)()
    purg_slow = factory("half-open")(slow)
    await asyncio.sleep(0.1)
    found[OURS] = await burst(lambda: ours.call(slow))
    found["aiobreaker"] = await burst(lambda: aio.call_async(slow))
    found["purgatory"] = await burst(purg_slow)
    return found


async def _memory_after_refusals() -> dict[str, float]:
    """KiB left allocated after REFUSALS refused calls to each opened breaker."""
    opened = await _opened_ours()
    opened_aio = await _opened_aiobreaker()
    opened_purg = await _opened_purgatory()
    opened_pyb = _opened_pybreaker()

    async def pyb_call() -> object:
        return opened_pyb.call(plain_fn)

    calls: dict[str, Callable[[], Awaitable[object]]] = {
        OURS: lambda: opened.call(fn),
        "aiobreaker": lambda: opened_aio.call_async(fn),
        "purgatory": opened_purg,
        "pybreaker (sync)": pyb_call,
    }
    grown: dict[str, float] = {}
    for name, call in calls.items():
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(REFUSALS):
            with contextlib.suppress(Exception):
                await call()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        grown[name] = (after - before) / 1024
    return grown


async def _environment() -> dict[str, str]:
    admitted = await _half_open_admissions()
    grown = await _memory_after_refusals()
    return {
        "event loop": event_loop(),
        "half-open, 1 trial configured, 50 callers at once: calls let through": ", ".join(
            f"{name} {count}" for name, count in admitted.items()
        ),
        f"memory left after {REFUSALS:,} refused calls (KiB)": ", ".join(
            f"{name} {kib:,.0f}" for name, kib in grown.items()
        ),
    }


BENCHMARK = Benchmark(
    name="resilience",
    title="resilience: success-path overhead and refusals",
    groups=(Group("local", _local), Group("redis", _redis)),
    peers=("mediz-infra", "aiobreaker", "purgatory", "pybreaker", "tenacity"),
    checks=(
        Check(
            "breaker success overhead: aiobreaker ÷ ours (goal: ours at most half)",
            ("breaker/success", OURS),
            ("breaker/success", "aiobreaker"),
            2.0,
        ),
        Check(
            "breaker success overhead: purgatory ÷ ours (goal: ours at most half)",
            ("breaker/success", OURS),
            ("breaker/success", "purgatory"),
            2.0,
        ),
        Check(
            "breaker success overhead: pybreaker ÷ ours (goal: ours at most half)",
            ("breaker/success", OURS),
            ("breaker/success", "pybreaker (sync)"),
            2.0,
        ),
        Check(
            "Redis-shared success overhead vs local (goal: at most 2x)",
            ("redis/success", OURS),
            ("redis/success", "mediz-infra local"),
            0.5,
        ),
        Check(
            "refusal: aiobreaker ÷ ours (goal: ours at most half)",
            ("breaker/refused", OURS),
            ("breaker/refused", "aiobreaker"),
            2.0,
        ),
    ),
    environment=_environment,
    notes=(
        "Overhead = time of a call through the policy minus the same bare call (alternating "
        "batches of 200, c=1); the protected function returns at once, so the figure is the "
        "policy's own cost. Refusal = the whole refused call, raise and catch included. "
        "pybreaker has no asyncio path without tornado, so it is measured around a plain "
        "function (its bookkeeping only, no coroutine frame). The half-open and memory facts "
        "are in `results/resilience.json` under `machine.environment`."
    ),
)
