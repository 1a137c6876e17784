"""The admin pages' shared page: one response with everything inlined, escaped, never cached."""

from __future__ import annotations

import httpx
import pytest

from mediz_infra._admin import AdminPage
from mediz_infra.errors import ConfigError
from mediz_infra.metrics import DashboardPage
from mediz_infra.queue.monitor_page import MonitorPage


async def test_a_page_is_one_self_contained_response_with_strict_headers() -> None:
    page = MonitorPage("/admin/queues/api", interval=1.5)
    transport = httpx.ASGITransport(app=page)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    text = response.text
    assert '<body data-api="/admin/queues/api" data-interval="1500">' in text
    assert "<title>Queues · mediz-infra</title>" in text and "<h1>Queues</h1>" in text
    # the shared base, then the page's own: styles and script both inlined
    assert text.index("const admin = ") < text.index("The queue monitor: polls")
    assert text.index("box-sizing") < text.index("nav button")
    assert "<script src" not in text and "<link" not in text
    assert "/*" + "CSS*/" not in text and "/*" + "BODY*/" not in text


def test_data_is_escaped_and_nothing_inlined_is_read_as_a_slot() -> None:
    page = DashboardPage('/m.json?a=1&b="/*JS*/"')
    text = page.body.decode()
    assert 'data-source="/m.json?a=1&amp;b=&quot;/*JS*/&quot;"' in text
    assert text.count("const admin = ") == 1
    assert text.count("</script>") == 1  # no "</" inside the inlined script ends it early


@pytest.mark.parametrize("interval", [0.0, 0.19, -1.0])
def test_an_interval_below_the_floor_is_refused(interval: float) -> None:
    with pytest.raises(ConfigError, match="interval"):
        AdminPage("mediz_infra.queue", "monitor", title="Q", data={}, interval=interval)
    with pytest.raises(ConfigError, match="interval"):
        MonitorPage("/api", interval=interval)
