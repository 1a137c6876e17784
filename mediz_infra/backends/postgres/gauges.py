"""A pool's statistics, and the observable gauges that report them for every live pool."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.metrics import CallbackOptions, Observation

from ... import telemetry

__all__ = ["LagSource", "Observed", "PoolStats", "register_gauges", "register_lag_gauge"]


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a pool's connections."""

    size: int
    idle: int
    in_use: int
    waiting: int
    max_size: int


class Observed(Protocol):
    """What the gauges read of a pool: its name and its statistics."""

    name: str

    def stats(self) -> PoolStats: ...


# One set of observable gauges for every live pool: registering per pool would make an SDK
# complain about duplicate instruments.
_LIVE_POOLS: weakref.WeakSet[Observed] = weakref.WeakSet()
_gauges_registered = False


def register_gauges(pool: Observed) -> None:
    """Report ``pool`` on the shared gauges for as long as it lives."""
    global _gauges_registered
    _LIVE_POOLS.add(pool)
    if _gauges_registered:
        return
    _gauges_registered = True
    meter = telemetry.get_meter("db")
    meter.create_observable_gauge(
        telemetry.DB_POOL_CONNECTIONS, callbacks=[_observe_connections], unit="{connection}",
        description="Pool connections by state",
    )
    meter.create_observable_gauge(
        telemetry.DB_POOL_WAITING, callbacks=[_observe_waiting], unit="{request}",
        description="Callers waiting for a pooled connection",
    )


def _observe_connections(options: CallbackOptions) -> Iterable[Observation]:
    for pool in list(_LIVE_POOLS):
        stats = pool.stats()
        for state in ("size", "idle", "in_use"):
            yield Observation(getattr(stats, state), {"pool": pool.name, "state": state})


def _observe_waiting(options: CallbackOptions) -> Iterable[Observation]:
    for pool in list(_LIVE_POOLS):
        yield Observation(pool.stats().waiting, {"pool": pool.name})


class LagSource(Protocol):
    """What the lag gauge reads: each replica's name and last sampled replay lag."""

    def lags(self) -> Iterator[tuple[str, float]]: ...


_LAG_SOURCES: weakref.WeakSet[LagSource] = weakref.WeakSet()
_lag_registered = False


def register_lag_gauge(source: LagSource) -> None:
    """Report ``source``'s replicas on the shared replay-lag gauge for as long as it lives."""
    global _lag_registered
    _LAG_SOURCES.add(source)
    if _lag_registered:
        return
    _lag_registered = True
    telemetry.get_meter("db").create_observable_gauge(
        telemetry.DB_REPLICA_LAG, callbacks=[_observe_lag], unit="s",
        description="Replay lag of a read replica, as last sampled",
    )


def _observe_lag(options: CallbackOptions) -> Iterable[Observation]:
    for source in list(_LAG_SOURCES):
        for name, lag in source.lags():
            yield Observation(lag, {"pool": name})
