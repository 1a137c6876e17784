"""What the cache contract modules share: the cache factory fixture and small test helpers.

The unit suite gets ``make_cache`` through this directory's ``conftest.py``;
``tests/integration/test_cache_contract.py`` imports it from here and supplies its own
``backend`` (the real Redis).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mediz_infra.cache import Cache

__all__ = ["Counter", "Factory", "eventually", "make_cache"]

Factory = Callable[..., Cache]


@pytest.fixture
async def make_cache(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Caches on one backend sharing one store (two of them stand for two processes)."""
    made: list[Cache] = []
    prefix = f"t{uuid.uuid4().hex[:10]}"

    def make(**options: Any) -> Cache:
        options.setdefault("prefix", prefix)
        if backend == "memory":
            cache = Cache(f"memory://{prefix}", **options)
        else:
            cache = Cache(request.getfixturevalue("redis_url"), **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()
    if made:
        cleaner = make()
        await cleaner.clear()
        await cleaner.close()


async def eventually(check: Callable[[], bool], deadline: float = 5.0) -> None:
    """Poll ``check`` until true or fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            pytest.fail("condition not reached before the deadline")
        await asyncio.sleep(0.01)


class Counter:
    """How many times a test's function body ran."""

    def __init__(self) -> None:
        self.calls = 0
