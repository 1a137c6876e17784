"""The resilience policies' telemetry: counters kept as plain integers, exported on collection.

A breaker's success path adds one to an integer and nothing else: the OpenTelemetry
instruments are observable and read those integers when a reader collects (the cache does the
same). Rare events (transitions, retries, Redis fallbacks) go to ordinary counters and, where
the current span records, to span events. Instruments are created once per process, through
:func:`mediz_infra.telemetry.get_meter`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from .. import telemetry

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Counter, Observation

__all__ = ["event", "record_fallback", "record_retry", "record_transition", "track"]

_tracked: weakref.WeakSet[Any] = weakref.WeakSet()
_registered = False
_counters: dict[str, Counter] = {}

_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def _calls(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    found = []
    for source in list(_tracked):
        policy = source.telemetry_policy
        for outcome, value in source.telemetry_counts().items():
            attributes = {"policy": policy, "name": source.name, "outcome": outcome}
            found.append(Observation(value, attributes))
    return found


def _states(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    return [
        Observation(_STATE_VALUES.get(source.state, 0), {"name": source.name})
        for source in list(_tracked)
        if source.telemetry_policy == "breaker"
    ]


def track(source: Any) -> None:
    """Export ``source``'s counters (a breaker or a bulkhead); instruments made once."""
    _tracked.add(source)
    _register()


def _register() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    meter = telemetry.get_meter("resilience")
    meter.create_observable_counter(
        telemetry.RESILIENCE_CALLS,
        [_calls],
        unit="{call}",
        description="calls through breakers and bulkheads by outcome",
    )
    meter.create_observable_gauge(
        telemetry.RESILIENCE_BREAKER_STATE,
        [_states],
        unit="1",
        description="circuit breaker state: 0 closed, 1 half-open, 2 open",
    )
    _counters["transitions"] = meter.create_counter(
        telemetry.RESILIENCE_TRANSITIONS,
        unit="{transition}",
        description="circuit breaker state changes",
    )
    _counters["retries"] = meter.create_counter(
        telemetry.RESILIENCE_RETRIES,
        unit="{decision}",
        description="what the retry policy decided after each failed attempt",
    )
    _counters["fallbacks"] = meter.create_counter(
        telemetry.RESILIENCE_BACKEND_FALLBACKS,
        unit="{fallback}",
        description="shared breakers that used their local state because Redis failed",
    )


def event(name: str, attributes: dict[str, Any]) -> None:
    """Add an event to the current span, if it records."""
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, attributes)


def _add(counter: str, attributes: dict[str, Any]) -> None:
    _register()
    _counters[counter].add(1, attributes)


def record_transition(name: str, old: str, new: str, source: str) -> None:
    attributes = {"name": name, "from": old, "to": new, "source": source}
    _add("transitions", attributes)
    event("mediz.resilience.breaker.transition", attributes)


def record_retry(name: str, attempt: int, decision: str, error: BaseException, wait: float) -> None:
    _add("retries", {"name": name, "decision": decision})
    if decision == "retried":
        event(
            "mediz.resilience.retry",
            {"name": name, "attempt": attempt, "wait": wait, "error": type(error).__name__},
        )


def record_fallback(name: str, op: str) -> None:
    _add("fallbacks", {"name": name, "op": op})
