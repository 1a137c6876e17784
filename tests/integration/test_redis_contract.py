"""The commands components rely on, through a ``create_redis`` client, on the real Redis.

The ``redis_url`` fixture's database (never 0) is flushed before and after each test. What is
checked is that the bounded pool, the retry loop and the options ``create_redis`` sets hand the
server's answers back unchanged, one client or several, sequential or concurrent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.exceptions import DataError, ResponseError

from mediz_infra.backends.redis import RedisClient, close_redis, create_redis

pytestmark = pytest.mark.integration

Factory = Callable[..., RedisClient]


@pytest.fixture
async def make(redis_url: str) -> AsyncIterator[Factory]:
    """Build clients (options as keywords); the database is flushed and clients closed after."""
    url = redis_url
    if urlsplit(url).path.strip("/") in ("", "0"):
        pytest.fail(f"refusing to flush database 0 of {url}: use a test database like /15")
    clients = [create_redis(url)]

    def factory(**options: Any) -> RedisClient:
        clients.append(create_redis(url, **options))
        return clients[-1]

    await clients[0].flushdb()
    try:
        yield factory
    finally:
        await clients[0].flushdb()
        for client in clients:
            await close_redis(client)


@pytest.fixture
def kv(make: Factory) -> RedisClient:
    return make()


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"condition not met within {within} s"
        await asyncio.sleep(0.01)


# -- strings and keys -------------------------------------------------------------------


async def test_get_and_set_round_trip_bytes(kv: RedisClient) -> None:
    assert await kv.get("missing") is None
    assert await kv.set("k", "välue") is True
    assert await kv.get("k") == "välue".encode()
    await kv.set("n", 5)
    await kv.set("f", 1.5)
    await kv.set("b", b"\x00\xff")
    assert await kv.mget(["n", "f", "b", "missing"]) == [b"5", b"1.5", b"\x00\xff", None]


async def test_set_conditions_and_get_option(kv: RedisClient) -> None:
    assert await kv.set("k", "1", nx=True) is True
    assert await kv.set("k", "2", nx=True) is None
    assert await kv.set("missing", "x", xx=True) is None
    assert await kv.set("k", "3", xx=True) is True
    assert await kv.set("k", "4", get=True) == b"3"
    assert await kv.set("k", "5", nx=True, get=True) == b"4"
    assert await kv.get("k") == b"4"
    assert await kv.exists("missing") == 0


async def test_refused_values_and_options(kv: RedisClient) -> None:
    with pytest.raises(DataError):
        await kv.set("k", True)
    with pytest.raises(DataError):
        await kv.set("k", "v", nx=True, xx=True)
    with pytest.raises(ResponseError, match="invalid expire time"):
        await kv.set("k", "v", ex=0)


async def test_mget_skips_other_types(kv: RedisClient) -> None:
    await kv.set("s", "1")
    await kv.sadd("set", "a")
    assert await kv.mget("s", "set", "nope") == [b"1", None, None]


async def test_delete_and_exists_count(kv: RedisClient) -> None:
    await kv.set("a", "1")
    await kv.hset("h", "f", "v")
    assert await kv.exists("a", "a", "h", "missing") == 3
    assert await kv.delete("a", "h", "missing") == 2
    assert await kv.exists("a", "h") == 0


async def test_counters(kv: RedisClient) -> None:
    assert await kv.incr("c") == 1
    assert await kv.incrby("c", 10) == 11
    assert await kv.decr("c") == 10
    assert await kv.decrby("c", 4) == 6
    assert await kv.incr("c", -7) == -1
    assert await kv.get("c") == b"-1"
    await kv.set("f", "1.5")
    with pytest.raises(ResponseError, match="not an integer"):
        await kv.incr("f")
    await kv.set("big", str(2**63 - 1))
    with pytest.raises(ResponseError, match="overflow"):
        await kv.incr("big")


async def test_wrong_type_is_refused(kv: RedisClient) -> None:
    await kv.hset("h", "f", "v")
    for call in (kv.get("h"), kv.incr("h"), kv.sadd("h", "x"), kv.lpush("h", "x")):
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await call
    await kv.set("h", "now a string")  # SET replaces any type
    assert await kv.get("h") == b"now a string"


# -- expiry -----------------------------------------------------------------------------


async def test_ttl_and_persist(kv: RedisClient) -> None:
    assert await kv.ttl("missing") == -2
    assert await kv.pttl("missing") == -2
    await kv.set("k", "v")
    assert await kv.ttl("k") == -1
    await kv.set("k", "v", ex=10)
    assert 9 <= await kv.ttl("k") <= 10
    assert 9000 < await kv.pttl("k") <= 10000
    assert await kv.persist("k") is True
    assert await kv.persist("k") is False
    assert await kv.ttl("k") == -1
    await kv.set("k", "v", px=timedelta(seconds=20))
    assert 19 <= await kv.ttl("k") <= 20


async def test_set_clears_or_keeps_ttl(kv: RedisClient) -> None:
    await kv.set("k", "v", ex=100)
    await kv.set("k", "w", keepttl=True)
    assert await kv.ttl("k") > 90
    await kv.set("k", "x")
    assert await kv.ttl("k") == -1


async def test_expire_conditions(kv: RedisClient) -> None:
    assert await kv.expire("missing", 10) is False
    await kv.set("k", "v")
    assert await kv.expire("k", 100, xx=True) is False
    assert await kv.expire("k", 100, gt=True) is False  # no TTL counts as infinite
    assert await kv.expire("k", 100, nx=True) is True
    assert await kv.expire("k", 50, nx=True) is False
    assert await kv.expire("k", 50, gt=True) is False
    assert await kv.expire("k", 200, gt=True) is True
    assert await kv.expire("k", 20, lt=True) is True
    assert 19 <= await kv.ttl("k") <= 20
    assert await kv.pexpire("k", 30_000) is True
    assert 29 <= await kv.ttl("k") <= 30
    assert await kv.expire("k", timedelta(seconds=40)) is True
    assert 39 <= await kv.ttl("k") <= 40


async def test_expire_in_the_past_deletes(kv: RedisClient) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", 0) is True
    assert await kv.exists("k") == 0


async def test_keys_expire(kv: RedisClient) -> None:
    await kv.set("k", "v", px=50)
    await kv.hset("h", "f", "v")
    await kv.pexpire("h", 50)

    async def gone() -> bool:
        return await kv.exists("k", "h") == 0

    await eventually(gone)
    assert await kv.get("k") is None
    assert await kv.hgetall("h") == {}


# -- hashes -----------------------------------------------------------------------------


async def test_hashes(kv: RedisClient) -> None:
    assert await kv.hset("h", "a", "1") == 1
    assert await kv.hset("h", mapping={"a": "2", "b": 3}) == 1
    assert await kv.hget("h", "a") == b"2"
    assert await kv.hget("h", "missing") is None
    assert await kv.hget("missing", "a") is None
    assert await kv.hgetall("h") == {b"a": b"2", b"b": b"3"}
    assert await kv.hincrby("h", "b", 4) == 7
    assert await kv.hincrby("h", "new") == 1
    assert await kv.hdel("h", "a", "missing") == 1
    assert await kv.hdel("h", "b", "new") == 2
    assert await kv.exists("h") == 0  # an emptied hash is deleted
    with pytest.raises(DataError):
        await kv.hset("h")
    await kv.hset("h", "text", "x")
    with pytest.raises(ResponseError, match="not an integer"):
        await kv.hincrby("h", "text")


# -- sets -------------------------------------------------------------------------------


async def test_sets(kv: RedisClient) -> None:
    assert await kv.sadd("s", "a", "b", "a") == 2
    assert await kv.sadd("s", "b", "c") == 1
    assert await kv.smembers("s") == {b"a", b"b", b"c"}
    assert await kv.sismember("s", "a") == 1
    assert await kv.sismember("s", "z") == 0
    assert await kv.sismember("missing", "a") == 0
    assert await kv.scard("s") == 3
    assert await kv.srem("s", "a", "z") == 1
    assert await kv.srem("s", "b", "c") == 2
    assert await kv.exists("s") == 0
    assert await kv.smembers("s") == set()


# -- sorted sets ------------------------------------------------------------------------


async def test_zadd_options(kv: RedisClient) -> None:
    assert await kv.zadd("z", {"a": 1, "b": 2}) == 2
    assert await kv.zadd("z", {"a": 5, "c": 3}) == 1
    assert await kv.zadd("z", {"a": 6, "d": 1}, ch=True) == 2
    assert await kv.zadd("z", {"a": 100, "e": 1}, nx=True) == 1
    assert await kv.zadd("z", {"a": 7, "f": 1}, xx=True) == 0
    assert await kv.zscore("z", "a") == 7.0
    assert await kv.zscore("z", "f") is None
    assert await kv.zadd("z", {"a": 1}, gt=True) == 0
    assert await kv.zscore("z", "a") == 7.0
    assert await kv.zadd("z", {"a": 2}, lt=True, ch=True) == 1
    assert await kv.zadd("z", {"a": 0.5}, incr=True) == 2.5
    assert await kv.zadd("missing", {"a": 1}, xx=True, incr=True) is None
    with pytest.raises(DataError):
        await kv.zadd("z", {"a": 1}, nx=True, xx=True)


async def test_zrange(kv: RedisClient) -> None:
    await kv.zadd("z", {"c": 2, "b": 2, "a": 3, "d": -1.5})
    assert await kv.zrange("z", 0, -1) == [b"d", b"b", b"c", b"a"]
    assert await kv.zrange("z", 1, 2) == [b"b", b"c"]
    assert await kv.zrange("z", -2, 100) == [b"c", b"a"]
    assert await kv.zrange("z", 5, 10) == []
    assert await kv.zrange("z", 0, 1, desc=True) == [b"a", b"c"]
    assert await kv.zrange("z", 0, 0, withscores=True) == [(b"d", -1.5)]
    assert await kv.zrange("missing", 0, -1) == []
    assert await kv.zcard("z") == 4


async def test_zrangebyscore_and_removal(kv: RedisClient) -> None:
    await kv.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert await kv.zrangebyscore("z", 2, 3) == [b"b", b"c"]
    assert await kv.zrangebyscore("z", "(2", "+inf") == [b"c", b"d"]
    assert await kv.zrangebyscore("z", "-inf", "(3", withscores=True) == [(b"a", 1.0), (b"b", 2.0)]
    assert await kv.zrangebyscore("z", "-inf", "+inf", start=1, num=2) == [b"b", b"c"]
    assert await kv.zremrangebyscore("z", "(1", 3) == 2
    assert await kv.zrange("z", 0, -1) == [b"a", b"d"]
    assert await kv.zrem("z", "a", "missing") == 1
    assert await kv.zremrangebyscore("z", "-inf", "+inf") == 1
    assert await kv.exists("z") == 0


# -- lists ------------------------------------------------------------------------------


async def test_lists(kv: RedisClient) -> None:
    assert await kv.rpush("l", "a", "b") == 2
    assert await kv.lpush("l", "c", "d") == 4
    assert await kv.lrange("l", 0, -1) == [b"d", b"c", b"a", b"b"]
    assert await kv.lrange("l", -2, -1) == [b"a", b"b"]
    assert await kv.lrange("l", 1, 100) == [b"c", b"a", b"b"]
    assert await kv.llen("l") == 4
    assert await kv.lpop("l") == b"d"
    assert await kv.rpop("l") == b"b"
    assert await kv.lpop("l", 5) == [b"c", b"a"]
    assert await kv.exists("l") == 0
    assert await kv.lpop("l") is None
    assert await kv.lpop("l", 2) is None
    assert await kv.llen("l") == 0


async def test_blocking_pops(make: Factory) -> None:
    kv = make(socket_timeout=5)
    await kv.rpush("q2", "x", "y")
    assert await kv.blpop(["q1", "q2"], 1) == (b"q2", b"x")
    assert await kv.brpop("q2", 1) == (b"q2", b"y")
    started = time.monotonic()
    assert await kv.blpop(["q1"], 0.1) is None
    assert time.monotonic() - started < 2

    pusher = make()
    waiter = asyncio.ensure_future(kv.blpop(["q1"], 3))
    await asyncio.sleep(0.05)  # let the BLPOP reach the server before the push
    await pusher.rpush("q1", "late")
    assert await asyncio.wait_for(waiter, 3) == (b"q1", b"late")


# -- keyspace and server ----------------------------------------------------------------


async def test_scan_iter_matches_redis_globs(kv: RedisClient) -> None:
    for key in ("user:1", "user:2", "user:10", "users", "job:a", "x*y", "xay"):
        await kv.set(key, "v")
    await kv.sadd("user:set", "m")

    async def scan(match: str | None = None, _type: str | None = None) -> set[Any]:
        return {key async for key in kv.scan_iter(match=match, _type=_type)}

    assert await scan("user:?") == {b"user:1", b"user:2"}
    assert await scan("user:*") == {b"user:1", b"user:2", b"user:10", b"user:set"}
    assert await scan("user:[13]*") == {b"user:1", b"user:10"}
    assert await scan("user:[^1]") == {b"user:2"}
    assert await scan("x\\*y") == {b"x*y"}
    assert await scan("user:*", _type="set") == {b"user:set"}
    assert len(await scan()) == 8


async def test_decode_responses(make: Factory) -> None:
    kv = make(decode_responses=True)
    await kv.set("k", "välue")
    await kv.hset("h", "f", "v")
    await kv.rpush("l", "a")
    await kv.zadd("z", {"m": 1})
    assert await kv.get("k") == "välue"
    assert await kv.hgetall("h") == {"f": "v"}
    assert await kv.lrange("l", 0, -1) == ["a"]
    assert await kv.zrange("z", 0, -1, withscores=True) == [("m", 1.0)]
    assert {key async for key in kv.scan_iter(match="k")} == {"k"}


async def test_server_commands(kv: RedisClient) -> None:
    assert await kv.ping() is True
    info = await kv.info()
    assert "redis_version" in info
    config = await kv.config_get("maxmemory-policy")
    assert list(config) == ["maxmemory-policy"]
    assert await kv.publish("channel", "nobody listens") == 0
    await kv.set("k", "v")
    assert await kv.flushdb() is True
    assert await kv.exists("k") == 0


async def test_concurrent_increments_are_atomic(kv: RedisClient) -> None:
    await asyncio.gather(*(kv.incr("c") for _ in range(200)))
    assert await kv.get("c") == b"200"
