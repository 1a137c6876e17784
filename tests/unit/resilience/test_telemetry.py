"""Resilience telemetry read through a real OpenTelemetry SDK reader, and span events."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mediz_infra import telemetry
from mediz_infra.resilience import (
    Bulkhead,
    BulkheadFull,
    CircuitBreaker,
    CircuitOpen,
    Retry,
    UpstreamError,
)
from mediz_infra.resilience import stats as resilience_stats
from tests._telemetry import meter_reader  # noqa: F401 (fixture)

from ._clock import FakeClock


@pytest.fixture
def reader(
    meter_reader: InMemoryMetricReader,  # noqa: F811 (fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> InMemoryMetricReader:
    monkeypatch.setattr(resilience_stats, "_registered", False)
    return meter_reader


def points(reader: InMemoryMetricReader, instrument: str, name: str) -> dict[tuple[Any, ...], Any]:
    """{sorted attributes without ``name``: value} of one instrument for one policy name."""
    found: dict[tuple[Any, ...], Any] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != instrument:
                    continue
                for point in metric.data.data_points:  # type: ignore[union-attr]
                    attrs = dict(point.attributes or {})
                    if attrs.pop("name", None) == name:
                        found[tuple(sorted(attrs.items()))] = point.value
    return found


class Boom(Exception):
    pass


async def test_breaker_calls_states_and_transitions(reader: InMemoryMetricReader) -> None:
    name = f"b-{uuid.uuid4().hex[:6]}"
    clock = FakeClock()
    breaker = CircuitBreaker(
        name, minimum_calls=2, failure_rate=0.4, ignore=[KeyError], clock=clock
    )

    async def ok() -> int:
        return 1

    async def boom() -> int:
        raise Boom

    async def missing() -> int:
        raise KeyError

    for _ in range(3):
        await breaker.call(ok)
    with pytest.raises(KeyError):
        await breaker.call(missing)
    for _ in range(2):
        with pytest.raises(Boom):
            await breaker.call(boom)
    with pytest.raises(CircuitOpen):
        await breaker.call(ok)
    calls = points(reader, telemetry.RESILIENCE_CALLS, name)
    assert calls == {
        (("outcome", "success"), ("policy", "breaker")): 3,
        (("outcome", "failure"), ("policy", "breaker")): 2,
        (("outcome", "ignored"), ("policy", "breaker")): 1,
        (("outcome", "rejected"), ("policy", "breaker")): 1,
    }
    assert points(reader, telemetry.RESILIENCE_BREAKER_STATE, name) == {(): 2}
    transitions = points(reader, telemetry.RESILIENCE_TRANSITIONS, name)
    assert transitions == {(("from", "closed"), ("source", "local"), ("to", "open")): 1}


async def test_bulkhead_admissions_and_rejections(reader: InMemoryMetricReader) -> None:
    name = f"k-{uuid.uuid4().hex[:6]}"
    bulkhead = Bulkhead(1, name=name)
    gate = asyncio.Event()
    held = asyncio.create_task(bulkhead.call(gate.wait))
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFull):
        await bulkhead.acquire()
    gate.set()
    await held
    assert points(reader, telemetry.RESILIENCE_CALLS, name) == {
        (("outcome", "admitted"), ("policy", "bulkhead")): 1,
        (("outcome", "rejected"), ("policy", "bulkhead")): 1,
    }


async def test_retry_decisions_are_counted_and_retries_are_span_events(
    reader: InMemoryMetricReader,
) -> None:
    name = f"r-{uuid.uuid4().hex[:6]}"
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    failures = [UpstreamError("http://x", 503), UpstreamError("http://x", 503)]

    async def flaky() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    async def no_sleep(seconds: float) -> None:
        return None

    with tracer.start_as_current_span("request"):
        assert await Retry(attempts=3, sleep=no_sleep, name=name).call(flaky) == "ok"
        with pytest.raises(UpstreamError):
            await Retry(attempts=3, sleep=no_sleep, name=name).call(
                lambda: _raise(UpstreamError("http://x", 400))
            )
    decisions = points(reader, telemetry.RESILIENCE_RETRIES, name)
    assert decisions == {(("decision", "retried"),): 2, (("decision", "not_retryable"),): 1}
    (span,) = exporter.get_finished_spans()
    events = [e for e in span.events if e.name == "mediz.resilience.retry"]
    assert [e.attributes["attempt"] for e in events] == [1, 2]  # type: ignore[index]
    provider.shutdown()


async def _raise(error: BaseException) -> None:
    raise error
