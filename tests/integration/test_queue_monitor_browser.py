"""The queue monitor's page in headless Chromium (Debian's chromium, driven by Playwright).

The page loads behind the admin token, shows the counts, the per-minute chart, a live worker,
the dead letters and failures, and its buttons retry a dead job, delete one, pause and resume
the queue. The screenshot lands in the test's temporary directory, or in ``docs/images/`` with
``MEDIZ_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.queue import Queue, Worker
from tests._servers import free_port
from tests.integration.test_metrics_browser import CHROMIUM, _require_browser

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "m" * 24


@pytest.fixture
async def served(redis_url: str) -> AsyncIterator[tuple[str, Queue]]:
    _require_browser()
    name = f"page{uuid.uuid4().hex[:6]}"
    client = create_redis(redis_url)
    queue = Queue(name, client, prefix="test")
    port = free_port()
    env = {**os.environ, "QUEUE_TEST_URL": redis_url, "QUEUE_TEST_NAME": name,
           "QUEUE_TEST_TOKEN": TOKEN}  # fmt: skip
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once, runs beside the test)
        [sys.executable, "-m", "uvicorn", "tests.integration._queue_monitor_app:create_app",
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
        yield base, queue
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        await client.flushdb()
        await client.aclose()


async def test_the_monitor_shows_a_queue_and_its_buttons_act(
    served: tuple[str, Queue], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    base, queue = served

    @queue.task(name="send", retries=0)
    async def send(n: int) -> int:
        if n < 0:
            raise ConnectionError(f"push provider refused reminder {n}")
        return n

    await send.enqueue_many([(n,) for n in range(5)])
    await send.enqueue(-1, _job_id="dead-1")
    await send.enqueue(-2, _job_id="dead-2")
    await Worker(queue).run_burst()
    worker = Worker(queue, concurrency=4, presence_ttl=60)
    await worker.presence.beat()  # listed as a live worker for a minute
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
            response = await page.goto(f"{base}/admin/queues")
            assert response is not None and response.status == 200
            await page.wait_for_function(
                "document.querySelector('#dead').dataset.rows === '2'", timeout=20_000
            )
            assert await page.inner_text("#queue-name") == queue.name
            assert await page.inner_text("#n-completed") == "5"
            assert await page.inner_text("#n-failed") == "2"
            assert await page.inner_text("#n-dead") == "2"
            assert await page.get_attribute("#chart", "data-completed") == "5"
            assert worker.id in await page.inner_text("#workers")
            assert "push provider refused reminder -1" in await page.inner_text("#failures")
            shots.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(shots / "queue-monitor.png"), full_page=True)

            await page.click("#dead tr[data-job='dead-1'] button[data-action='retry']")
            await page.wait_for_function(
                "document.querySelector('#dead').dataset.rows === '1'", timeout=20_000
            )
            assert await queue.job("dead-1").status() == "waiting"
            await page.click("#dead tr[data-job='dead-2'] button[data-action='delete']")
            await page.wait_for_function(
                "document.querySelector('#dead').dataset.rows === '0'", timeout=20_000
            )
            assert await queue.job("dead-2").status() is None

            await page.click("#toggle")  # pause
            await page.wait_for_selector("#paused", state="visible", timeout=20_000)
            assert await queue.broker.is_paused()
            await page.click("#toggle")  # resume
            await page.wait_for_selector("#paused", state="hidden", timeout=20_000)
            assert not await queue.broker.is_paused()
            assert await page.inner_text("#n-waiting") in ("1", "0")
            assert errors == []
            await context.close()
            bare = await browser.new_page()
            refused = await bare.goto(f"{base}/admin/queues")
            assert refused is not None and refused.status == 401
            assert queue.name not in await bare.content()
        finally:
            await browser.close()
