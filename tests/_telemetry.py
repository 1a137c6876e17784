"""The library's instruments read back through a real OpenTelemetry SDK reader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from mediz_infra import telemetry

__all__ = ["meter_reader"]


@pytest.fixture
def meter_reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryMetricReader]:
    """An in-memory reader behind every meter the library gets from ``telemetry.get_meter``
    during the test (a module that registers its instruments once must be reset by the test)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])

    def get_meter(component: str) -> Any:
        return provider.get_meter(f"{telemetry.INSTRUMENTATION_NAME}.{component}")

    monkeypatch.setattr(telemetry, "get_meter", get_meter)
    yield reader
    provider.shutdown()
