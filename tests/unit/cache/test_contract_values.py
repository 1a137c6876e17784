"""Values by key (``cache.get`` / ``set`` / ``delete``) on every store.

``tests/integration/test_cache_contract.py`` runs this module on the real Redis too.
"""

from __future__ import annotations

import asyncio

import pytest

from mediz_infra.cache import Cache
from mediz_infra.errors import ConfigError
from tests._servers import free_port
from tests.unit.cache._contract_helpers import Factory


async def test_set_get_delete(make_cache: Factory) -> None:
    cache = make_cache()
    assert await cache.get("flag") is None
    assert await cache.get("flag", "off") == "off"
    assert await cache.set("flag", {"on": True, "since": [2026, 11]}, ttl=60)
    assert await cache.get("flag") == {"on": True, "since": [2026, 11]}
    assert await cache.delete("flag") is True
    assert await cache.delete("flag") is False
    assert await cache.get("flag", "gone") == "gone"
    assert (cache.stats.hits, cache.stats.misses) == (1, 3)


async def test_a_value_handed_out_is_the_callers_own(make_cache: Factory) -> None:
    cache = make_cache()
    await cache.set("rows", [{"id": 1}], ttl=60)
    mine = await cache.get("rows")
    mine[0]["id"] = 99
    mine.append("junk")
    assert await cache.get("rows") == [{"id": 1}]


async def test_values_expire_and_clear_removes_them(make_cache: Factory) -> None:
    cache = make_cache()
    await cache.set("short", 1, ttl=0.05)
    await cache.set("long", 2, ttl=60)
    await asyncio.sleep(0.1)
    assert await cache.get("short") is None
    assert await cache.get("long") == 2
    assert await cache.clear() >= 1
    assert await cache.get("long") is None


async def test_values_and_function_keys_never_meet(make_cache: Factory) -> None:
    cache = make_cache()

    @cache(ttl=60, key="user:{n}")
    async def user(n: int) -> str:
        return f"computed {n}"

    assert await user(1) == "computed 1"
    await cache.set("user:1", "set by hand", ttl=60)
    assert await user(1) == "computed 1"
    assert await cache.get("user:1") == "set by hand"


async def test_bad_input_is_refused_and_oversized_values_are_not_stored(
    make_cache: Factory,
) -> None:
    cache = make_cache(max_size=64)
    with pytest.raises(ConfigError, match="key"):
        await cache.get("")
    with pytest.raises(ConfigError, match="ttl"):
        await cache.set("k", 1, ttl=0)
    with pytest.raises(TypeError):
        await cache.set("k", object(), ttl=60)
    assert await cache.set("big", "x" * 100, ttl=60) is False
    assert await cache.get("big") is None
    assert cache.stats.unstorable == 1


async def test_unreachable_redis_gives_the_default_and_false() -> None:
    cache = Cache(f"redis://127.0.0.1:{free_port()}/0", backoff=30.0)
    try:
        assert await cache.get("k", "fallback") == "fallback"  # refused: counted, back-off
        assert await cache.set("k", 1, ttl=60) is False  # skipped during the back-off
        assert await cache.delete("k") is False
        assert (cache.stats.errors, cache.stats.bypassed) == (1, 2)
    finally:
        await cache.close()


async def test_bytes_that_no_longer_decode_give_the_default(
    make_cache: Factory, backend: str
) -> None:
    if backend == "memory":
        pytest.skip("the in-process store keeps no bytes")
    cache = make_cache()
    assert cache.store is not None
    await cache.store.client.set(cache.value_key("k"), b"m1|0|0||{not json")
    assert await cache.get("k", "default") == "default"
    await cache.store.client.set(cache.value_key("k"), b"written by something else")
    assert await cache.get("k", "default") == "default"
    assert cache.stats.rejected == 1
