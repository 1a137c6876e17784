"""The cache contract (tests/unit/cache/test_contract*.py) on the real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from mediz_infra.cache.tags import TAG_TTL
from tests.unit.cache._contract_helpers import Factory, make_cache  # noqa: F401 - fixture reuse
from tests.unit.cache.test_contract import *  # noqa: F403 - the same suite, another backend
from tests.unit.cache.test_contract_serialisation import *  # noqa: F403
from tests.unit.cache.test_contract_values import *  # noqa: F403

pytestmark = pytest.mark.integration


@pytest.fixture(params=["redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_tag_counters_are_bumped_with_an_expiry_in_one_go(
    make_cache: Factory,  # noqa: F811 - the fixture imported above
) -> None:
    """Redis only: every tag's counter goes up by one and expires after TAG_TTL (nothing grows)."""
    cache = make_cache()
    assert await cache.invalidate_tags("a", "b")
    assert await cache.invalidate_tags("b")
    assert cache.store is not None
    client: Any = cache.store.client
    keys = cache.tag_keys(("a", "b"))
    assert [int(v) for v in await client.mget(keys)] == [1, 2]
    for key in keys:
        assert TAG_TTL - 60 < await client.ttl(key) <= TAG_TTL
