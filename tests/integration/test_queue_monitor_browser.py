"""The queue monitor's page in headless Chromium (Debian's chromium, driven by Playwright).

The page loads behind the admin token, shows the counts, the per-minute chart, a live worker,
the dead letters and failures, and its buttons retry a dead job, delete one, pause and resume
the queue. The screenshot lands in the test's temporary directory, or in ``docs/images/`` with
``MEDIZ_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.queue import Queue, Worker
from tests._browser import browser, screenshots, signed_in, uvicorn_app  # noqa: F401 (fixture)

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "m" * 24


@pytest.fixture
async def served(redis_url: str) -> AsyncIterator[tuple[str, Queue]]:
    name = f"page{uuid.uuid4().hex[:6]}"
    client = create_redis(redis_url)
    queue = Queue(name, client, prefix="test")
    env = {"QUEUE_TEST_URL": redis_url, "QUEUE_TEST_NAME": name, "QUEUE_TEST_TOKEN": TOKEN}
    try:
        async with uvicorn_app("tests.integration._queue_monitor_app:create_app", env) as base:
            yield base, queue
    finally:
        await client.flushdb()
        await client.aclose()


async def test_the_monitor_shows_a_queue_and_its_buttons_act(
    browser: Browser,  # noqa: F811 (fixture)
    served: tuple[str, Queue],
    tmp_path: Path,
) -> None:
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
    shots = screenshots(tmp_path)
    async with signed_in(browser, TOKEN) as (page, errors):
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
    bare = await browser.new_page()
    refused = await bare.goto(f"{base}/admin/queues")
    assert refused is not None and refused.status == 401
    assert queue.name not in await bare.content()
