"""PoolManager under cancellation: no await of acquire, pre-ping, reset or release loses one.

Each test cancels a caller at one await point (or, in the sweeps, at every one in turn), lets the
pool's own tasks finish, and checks that every connection is back and idle. The last test does it
a thousand times at random and compares the server's own count of the pool's connections.
Nothing here asserts on elapsed time: waits are on events or the pool's tasks.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from mediz_infra.backends.postgres import PoolManager
from mediz_infra.backends.postgres.connection import TrackedConnection

pytestmark = pytest.mark.integration


async def _settled(pool: PoolManager) -> None:
    """Wait until the pool's own tasks (restores, connects, closes) have all finished."""
    while pool._tasks:
        await asyncio.wait(list(pool._tasks))
    await asyncio.sleep(0)  # done callbacks (an adopted connect) run on the next iteration


async def _all_idle(pool: PoolManager) -> None:
    await _settled(pool)
    stats = pool.stats()
    assert (stats.in_use, stats.waiting, stats.idle) == (0, 0, stats.size), stats
    assert pool._slots == stats.size  # no slot held by a connection that is gone


async def _until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition()`` holds (the other tasks make it true)."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never became true")


async def _cancel_after(coro: Awaitable[Any], steps: int) -> bool:
    """Run ``coro`` in a task, cancel it after ``steps`` loop iterations; True if cancelled."""
    task = asyncio.ensure_future(coro)
    for _ in range(steps):
        if task.done():
            break
        await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


@pytest.fixture
async def small(database_url: str) -> AsyncIterator[PoolManager]:
    async with PoolManager(database_url, min_size=1, max_size=2, acquire_timeout=10) as pool:
        yield pool


async def test_acquire_hands_out_the_connection_itself_and_guards_use_after_release(
    small: PoolManager,
) -> None:
    async with small.acquire() as con:
        assert isinstance(con, TrackedConnection) and isinstance(con, asyncpg.Connection)
        statement = await con.prepare("SELECT 1")
    with pytest.raises(asyncpg.InterfaceError, match="released back to the pool"):
        await con.fetchval("SELECT 1")
    with pytest.raises(asyncpg.InterfaceError, match="released back to the pool"):
        await statement.fetchval()
    assert await small.fetchval("SELECT 2") == 2  # the guard did not harm the connection
    await _all_idle(small)


async def test_cancelled_while_waiting_leaves_the_queue(small: PoolManager) -> None:
    release = asyncio.Event()
    holding = asyncio.Event()

    async def hold() -> None:
        async with small.acquire():
            if small.stats().in_use == 2:
                holding.set()
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await holding.wait()
    waiter = asyncio.create_task(small.fetchval("SELECT 1"))
    await _until(lambda: small.stats().waiting == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert small.stats().waiting == 0
    release.set()
    await asyncio.gather(*holders)
    await _all_idle(small)


async def test_a_waiter_cancelled_as_it_is_handed_a_connection_passes_it_on(
    small: PoolManager,
) -> None:
    first = await small.checkout()
    second = await small.checkout()
    cancelled = asyncio.create_task(small.fetchval("SELECT 1"))
    served = asyncio.create_task(small.fetchval("SELECT 2"))
    await _until(lambda: small.stats().waiting == 2)
    await small.release(first)  # handed straight to the first waiter...
    cancelled.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await served == 2  # the connection went on to the next in line
    await small.release(second)
    await _all_idle(small)


async def test_cancelled_while_opening_a_connection_keeps_it(database_url: str) -> None:
    async with PoolManager(database_url, min_size=0, max_size=1) as pool:
        opening = asyncio.create_task(pool.fetchval("SELECT 1"))
        await _until(lambda: bool(pool._tasks))  # the connect is under way in the pool's task
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        await _all_idle(pool)
        assert pool.stats().size == 1  # the new connection joined the free list
        assert await pool.fetchval("SELECT 3") == 3


async def test_cancelled_during_the_pre_ping(database_url: str) -> None:
    async with PoolManager(database_url, min_size=1, max_size=1, ping_after=1e-6) as pool:
        landed = 0
        original = pool._ping

        async def ping(con: TrackedConnection, budget: float) -> bool:
            nonlocal landed
            try:
                return await original(con, budget)
            except asyncio.CancelledError:
                landed += 1
                raise

        pool._ping = ping  # type: ignore[method-assign]
        for steps in range(12):  # cancel one loop iteration later each time
            await _cancel_after(pool.fetchval("SELECT 1"), steps)
            await _all_idle(pool)
            assert pool.stats().size == 1
            await asyncio.sleep(1e-5)  # idle past ping_after again
        assert landed, "no cancellation landed inside the pre-ping"
        assert await pool.fetchval("SELECT 4") == 4


async def test_cancelled_while_release_awaits_the_reset(database_url: str) -> None:
    async with PoolManager(database_url, min_size=1, max_size=1, application_name="clean") as pool:
        con = await pool.checkout()
        await con.execute("SET application_name = 'dirty'")
        releasing = asyncio.create_task(pool.release(con))
        await asyncio.sleep(0)  # now awaiting the shielded reset
        releasing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await releasing
        await _all_idle(pool)
        assert await pool.fetchval("SHOW application_name") == "clean"


async def test_cancelled_mid_query_inside_a_transaction(small: PoolManager) -> None:
    started = asyncio.Event()

    async def work() -> None:
        async with small.transaction() as con:
            started.set()
            await con.execute("SELECT pg_sleep(10)")

    task = asyncio.create_task(work())
    await started.wait()
    await asyncio.sleep(0.01)  # let the query reach the server (not an assertion)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _all_idle(small)
    async with small.acquire() as con:
        assert not con.is_in_transaction()
        assert await con.fetchval("SELECT 5") == 5


Op = Callable[[PoolManager], Awaitable[Any]]


async def _plain(pool: PoolManager) -> Any:
    return await pool.fetchval("SELECT 1")


async def _dirty(pool: PoolManager) -> Any:
    async with pool.acquire() as con:
        await con.execute("SET application_name = 'leaked'")
        return await con.fetchval("SELECT 1")


async def _transaction(pool: PoolManager) -> Any:
    async with pool.transaction() as con:
        return await con.fetchval("SELECT 1")


async def _abandoned(pool: PoolManager) -> Any:
    async with pool.acquire() as con:
        await con.execute("BEGIN")
        return await con.fetchval("SELECT 1")


async def _sleepy(pool: PoolManager) -> Any:
    async with pool.acquire() as con:
        return await con.fetchval("SELECT 1 FROM pg_sleep(0.001)")


OPS: tuple[Op, ...] = (_plain, _dirty, _transaction, _abandoned, _sleepy)


async def _server_count(database_url: str, application_name: str) -> int:
    con = await asyncpg.connect(database_url)
    try:
        return int(
            await con.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                application_name,
            )
        )
    finally:
        await con.close()


async def test_a_thousand_random_cancellations_lose_nothing(database_url: str) -> None:
    size = 4
    name = f"mz-cancel-{uuid.uuid4().hex[:8]}"
    rng = random.Random(20261205)
    loop = asyncio.get_running_loop()
    unexpected: list[dict[str, Any]] = []

    def on_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # asyncpg reports an abandoned transaction here (it is rolled back); nothing else may.
        if "active transaction" not in str(context.get("message")):
            unexpected.append(context)

    previous = loop.get_exception_handler()
    loop.set_exception_handler(on_error)
    try:
        async with PoolManager(
            database_url,
            min_size=size,
            max_size=size,
            application_name=name,
            ping_after=0.002,
            acquire_timeout=30,
            max_lifetime=0.1,  # recycled: reconnects too
        ) as pool:
            before = await _server_count(database_url, name)
            assert before == size
            cancellations = 0
            stop_at = time.monotonic() + 60  # a bound on the loop, not an assertion
            while cancellations < 1000 and time.monotonic() < stop_at:
                # more tasks than connections: some wait, some open, some ping, some reset
                tasks = [
                    asyncio.ensure_future(rng.choice(OPS)(pool))
                    for _ in range(rng.randint(1, 2 * size))
                ]
                for _ in range(rng.randint(0, 12)):
                    await asyncio.sleep(0)
                for task in tasks:
                    if rng.random() < 0.7:
                        task.cancel()
                results = await asyncio.gather(*tasks, return_exceptions=True)
                for result in results:
                    if isinstance(result, asyncio.CancelledError):
                        cancellations += 1
                    elif isinstance(result, BaseException):
                        raise result
            assert cancellations >= 1000, f"only {cancellations} cancellations in the time"
            await _all_idle(pool)
            # Bring the pool back to full size, then the server must see exactly its connections.
            held = [await pool.checkout() for _ in range(size)]
            for con in held:
                con._mz_expires = float("inf")  # not recycled at this release (max_lifetime=0.1)
                await pool.release(con)
            await _all_idle(pool)
            assert pool.stats().size == size
            deadline = time.monotonic() + 30
            after = await _server_count(database_url, name)
            while after != before and time.monotonic() < deadline:  # closed backends exit late
                await asyncio.sleep(0.05)
                after = await _server_count(database_url, name)
            assert after == before
            assert await pool.fetchval("SHOW application_name") == name
    finally:
        loop.set_exception_handler(previous)
    assert not unexpected, unexpected[:3]
