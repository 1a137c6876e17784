"""The reference app mounts the queue monitor beside the metrics page, behind the same guard."""

from __future__ import annotations

import pytest

from mediz_infra import Settings
from tests.integration.test_example_app import ADMIN_TOKEN, app_database, serve

pytestmark = pytest.mark.integration
__all__ = ["app_database"]  # the fixture, imported for this module's tests

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_the_queue_monitor_is_mounted_and_guarded(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-qmon")
    async with serve(settings, admin=False) as client:
        assert (await client.get("/admin/queues")).status_code == 401
        assert (await client.get("/admin/queues/api/reminders")).status_code == 401
        page = await client.get("/admin/queues", headers=AUTH)
        assert page.status_code == 200 and "<script>" in page.text
        data = (await client.get("/admin/queues/api", headers=AUTH)).json()
        assert [q["name"] for q in data["queues"]] == ["reminders"]
        missing = await client.get("/admin/queues/api/nosuch", headers=AUTH)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
