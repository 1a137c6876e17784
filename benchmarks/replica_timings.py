"""``python -m benchmarks.replica_timings``: how ``pool.read()`` behaves when a replica fails.

Starts a throwaway primary and a streaming hot standby (``pg_basebackup -R``) on free loopback
ports (the test suite's servers: run it from the repository root, with ``initdb`` on PATH or in
the usual Debian place), breaks the standby in each of the ways ``docs/connections/postgres.md``
lists (a silent listener, ``SIGSTOP``, stopped, replay paused) and prints what reads took.
One run, printed; the figures in the docs come from it. Not part of ``python -m benchmarks``:
it measures failure handling, not speed against peers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from mediz_infra import PoolManager
from tests._servers import PostgresServer, counting_silent_server


async def _on_standby(pool: PoolManager, timeout: float | None = None) -> bool:
    async with pool.read(timeout=timeout) as con:
        return bool(await con.fetchval("SELECT pg_is_in_recovery()"))


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def _reads(pool: PoolManager, n: int = 200) -> str:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        await _on_standby(pool)
        took.append(time.perf_counter() - started)
    return f"{n} reads p50 {_p(took, 0.5):.2f} ms, p99 {_p(took, 0.99):.2f} ms"


def _forget_outages(pool: PoolManager) -> None:
    """As if the start-up check had passed: the next read meets the replica itself."""
    for outage in pool.replicas._outages:  # type: ignore[union-attr]
        outage.reset()


async def _until(predicate: Any) -> float:
    started = time.perf_counter()
    for _ in range(10_000):
        if await predicate():
            break
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def _silent(primary: PostgresServer) -> None:
    async with counting_silent_server() as (port, _):
        started = time.perf_counter()
        pool = PoolManager(primary.url, replicas=[f"postgresql://app@127.0.0.1:{port}/app"])
        await pool.start()
        print(f"silent replica: start() took {time.perf_counter() - started:.2f} s")
        print(f"silent replica, down since start: {await _reads(pool)}")
        _forget_outages(pool)
        started = time.perf_counter()
        await _on_standby(pool)
        took = time.perf_counter() - started
        print(f"silent replica, the first read that meets it: {took:.2f} s")
        print(f"silent replica, after that read: {await _reads(pool)}")
        _forget_outages(pool)
        started = time.perf_counter()
        await _on_standby(pool, timeout=0.5)
        print(f"silent replica, read(timeout=0.5): {time.perf_counter() - started:.2f} s")
        await pool.close()


async def _frozen(primary: PostgresServer, standby: PostgresServer) -> None:
    async with PoolManager(primary.url, replicas=[standby.url]) as pool:
        assert await _on_standby(pool)
        standby.freeze()
        frozen_at = time.perf_counter()
        longest, moved = 0.0, float("nan")
        try:
            for _ in range(100):
                started = time.perf_counter()
                try:
                    served: object = await _on_standby(pool)
                except TimeoutError as exc:
                    served = exc
                longest = max(longest, time.perf_counter() - started)
                if served is False:
                    moved = time.perf_counter() - frozen_at
                    break
        finally:
            standby.thaw()
        print(f"standby frozen: longest read {longest:.2f} s; on the primary after {moved:.2f} s")

        async def back() -> bool:
            return await _on_standby(pool)

        print(f"standby thawed: back on it after {await _until(back):.2f} s")


async def _stopped(primary: PostgresServer, standby: PostgresServer) -> None:
    async with PoolManager(primary.url, replicas=[standby.url]) as pool:
        assert await _on_standby(pool)
        await asyncio.to_thread(standby.stop)
        took = []
        for _ in range(5):
            started = time.perf_counter()
            await _on_standby(pool)
            took.append((time.perf_counter() - started) * 1000)
        print("standby stopped: reads took " + ", ".join(f"{t:.1f}" for t in took) + " ms")
        await asyncio.to_thread(standby.start)

        async def back() -> bool:
            return await _on_standby(pool)

        print(f"standby restarted: back on it after {await _until(back):.2f} s")


async def _paused(primary: PostgresServer, standby: PostgresServer) -> None:
    writer_con = await asyncpg.connect(primary.url)
    control = await asyncpg.connect(standby.url)
    writing = True

    async def write() -> None:
        while writing:
            await writer_con.execute("INSERT INTO mz_timings (v) VALUES (0)")
            await asyncio.sleep(0.05)

    writer = asyncio.ensure_future(write())
    try:
        async with PoolManager(primary.url, replicas=[standby.url], max_lag=1.0) as pool:
            await asyncio.sleep(2.0)
            await control.execute("SELECT pg_wal_replay_pause()")

            async def on_primary() -> bool:
                return not await _on_standby(pool)

            moved = await _until(on_primary)
            print(f"replay paused, max_lag=1: reads on the primary after {moved:.2f} s")
            await control.execute("SELECT pg_wal_replay_resume()")

            async def back() -> bool:
                return await _on_standby(pool)

            print(f"replay resumed: back on the standby after {await _until(back):.2f} s")
    finally:
        writing = False
        await writer
        await control.close()
        await writer_con.close()


async def _tokens(primary: PostgresServer, standby: PostgresServer) -> None:
    async with PoolManager(primary.url, replicas=[standby.url]) as pool:
        seen = from_standby = 0
        took = []
        for n in range(200):
            async with pool.transaction() as con:
                row = await con.fetchval("INSERT INTO mz_timings (v) VALUES ($1) RETURNING id", n)
            token = await pool.position()
            started = time.perf_counter()
            async with pool.read(after=token) as con:
                seen += await con.fetchval("SELECT v FROM mz_timings WHERE id = $1", row) == n
                from_standby += bool(await con.fetchval("SELECT pg_is_in_recovery()"))
            took.append(time.perf_counter() - started)
        print(
            f"read your writes: {seen}/200 saw their write, {from_standby} from the standby; "
            f"read(after=) p50 {_p(took, 0.5):.2f} ms, p99 {_p(took, 0.99):.2f} ms"
        )


async def main() -> None:
    primary = PostgresServer().start()
    standby = primary.standby()
    try:
        setup = await asyncpg.connect(primary.url)
        await setup.execute("CREATE TABLE mz_timings (id serial PRIMARY KEY, v int)")
        await setup.close()
        async with PoolManager(primary.url) as alone:
            print(f"primary alone: {await _reads(alone)}")
        await _silent(primary)
        await _frozen(primary, standby)
        await _stopped(primary, standby)
        await _paused(primary, standby)
        await _tokens(primary, standby)
    finally:
        standby.cleanup()
        primary.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
