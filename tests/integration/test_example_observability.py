"""The reference app's observability: health, the metrics pages and Prometheus text."""

from __future__ import annotations

import pytest

from mediz_infra import Settings
from tests.integration.test_example_app import ADMIN_TOKEN, app_database, serve

pytestmark = pytest.mark.integration
__all__ = ["app_database"]  # the fixture, imported for this module's tests

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_health_and_metrics_work_in_the_reference_app(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-obs")
    async with serve(settings, admin=False) as client:
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "pass"})
        detail = (await client.get("/health", headers=AUTH)).json()
        assert detail["checks"]["postgres"][0]["observedUnit"] == "%"
        for _ in range(3):
            assert (await client.get("/api/symptoms")).status_code == 200
        assert (await client.get("/admin/metrics")).status_code == 401
        assert (await client.get("/admin/metrics", headers=AUTH)).status_code == 200
        stack = client.app.middleware_stack  # type: ignore[attr-defined]
        while not hasattr(stack, "recorder"):
            stack = stack.app
        assert await stack.recorder.flush()
        data = (await client.get("/admin/metrics.json", headers=AUTH)).json()
        text = (await client.get("/metrics", headers=AUTH)).text
    rows = {(r["route"], r["method"]): r["requests"] for r in data["routes"]}
    assert rows[("/api/symptoms", "GET")] == 3
    assert not any(route.startswith(("/health", "/admin/metrics")) for route, _ in rows)
    assert data["gauges"]["db.pool.max_size"] >= 1
    assert 'http_route="/api/symptoms"' in text and "mediz_db_pool_in_use" in text
