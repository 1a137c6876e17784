"""Error tracking: grouping by fingerprint, counts and times, redaction, span and Sentry."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from mediz_infra.metrics import MemoryMetricsStore, fingerprint_of, redact_text
from mediz_infra.metrics.tracking import capture

from .test_middleware import AUTH, Client


def fail_here(message: str) -> None:
    raise ValueError(message)


def fail_elsewhere() -> None:
    raise ValueError("other")


def caught(func: Any, *args: Any) -> BaseException:
    try:
        func(*args)
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_one_place_and_type_is_one_fingerprint_whatever_the_message() -> None:
    first, where = fingerprint_of(caught(fail_here, "a"))
    again, _ = fingerprint_of(caught(fail_here, "b"))
    other, other_where = fingerprint_of(caught(fail_elsewhere))
    assert first == again != other
    assert where.endswith("test_tracking.py:fail_here")
    assert other_where.endswith(":fail_elsewhere")


@pytest.mark.parametrize(
    "secret",
    [
        "postgresql://app:hunter2@db:5432/x",
        "password=hunter2",
        "token: 'hunter2'",
        "Authorization: Bearer hunter2hunter2",
        "redis://:hunter2@cache/0",
    ],
)
def test_secrets_are_redacted(secret: str) -> None:
    assert "hunter2" not in redact_text(f"could not connect with {secret} now")


def test_capture_redacts_the_message_and_the_traceback() -> None:
    event = capture(
        caught(fail_here, "dsn postgresql://u:hunter2@h/db token=hunter2"), route="GET /x"
    )
    assert "hunter2" not in event.message and "hunter2" not in event.traceback
    assert "fail_here" in event.traceback and event.route == "GET /x"


async def test_unhandled_errors_are_grouped_counted_and_served() -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        for _ in range(3):
            assert (await c.http.get("/boom")).status_code == 500
        await c.flush()
        data = (await c.http.get("/admin/metrics.json", headers=AUTH)).json()
    (row,) = data["exceptions"]
    assert row["type"] == "RuntimeError" and row["count"] == 3
    assert row["route"] == "GET /boom" and row["location"].endswith("_app.py:boom")
    assert row["first_seen"] <= row["last_seen"]
    assert "RuntimeError: boom" in row["traceback"]


async def test_track_errors_off_records_none() -> None:
    store = MemoryMetricsStore()
    async with Client(store, track_errors=False) as c:
        await c.http.get("/boom")
        await c.flush()
    assert await store.read_errors() == []


def test_the_error_is_recorded_on_the_current_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("request"):
        capture(caught(fail_here, "x"), route="GET /x")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_sentry_gets_the_error_only_when_initialised(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[BaseException] = []
    active = {"on": False}
    client = types.SimpleNamespace(is_active=lambda: active["on"])
    fake = types.SimpleNamespace(get_client=lambda: client, capture_exception=sent.append)
    monkeypatch.setitem(sys.modules, "sentry_sdk", fake)
    error = caught(fail_here, "x")
    capture(error, route="GET /x")
    assert sent == []
    active["on"] = True
    capture(error, route="GET /x")
    assert sent == [error]
