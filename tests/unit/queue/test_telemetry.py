"""The queue's instruments, read through a real OpenTelemetry SDK reader."""

from __future__ import annotations

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from mediz_infra import telemetry
from mediz_infra.queue import Backoff, Queue, Worker
from tests._telemetry import meter_reader  # noqa: F401 (fixture)


def points(reader: InMemoryMetricReader) -> dict[tuple[str, str], float]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[tuple[str, str], float] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    attrs = dict(point.attributes or {})
                    label = str(attrs.get("event", attrs.get("outcome", "")))
                    value = getattr(point, "value", None)
                    out[(metric.name, label)] = (
                        value if value is not None else getattr(point, "count", 0)
                    )
    return out


async def test_jobs_are_counted_by_event_with_wait_and_duration(
    meter_reader: InMemoryMetricReader,  # noqa: F811 (fixture)
) -> None:
    clock = [1_800_000_000.0]
    queue = Queue("telemetry", "memory://", clock=lambda: clock[0])
    calls = [0]

    @queue.task(retries=1, backoff=Backoff(base=1, jitter=0))
    async def flaky() -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise ConnectionError("down")

    await flaky.enqueue()
    await Worker(queue).run_burst()
    clock[0] += 1
    await Worker(queue).run_burst()
    got = points(meter_reader)
    assert got[(telemetry.QUEUE_JOBS, "enqueued")] == 1
    assert got[(telemetry.QUEUE_JOBS, "started")] == 2
    assert got[(telemetry.QUEUE_JOBS, "failed")] == 1
    assert got[(telemetry.QUEUE_JOBS, "retried")] == 1
    assert got[(telemetry.QUEUE_JOBS, "completed")] == 1
    assert got[(telemetry.QUEUE_JOB_WAIT, "")] == 1  # first attempt only
    assert got[(telemetry.QUEUE_JOB_DURATION, "failed")] == 1
    assert got[(telemetry.QUEUE_JOB_DURATION, "completed")] == 1
