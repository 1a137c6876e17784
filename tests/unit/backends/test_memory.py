"""MemoryRedis on its own: a replaceable clock, shared named stores, globs, blocking pops.

The behaviour it shares with a real server is in tests/integration/test_redis_contract.py; this
file covers what only the memory backend has, without any network.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from mediz_infra.backends.memory import MemoryRedis
from mediz_infra.backends.protocols import KeyValueClient
from mediz_infra.backends.redis import check_redis, create_redis, create_redis_from_settings
from mediz_infra.config import load_settings
from mediz_infra.errors import ConfigError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mem(clock: FakeClock) -> MemoryRedis:
    return MemoryRedis(clock=clock)


@pytest.fixture(autouse=True)
def _fresh_shared_stores() -> Iterator[None]:
    MemoryRedis.drop_shared()
    yield
    MemoryRedis.drop_shared()


async def test_keys_expire_exactly_at_their_deadline(mem: MemoryRedis, clock: FakeClock) -> None:
    await mem.set("k", "v", ex=10)
    await mem.set("p", "v", px=1500)
    clock.now += 1.499
    assert await mem.get("p") == b"v"
    assert await mem.pttl("p") == 1
    clock.now += 0.001
    assert await mem.get("p") is None
    clock.now += 8.4
    assert await mem.ttl("k") == 0  # 100 ms left rounds down, like Redis
    assert await mem.exists("k") == 1
    clock.now += 0.1
    assert await mem.exists("k") == 0
    assert await mem.ttl("k") == -2


async def test_ttl_rounds_like_redis(mem: MemoryRedis, clock: FakeClock) -> None:
    await mem.set("k", "v", ex=10)
    clock.now += 0.4
    assert await mem.ttl("k") == 10  # 9.6 s left
    assert await mem.pttl("k") == 9600
    clock.now += 0.2
    assert await mem.ttl("k") == 9


async def test_clock_is_shared_by_every_view_of_a_store(clock: FakeClock) -> None:
    first = MemoryRedis.shared("clocked")
    second = MemoryRedis.shared("clocked", decode_responses=True)
    first.clock = clock
    assert second.clock is clock
    await second.set("k", "v", ex=1)
    clock.now += 1
    assert await first.get("k") is None


async def test_expired_keys_are_invisible_everywhere(mem: MemoryRedis, clock: FakeClock) -> None:
    await mem.set("a", "1", ex=1)
    await mem.sadd("s", "m")
    await mem.expire("s", 1)
    await mem.set("b", "2")
    clock.now += 2
    assert [k async for k in mem.scan_iter()] == [b"b"]
    assert await mem.mget("a", "b") == [None, b"2"]
    assert await mem.smembers("s") == set()
    assert (await mem.info())["db0"] == {"keys": 1, "expires": 0, "avg_ttl": 0}


async def test_expired_keys_nobody_reads_are_swept(mem: MemoryRedis, clock: FakeClock) -> None:
    for i in range(500):
        await mem.set(f"old:{i}", "v", ex=1)
    clock.now += 2
    for i in range(600):  # enough writes to trigger a sweep
        await mem.set(f"new:{i}", "v")
    assert len(mem._store.data) == 600
    assert not mem._store.expires


async def test_named_stores_are_shared_and_fresh_ones_are_not() -> None:
    app = create_redis("memory://app")
    same = create_redis("memory://app")
    other = create_redis("memory://other")
    fresh = create_redis("memory://")
    assert isinstance(app, MemoryRedis)
    await app.set("k", "v")
    assert await same.get("k") == b"v"
    assert await other.get("k") is None
    assert await fresh.get("k") is None
    assert await create_redis("memory://").get("k") is None
    await app.aclose()  # closing one client keeps the store for the others
    assert await same.get("k") == b"v"


async def test_store_names_keep_their_case() -> None:
    await create_redis("memory://App").set("k", "v")
    assert await create_redis("memory://App").get("k") == b"v"
    assert await create_redis("memory://app").get("k") is None


async def test_settings_without_redis_url_share_one_memory_store() -> None:
    first = create_redis_from_settings(load_settings(redis_url=None))
    second = create_redis_from_settings(load_settings(redis_url=None))
    await first.set("k", "v")
    assert isinstance(second, MemoryRedis)
    assert await second.get("k") == b"v"


def test_settings_errors_name_redis_url() -> None:
    settings = load_settings(redis_url="redis://:s3cret@cache/0?max_connections=lots")
    with pytest.raises(ConfigError) as caught:
        create_redis_from_settings(settings)
    assert caught.value.field == "REDIS_URL?max_connections"
    assert "s3cret" not in str(caught.value)


async def test_drop_shared_gives_later_users_a_fresh_store() -> None:
    before = create_redis("memory://app")
    await before.set("k", "v")
    MemoryRedis.drop_shared("app")
    assert await create_redis("memory://app").get("k") is None
    assert await before.get("k") == b"v"  # a client already holding the store keeps it


async def test_decoding_is_per_client_on_one_store() -> None:
    raw = create_redis("memory://app")
    text = create_redis("memory://app?decode_responses=true")
    await raw.set("k", "välue")
    assert await raw.get("k") == "välue".encode()
    assert await text.get("k") == "välue"


async def test_memory_urls_accept_connection_options_and_refuse_typos() -> None:
    client = create_redis("memory://app?max_connections=5&timeout=1")
    assert isinstance(client, MemoryRedis)
    with pytest.raises(ValueError, match="max_conections"):
        create_redis("memory://app?max_conections=5")


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("*", {"a", "ab", "a-b", "[x]", "*"}),
        ("a?", {"ab"}),
        ("a[a-c]", {"ab"}),
        ("a[c-a]", {"ab"}),  # a reversed range still matches, as in Redis
        ("a[^b]", set()),
        ("\\[x\\]", {"[x]"}),
        ("[[]x]", {"[x]"}),
        ("\\*", {"*"}),
        ("a-*", {"a-b"}),
        ("[", set()),  # an unterminated class is a literal "["
    ],
)
async def test_glob_patterns(mem: MemoryRedis, pattern: str, matches: set[str]) -> None:
    for key in ("a", "ab", "a-b", "[x]", "*"):
        await mem.set(key, "v")
    assert {k.decode() async for k in mem.scan_iter(match=pattern)} == matches


async def test_blpop_without_timeout_waits_for_a_push(mem: MemoryRedis) -> None:
    waiter = asyncio.create_task(mem.blpop(["q"]))
    other = asyncio.create_task(mem.brpop(["q"]))
    await asyncio.sleep(0)
    assert not waiter.done()
    await mem.rpush("q", "a", "b")
    popped = await asyncio.wait_for(asyncio.gather(waiter, other), 1)
    assert sorted(map(repr, popped)) == ["(b'q', b'a')", "(b'q', b'b')"]
    assert not mem._store.waiters
    assert await mem.exists("q") == 0


async def test_blpop_timeout_leaves_no_waiter(mem: MemoryRedis) -> None:
    assert await mem.blpop("q", timeout=0.01) is None
    assert not mem._store.waiters


async def test_cancelled_blpop_leaves_no_waiter(mem: MemoryRedis) -> None:
    waiter = asyncio.create_task(mem.blpop("q"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not mem._store.waiters
    await mem.rpush("q", "v")  # nobody left to wake: the value stays
    assert await mem.lrange("q", 0, -1) == [b"v"]


async def test_values_encode_like_redis_py(mem: MemoryRedis) -> None:
    await mem.set("i", 10)
    await mem.set("f", 0.1)
    await mem.set("m", memoryview(b"mv"))
    await mem.set("ba", bytearray(b"ba"))
    assert await mem.mget("i", "f", "m", "ba") == [b"10", b"0.1", b"mv", b"ba"]
    with pytest.raises(Exception, match="Invalid input of type: 'NoneType'"):
        await mem.set("n", None)  # type: ignore[arg-type]


async def test_health_check_of_memory(mem: MemoryRedis) -> None:
    report = await check_redis(mem)
    assert report["backend"] == "memory"
    assert report["maxmemory_policy"] == "noeviction"
    assert report["warnings"] == []


def test_both_clients_have_every_protocol_method() -> None:
    # mypy checks the signatures (bottom of protocols.py); this guards the names at run time.
    names = [n for n in vars(KeyValueClient) if not n.startswith("_")]
    assert len(names) > 40
    for name in names:
        assert callable(getattr(MemoryRedis, name)), name
        assert callable(getattr(Redis, name)), name
        if name != "scan_iter":
            assert inspect.iscoroutinefunction(getattr(MemoryRedis, name)), name


def test_repr_names_the_store() -> None:
    assert repr(MemoryRedis.shared("app")) == "<MemoryRedis memory://app keys=0>"
