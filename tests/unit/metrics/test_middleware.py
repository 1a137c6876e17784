"""MetricsMiddleware over the memory store: route templates, bounded cardinality, the APIs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.applications import Starlette

from mediz_infra.metrics import (
    OTHER_METHOD,
    OVERFLOW_ROUTE,
    UNKNOWN_ROUTE,
    MemoryMetricsStore,
    MetricsMiddleware,
    MetricsReader,
)
from mediz_infra.metrics import middleware as middleware_module
from mediz_infra.metrics.recorder import Recorder

from ._app import TOKEN, build

AUTH = {"authorization": f"Bearer {TOKEN}"}


def recorder_of(app: Starlette) -> Recorder:
    stack: Any = app.build_middleware_stack()
    while not isinstance(stack, MetricsMiddleware):
        stack = stack.app
    return stack.recorder


async def series(store: MemoryMetricsStore) -> dict[tuple[str, str, str], int]:
    totals = await MetricsReader(store).totals()
    return {key: s.requests for key, s in totals.items()}


class Client:
    """httpx over ASGI against one app, flushing its recorder on demand."""

    def __init__(self, store: MemoryMetricsStore, **options: Any) -> None:
        self.store = store
        self.app = build(store, **options)
        # the middleware stack is built on the first call; take the recorder it made
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),
            base_url="http://test",
        )

    async def flush(self) -> None:
        stack: Any = self.app.middleware_stack
        while not isinstance(stack, MetricsMiddleware):
            stack = stack.app
        assert await stack.recorder.flush()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack: Any = self.app.middleware_stack
        while stack is not None and not isinstance(stack, MetricsMiddleware):
            stack = getattr(stack, "app", None)
        if stack is not None:
            await stack.recorder.aclose()
        await self.http.aclose()


async def test_requests_are_counted_under_their_route_template() -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        for pid in range(5):
            assert (await c.http.get(f"/patients/{pid}")).status_code == 200
        assert (await c.http.post("/made")).status_code == 201
        assert (await c.http.get("/v1/items/42")).status_code == 200
        await c.flush()
    got = await series(store)
    assert got[("/patients/{pid}", "GET", "2xx")] == 5
    assert got[("/made", "POST", "2xx")] == 1
    assert got[("/v1/items/{item_id:int}", "GET", "2xx")] == 1
    assert not any(route == "/patients/1" for route, _, _ in got)


async def test_an_exception_counts_as_a_5xx_error() -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        assert (await c.http.get("/boom")).status_code == 500
        await c.flush()
    totals = await MetricsReader(store).totals()
    boom = totals[("/boom", "GET", "5xx")]
    assert (boom.requests, boom.errors) == (1, 1)


async def test_ten_thousand_raw_paths_under_one_template_make_one_series() -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        for pid in range(10_000):
            await c.http.get(f"/patients/p{pid}")
        await c.flush()
    got = await series(store)
    assert got == {("/patients/{pid}", "GET", "2xx"): 10_000}


async def test_ten_thousand_unmatched_paths_make_one_unknown_series() -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        for n in range(10_000):
            assert (await c.http.get(f"/scan/{n}/wp-admin.php")).status_code == 404
        await c.flush()
    assert await series(store) == {(UNKNOWN_ROUTE, "GET", "4xx"): 10_000}


async def test_an_unknown_method_is_other_and_a_405_keeps_its_route() -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        assert (await c.http.request("BREW", "/patients/1")).status_code == 405
        assert (await c.http.delete("/patients/1")).status_code == 405
        await c.flush()
    got = await series(store)
    assert got == {
        ("/patients/{pid}", OTHER_METHOD, "4xx"): 1,
        ("/patients/{pid}", "DELETE", "4xx"): 1,
    }


async def test_series_past_the_cap_go_to_the_overflow_bucket() -> None:
    store = MemoryMetricsStore()
    async with Client(store, max_series=2) as c:
        await c.http.get("/patients/1")
        await c.http.post("/patients/1")
        await c.http.post("/made")
        await c.http.get("/v1/items/1")
        await c.http.get("/nowhere")  # the unknown route is always kept
        await c.flush()
    got = await series(store)
    assert got == {
        ("/patients/{pid}", "GET", "2xx"): 1,
        ("/patients/{pid}", "POST", "2xx"): 1,
        (OVERFLOW_ROUTE, "POST", "2xx"): 1,
        (OVERFLOW_ROUTE, "GET", "2xx"): 1,
        (UNKNOWN_ROUTE, "GET", "4xx"): 1,
    }


async def test_excluded_paths_are_not_counted() -> None:
    store = MemoryMetricsStore()
    async with Client(store, exclude=["/patients/*", "/made"]) as c:
        await c.http.get("/patients/1")
        await c.http.post("/made")
        await c.http.get("/boom")
        await c.flush()
    assert await series(store) == {("/boom", "GET", "5xx"): 1}


def test_a_relative_exclude_path_is_a_config_error() -> None:
    from mediz_infra.errors import ConfigError

    with pytest.raises(ConfigError, match="exclude"):
        MetricsMiddleware(build(), exclude=["health"])


async def test_the_json_api_needs_the_admin_token_and_leaks_nothing() -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        missing = await c.http.get("/admin/metrics.json")
        wrong = await c.http.get("/admin/metrics.json", headers={"authorization": "Bearer x"})
        scrape = await c.http.get("/metrics")
        assert (missing.status_code, wrong.status_code, scrape.status_code) == (401, 403, 401)
        for response in (missing, wrong, scrape):
            assert response.headers["content-type"] == "application/problem+json"
            assert TOKEN not in response.text and "patients" not in response.text
        for pid in range(3):
            await c.http.get(f"/patients/{pid}")
        await c.http.get("/boom")
        await c.flush()
        ok = await c.http.get("/admin/metrics.json", headers=AUTH)
    assert ok.status_code == 200
    data = json.loads(ok.text)
    assert data["requests"] >= 4 and data["errors"] == 1
    assert data["per_second"][-1]["requests"] + data["per_second"][-2]["requests"] >= 4
    rows = {(r["route"], r["method"]): r for r in data["routes"]}
    assert rows[("/patients/{pid}", "GET")]["requests"] == 3
    assert rows[("/boom", "GET")]["error_rate"] == 1.0
    assert data["latency_ms"]["p50"] is not None


async def test_prometheus_text_has_cumulative_buckets_and_counts() -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        for pid in range(4):
            await c.http.get(f"/patients/{pid}")
        await c.http.get("/boom")
        await c.flush()
        text = (await c.http.get("/metrics", headers=AUTH)).text
    labels = (
        'http_route="/patients/{pid}",http_request_method="GET",http_response_status_class="2xx"'
    )
    assert f"http_server_request_duration_seconds_count{{{labels}}} 4" in text
    assert f'http_server_request_duration_seconds_bucket{{{labels},le="+Inf"}} 4' in text
    assert 'http_server_errors_total{http_route="/boom",http_request_method="GET"} 1' in text
    counts = [
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(f"http_server_request_duration_seconds_bucket{{{labels}")
    ]
    assert counts == sorted(counts)


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    monkeypatch.setattr(middleware_module, "get_meter", lambda c: provider.get_meter(c))
    yield reader
    provider.shutdown()


async def test_otel_instruments_follow_the_http_semantic_conventions(
    otel: InMemoryMetricReader,
) -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        for pid in range(3):
            await c.http.get(f"/patients/{pid}")
        await c.http.get("/nowhere")
    data = otel.get_metrics_data()
    assert data is not None
    points: dict[str, list[Any]] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                points[metric.name] = list(metric.data.data_points)
    duration = {
        (p.attributes["http.route"], p.attributes["http.response.status_code"]): p.count
        for p in points["http.server.request.duration"]
    }
    assert duration == {("/patients/{pid}", 200): 3, (UNKNOWN_ROUTE, 404): 1}
    (active,) = points["http.server.active_requests"]
    assert active.value == 0
    assert dict(active.attributes) == {"http.request.method": "GET", "url.scheme": "http"}


async def test_the_dashboard_page_is_guarded_and_self_contained() -> None:
    store = MemoryMetricsStore()
    async with Client(store) as c:
        refused = await c.http.get("/admin/metrics")
        page = await c.http.get("/admin/metrics", headers=AUTH)
    assert refused.status_code == 401 and "<svg" not in refused.text
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-source="/admin/metrics.json"' in page.text and "<svg" in page.text
    # no CDN, no second request: the script and styles are inline, the only URL is SVG's own
    assert "<script src" not in page.text and "<link" not in page.text
    urls = {u.split('"')[0] for u in page.text.split("http")[1:]}
    assert urls <= {"://www.w3.org/2000/svg"}
    assert "connect-src 'self'" in page.headers["content-security-policy"]
