"""The ``backup_freshness`` health check over real stores: a directory and S3 (moto, HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.applications import Starlette

from mediz_infra import telemetry
from mediz_infra.backends import S3Store, create_object_store
from mediz_infra.backends.objectstore import ObjectStore
from mediz_infra.db.backup import BackupFreshness
from mediz_infra.db.backup import freshness as freshness_module
from mediz_infra.health import BackupFreshnessSource, Check, HealthRouter, backup_freshness_check
from tests._s3 import store_on

pytestmark = pytest.mark.integration

TOKEN = "t" * 24
AUTH = {"authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["file", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str
) -> AsyncIterator[ObjectStore]:
    secret = "KEYID:s3cr3tpw"  # the secret the outputs must never show
    async for made in store_on(request.param, tmp_path, s3_endpoint, "fresh", credentials=secret):
        yield made


def _id(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y%m%dT%H%M%SZ")


async def _backup(store: ObjectStore, backup_id: str, ok: bool | None = None) -> None:
    await store.put_bytes(f"{backup_id}/dump.pgc.zst", b"x")
    await store.put_bytes(f"{backup_id}/manifest.json", b"{}")
    if ok is not None:
        mismatches = [] if ok else ["public.t: rows differ"]
        record = {"backup_id": backup_id, "ok": ok, "verified_at": NOW.isoformat(),
                  "duration_s": 3.5, "mismatches": mismatches}  # fmt: skip
        await store.put_bytes(f"{backup_id}/{backup_id}.verify.json", json.dumps(record).encode())


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _get(router: HealthRouter, path: str) -> httpx.Response:
    app = Starlette(routes=router.routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path, headers=AUTH)


async def test_backup_freshness_in_the_health_router(store: ObjectStore) -> None:
    older, newest = _id(30), _id(10)
    await _backup(store, older, ok=True)
    await _backup(store, newest, ok=True)
    await store.put_bytes("20260101T000000Z/dump.pgc.zst", b"x")  # incomplete: ignored
    ticks = _Clock()
    fresh = BackupFreshness(store, clock=lambda: NOW, monotonic=ticks, cache_ttl=300)
    source: BackupFreshnessSource = fresh  # the structural contract health relies on
    check = Check("backup_freshness", backup_freshness_check(source), critical=False, timeout=10)
    router = HealthRouter([check], token=TOKEN, cache_ttl=0.0)

    answer = await _get(router, "/health?verbose")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "pass"
    (entry,) = body["checks"]["backup_freshness"]
    assert (entry["status"], entry["observedValue"], entry["observedUnit"]) == (
        "pass",
        36000.0,
        "s",
    )
    assert entry["details"]["verified_id"] == newest and entry["details"]["newest_verified"] is True
    assert "s3cr3tpw" not in answer.text and "KEYID" not in answer.text

    # the newest backup's verification fails: degraded (warn), still 200
    await _backup(store, newest, ok=False)
    for _ in range(5):
        await _get(router, "/health")  # served from the freshness cache: still pass
    assert fresh.reads == 1
    ticks.now += 301
    answer = await _get(router, "/health/checks/backup_freshness")
    assert answer.status_code == 200
    entry = answer.json()["checks"]["backup_freshness"][0]
    assert entry["status"] == "warn"
    assert entry["output"] == (
        f"newest verified backup {older} is older than 26 h; "
        f"verification of the newest backup {newest} failed"
    )
    assert answer.json()["status"] == "warn" and fresh.reads == 2
    assert "s3cr3tpw" not in answer.text
    assert await fresh.gauges() == {
        "newest_age_s": 36000.0, "verified_age_s": 108000.0, "newest_verified": 0.0,
        "degraded": 1.0,
    }  # fmt: skip


async def test_a_store_that_cannot_be_read_fails_the_check_without_its_secret(
    s3_endpoint: str,
) -> None:
    url = f"s3://KEYID:s3cr3tpw@no-such-bucket/app?endpoint_url={s3_endpoint}&region=us-east-1"
    store = S3Store(url)
    fresh = BackupFreshness(store)
    check = Check("backup_freshness", backup_freshness_check(fresh), critical=False, timeout=10)
    answer = await _get(HealthRouter([check], token=TOKEN, cache_ttl=0.0), "/health")
    assert answer.status_code == 200  # not critical: degraded, not down
    body = answer.json()
    assert body["status"] == "warn" and body["checks"]["backup_freshness"][0]["status"] == "fail"
    assert "s3cr3tpw" not in answer.text
    await store.aclose()


async def test_age_and_verify_status_as_opentelemetry_gauges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])

    def get_meter(component: str) -> Any:
        return provider.get_meter(f"{telemetry.INSTRUMENTATION_NAME}.{component}")

    monkeypatch.setattr(telemetry, "get_meter", get_meter)
    monkeypatch.setattr(freshness_module, "_registered", False)
    store = create_object_store(f"file://{tmp_path}")
    await _backup(store, _id(5), ok=None)
    await _backup(store, _id(29), ok=True)
    fresh = BackupFreshness(store, clock=lambda: NOW)
    await fresh.report()
    data = reader.get_metrics_data()
    assert data is not None
    seen: dict[tuple[str, str], float] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    attrs = dict(point.attributes or {})
                    if attrs.get("store") == store.url:
                        seen[(metric.name, str(attrs.get("backup", "")))] = point.value  # type: ignore[union-attr]
    assert seen == {
        (telemetry.BACKUP_AGE, "newest"): 5 * 3600.0,
        (telemetry.BACKUP_AGE, "verified"): 29 * 3600.0,
        (telemetry.BACKUP_VERIFIED, ""): 0,
    }
    provider.shutdown()
