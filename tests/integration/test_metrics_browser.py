"""The dashboard in headless Chromium (Debian's chromium, driven by Playwright).

The page loads behind the admin token, its charts show the traffic sent, and they update after
more traffic. The screenshot is saved in the test's temporary directory, or in
``docs/images/`` when ``MEDIZ_UPDATE_SCREENSHOTS=1`` (how the docs' picture is made).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests._browser import browser, screenshots, signed_in, uvicorn_app  # noqa: F401 (fixture)
from tests.integration.test_metrics_redis import prefix  # noqa: F401 (fixture)

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "d" * 24


@pytest.fixture
async def server(redis_url: str, prefix: str) -> AsyncIterator[str]:  # noqa: F811
    env = {"METRICS_REDIS_URL": redis_url, "METRICS_PREFIX": prefix, "METRICS_TOKEN": TOKEN}
    async with uvicorn_app("tests.integration._metrics_app:create_app", env) as base:
        yield base


async def traffic(base: str, ok: int, failing: int) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for n in range(ok):
            assert (await http.get(f"/patients/{n}")).status_code == 200
        for _ in range(failing):
            # uvicorn drops the connection after an app error: never reuse it
            response = await http.get("/boom", headers={"connection": "close"})
            assert response.status_code == 500


TOTAL = "Number(document.querySelector('#chart-requests').dataset.total || 0)"


async def wait_for_total(page: Any, at_least: int) -> None:
    """Until the requests chart sums to ``at_least``; on a timeout, say what the page shows."""
    try:
        await page.wait_for_function(f"{TOTAL} >= {at_least}", timeout=20_000)
    except Exception as exc:
        shown = await page.evaluate(TOTAL)
        status = await page.inner_text("#status")
        raise AssertionError(f"chart total {shown} < {at_least}; page says {status!r}") from exc


async def test_the_dashboard_loads_shows_traffic_and_updates(
    browser: Browser,  # noqa: F811 (fixture)
    server: str,
    tmp_path: Path,
) -> None:
    await traffic(server, ok=60, failing=3)
    shots = screenshots(tmp_path)
    async with signed_in(browser, TOKEN) as (page, errors):
        response = await page.goto(f"{server}/admin/metrics")
        assert response is not None and response.status == 200
        # the flush runs about once a second: wait until the chart has every request
        await wait_for_total(page, 63)
        points = await page.get_attribute("#chart-requests path", "data-points")
        assert points is not None and int(points) > 0
        assert "/patients/{pid}" in await page.inner_text("#routes")
        assert "/boom" in await page.inner_text("#routes")
        assert float(await page.inner_text("#rpm")) > 0
        assert (await page.inner_text("#status")).startswith("updated")
        await traffic(server, ok=40, failing=0)
        await wait_for_total(page, 103)
        assert (await page.inner_text("#status")).startswith("updated")
        await page.screenshot(path=str(shots / "metrics-dashboard.png"), full_page=True)
        assert errors == []
    # and without the token the page is refused, showing nothing
    bare = await browser.new_page()
    refused = await bare.goto(f"{server}/admin/metrics")
    assert refused is not None and refused.status == 401
    assert "patients" not in await bare.content()
    assert (shots / "metrics-dashboard.png").stat().st_size > 10_000
