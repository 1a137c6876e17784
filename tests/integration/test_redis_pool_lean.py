"""The lean free-slot path of ``BoundedPool``, on the real Redis.

``BoundedPool`` hands out and takes back connections without redis-py's lock, observability
calls and release-event dispatch while those would do nothing. These tests pin what that path
must still do (readiness check, reconnect flag, re-authentication) and the redis-py internals it
reads to decide whether it may run; a redis-py upgrade that moves them fails here first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from redis.asyncio import Redis
from redis.event import AsyncAfterConnectionReleasedEvent

from mediz_infra.backends.redis import close_redis, create_redis
from mediz_infra.backends.redis import pool as _redis_pool
from mediz_infra.backends.redis.pool import BoundedPool
from mediz_infra.errors import PoolExhausted

pytestmark = pytest.mark.integration

LEAN = _redis_pool._lean_internals() is not None
"""Whether this redis-py is one the lean path knows; on others every test below checks that
redis-py's own path does the same things."""


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    made = create_redis(redis_url)
    assert isinstance(made, Redis)
    try:
        yield made
    finally:
        await close_redis(made)


def _pool(client: Redis) -> BoundedPool:
    pool = client.connection_pool
    assert isinstance(pool, BoundedPool)
    return pool


@pytest.mark.skipif(not LEAN, reason=f"redis-py {redis.__version__}: the lean path is off")
def test_redis_py_internals_the_lean_path_reads() -> None:
    """The defaults the pool checks: observability off, one re-auth listener on release."""
    internals = _redis_pool._lean_internals()
    assert internals is not None
    released, reauth, collector = internals
    assert collector() is None
    pool = BoundedPool(max_connections=2, timeout=1)
    listeners = pool._event_dispatcher._event_listeners_mapping[released]
    assert [type(listener) for listener in listeners] == [reauth]
    # the states in which redis-py works on the pool itself and the lean path steps aside
    assert isinstance(pool._lock, asyncio.Lock)
    assert pool._in_maintenance is False
    assert _redis_pool.lean_path_usable(pool) is True


def test_the_lean_path_is_off_on_a_release_it_does_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_redis_pool, "_release", lambda: (9, 0))
    _redis_pool._lean_internals.cache_clear()
    try:
        assert _redis_pool.lean_path_usable(BoundedPool(max_connections=2, timeout=1)) is False
    finally:
        monkeypatch.undo()
        _redis_pool._lean_internals.cache_clear()


async def test_a_pool_missing_an_internal_takes_the_public_path(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on redis-py 8.0, whose pool has no ``_in_maintenance``: commands still work."""
    monkeypatch.setattr(
        _redis_pool, "_LEAN_POOL_ATTRIBUTES", (*_redis_pool._LEAN_POOL_ATTRIBUTES, "_no_such")
    )
    client = create_redis(redis_url, max_connections=2, timeout=1)
    assert isinstance(client, Redis)
    try:
        key = f"lean-{uuid.uuid4().hex}"
        for _ in range(3):  # the second command is the one that broke on redis-py 8.0
            await client.set(key, b"v")
            assert await client.get(key) == b"v"
        pool = _pool(client)
        assert pool._lean is False
        assert len(pool._available_connections) == 1
        await client.delete(key)
    finally:
        await close_redis(client)


async def test_default_pool_takes_the_lean_path(client: Redis) -> None:
    key = f"lean-{uuid.uuid4().hex}"
    await client.set(key, b"v")
    assert await client.get(key) == b"v"
    pool = _pool(client)
    assert pool._lean is LEAN
    assert len(pool._available_connections) == 1
    assert not pool._in_use_connections
    await client.delete(key)


async def test_the_lean_path_still_runs_the_readiness_check(
    client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py's ``ensure_connection`` (connect, pending-data check) runs on every hand-out."""
    await client.ping()
    pool = _pool(client)
    checked: list[object] = []
    original = pool.ensure_connection

    async def ensure_connection(connection: Any) -> None:
        checked.append(connection)
        await original(connection)

    monkeypatch.setattr(pool, "ensure_connection", ensure_connection)
    assert await client.ping() is True
    assert pool._lean is LEAN
    assert len(checked) == 1


async def test_a_connection_marked_for_reconnect_is_disconnected_on_release(
    client: Redis,
) -> None:
    await client.ping()
    pool = _pool(client)
    connection = await pool.get_connection()
    assert connection.is_connected
    connection.mark_for_reconnect()
    await pool.release(connection)
    assert not connection.is_connected
    assert await client.ping() is True  # reconnects on next use


async def test_release_re_authenticates(client: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    await client.ping()
    pool = _pool(client)
    connection = await pool.get_connection()
    calls: list[Any] = []

    async def re_auth() -> None:
        calls.append(connection)

    monkeypatch.setattr(connection, "re_auth", re_auth)
    await pool.release(connection)
    assert pool._lean is LEAN
    assert calls == [connection]


@pytest.mark.skipif(
    not LEAN,
    reason=f"redis-py {redis.__version__}'s own release uncounts a connection before it is "
    "disconnected (one extra connection may open meanwhile); only the lean path holds this",
)
async def test_a_release_that_reconnects_keeps_the_pool_bounded(redis_url: str) -> None:
    """While a released connection is being disconnected it still counts against the limit."""
    client = create_redis(redis_url, max_connections=2, timeout=0.2)
    assert isinstance(client, Redis)
    pool = _pool(client)
    held: list[Any] = []
    try:
        await client.ping()
        a, b = await pool.get_connection(), await pool.get_connection()  # 2 of 2 in use
        held.append(b)
        assert pool._lean is LEAN
        a.mark_for_reconnect()  # as after a failover (drop_stale)
        releasing = asyncio.create_task(pool.release(a))
        await asyncio.sleep(0)  # the release is awaiting a.disconnect()
        held.append(await pool.get_connection())  # waits for a, never opens a third
        await releasing
        assert len(pool._in_use_connections) + len(pool._available_connections) <= 2
        with pytest.raises(PoolExhausted):
            await pool.get_connection()
    finally:
        for connection in held:
            await pool.release(connection)
        await close_redis(client)


async def test_while_redis_py_holds_the_pool_lock_the_lean_path_steps_aside(
    client: Redis,
) -> None:
    """redis-py re-authenticates idle connections under the pool's lock: no hand-out meanwhile."""
    await client.ping()
    pool = _pool(client)
    async with pool._lock:
        getting = asyncio.create_task(client.ping())
        await asyncio.sleep(0.02)
        assert not getting.done()  # queued behind the lock, as in redis-py's own pool
    assert await getting is True


async def test_an_extra_release_listener_turns_the_lean_path_off(redis_url: str) -> None:
    """A user's own release listener is still called: the pool falls back to redis-py's path."""
    seen: list[object] = []

    class Listener:
        async def listen(self, event: AsyncAfterConnectionReleasedEvent) -> None:
            seen.append(event.connection)

    client = create_redis(redis_url)
    assert isinstance(client, Redis)
    try:
        pool = _pool(client)
        pool._event_dispatcher.register_listeners(
            {AsyncAfterConnectionReleasedEvent: [Listener()]}  # type: ignore[list-item]
        )
        await client.ping()
        await client.ping()
        assert pool._lean is False
        assert len(seen) == 2
    finally:
        await close_redis(client)
