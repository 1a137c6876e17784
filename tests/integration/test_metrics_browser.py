"""The dashboard in headless Chromium (Debian's chromium, driven by Playwright).

The page loads behind the admin token, its charts show the traffic sent, and they update after
more traffic. The screenshot is saved in the test's temporary directory, or in
``docs/images/`` when ``MEDIZ_UPDATE_SCREENSHOTS=1`` (how the docs' picture is made).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._servers import free_port
from tests.integration.test_metrics_redis import prefix  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
TOKEN = "d" * 24


def _require_browser() -> None:
    why = None
    if shutil.which(CHROMIUM) is None:
        why = "chromium is missing: apt-get install -y chromium"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            why = "playwright is missing: pip install -e '.[test]'"
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture
async def server(redis_url: str, prefix: str) -> AsyncIterator[str]:  # noqa: F811
    _require_browser()
    port = free_port()
    env = {**os.environ, "METRICS_REDIS_URL": redis_url, "METRICS_PREFIX": prefix,
           "METRICS_TOKEN": TOKEN}  # fmt: skip
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once, runs beside the test)
        [sys.executable, "-m", "uvicorn", "tests.integration._metrics_app:create_app",
         "--factory", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=base) as http:
            while True:
                try:
                    await http.get("/health")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "uvicorn did not start"
                    await asyncio.sleep(0.05)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


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


async def test_the_dashboard_loads_shows_traffic_and_updates(server: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    await traffic(server, ok=60, failing=3)
    shots = ROOT / "docs" / "images" if os.environ.get("MEDIZ_UPDATE_SCREENSHOTS") else tmp_path
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 1000},
                bypass_csp=True,  # the page forbids eval; the test's probes are evaluated
                extra_http_headers={"authorization": f"Bearer {TOKEN}"},
            )
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
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
            shots.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(shots / "metrics-dashboard.png"), full_page=True)
            assert errors == []
            await context.close()
            # and without the token the page is refused, showing nothing
            bare = await browser.new_page()
            refused = await bare.goto(f"{server}/admin/metrics")
            assert refused is not None and refused.status == 401
            assert "patients" not in await bare.content()
        finally:
            await browser.close()
    assert (shots / "metrics-dashboard.png").stat().st_size > 10_000
