"""The pages' browser tests' shared set-up: the app under uvicorn, headless Chromium, a session.

Chromium is Debian's (``/usr/bin/chromium``) driven by Playwright; without either, a test is
skipped with the install command as its reason, and fails under CI. Screenshots land in the
test's temporary directory, or in ``docs/images/`` with ``MEDIZ_UPDATE_SCREENSHOTS=1`` (how the
docs' pictures are made).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests._servers import free_port

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

__all__ = ["CHROMIUM", "browser", "require_browser", "screenshots", "signed_in", "uvicorn_app"]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def require_browser() -> None:
    """Skip (fail under ``CI=true``) unless Chromium and Playwright are installed."""
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
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, closed after the test (request it first: it skips before any set-up)."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@contextlib.asynccontextmanager
async def uvicorn_app(factory: str, env: Mapping[str, str]) -> AsyncIterator[str]:
    """``uvicorn --factory factory`` on a free port with ``env`` added, until its ``/health``
    answers; yields its base URL and stops it (SIGTERM) at the end."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once, runs beside the test)
        [sys.executable, "-m", "uvicorn", factory,
         "--factory", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
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


@contextlib.asynccontextmanager
async def signed_in(browser: Browser, token: str) -> AsyncIterator[tuple[Page, list[str]]]:
    """A page whose every request carries the admin token, and the script errors it meets."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 1000},
        bypass_csp=True,  # the page forbids eval; the test's probes are evaluated
        extra_http_headers={"authorization": f"Bearer {token}"},
    )
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
    finally:
        await context.close()


def screenshots(tmp_path: Path) -> Path:
    """Where a test saves its screenshot (created)."""
    where = ROOT / "docs" / "images" if os.environ.get("MEDIZ_UPDATE_SCREENSHOTS") else tmp_path
    where.mkdir(parents=True, exist_ok=True)
    return where
