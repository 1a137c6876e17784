"""A separate process for the cache's cross-process tests: ``python -m ... <mode> <url> <prefix>``.

Modes:
- ``stampede N``: wait for the start key, fire N concurrent calls of a slow function whose body
  counts its executions in Redis (``{prefix}:calls``); print the results.
- ``swr``: one call of a stale-while-revalidate function, print it, then wait for the refresh.
- ``tags``: print a tagged value, wait until told, print it again.
- ``l1``: with an L1: print a value once it is served from the L1; then twice: wait until
  told (``{prefix}:again1``, ``again2``), read until the value changes (5 s at most), print.
- ``load S``: wait for the go key, then call a stale-while-revalidate function (ttl 0.2 s)
  every few ms for S seconds. Its body counts in ``{prefix}:early`` every run that starts
  while a fresh value is stored (a refresh nobody needed); print the statistics.
- ``fastslow N``: with the decorator's default lock, call a function 20 times on other keys
  while it is instant, then wait for the go key and fire N concurrent calls on key 1, where
  it has turned slow (0.3 s); its body runs are counted in ``{prefix}:calls:1``.
- ``read``: wait for the go key, say so (``{prefix}:reading``), print one locked read of
  ``race:1``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import redis.asyncio as aioredis

from mediz_infra.cache import Cache


async def _wait_for(client: aioredis.Redis, key: str, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while not await client.exists(key):
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {key}")
        await asyncio.sleep(0.005)


async def main(mode: str, url: str, prefix: str, arg: str) -> None:
    raw = aioredis.Redis.from_url(url)
    cache = Cache(url, prefix=prefix, timeout=2.0)

    async def body(x: int) -> dict[str, int]:
        await raw.incr(f"{prefix}:calls")
        await asyncio.sleep(float(arg) if mode == "swr" else 0.3)
        return {"x": x, "n": int(await raw.get(f"{prefix}:calls") or 0)}

    try:
        if mode == "stampede":
            fn = cache(ttl=60, key="stampede:{x}")(body)
            await _wait_for(raw, f"{prefix}:go")
            results = await asyncio.gather(*(fn(1) for _ in range(int(arg))))
            print(json.dumps({"results": results, "stats": fn.statistics.as_dict()}))
        elif mode == "swr":
            fn = cache(ttl=0.3, stale_ttl=60, key="swr:{x}")(body)
            print(json.dumps(await fn(1)), flush=True)
            end = time.monotonic() + 10
            while fn.refreshing and time.monotonic() < end:  # noqa: ASYNC110 - polls a set
                await asyncio.sleep(0.01)
        elif mode == "load":

            async def refreshed(x: int) -> int:
                stored = await raw.get(key)
                if stored is not None and int(stored.split(b"|")[1]) > time.time() * 1000:
                    await raw.incr(f"{prefix}:early")
                await raw.incr(f"{prefix}:calls")
                await asyncio.sleep(0.05)
                return x

            fn = cache(ttl=0.2, stale_ttl=60, key="load:{x}")(refreshed)
            key = fn.key_for((1,), {})
            await _wait_for(raw, f"{prefix}:go")
            end = time.monotonic() + float(arg)
            while time.monotonic() < end:
                await fn(1)
                await asyncio.sleep(0.003)
            end = time.monotonic() + 10
            while fn.refreshing and time.monotonic() < end:  # noqa: ASYNC110 - polls a set
                await asyncio.sleep(0.01)
            print(json.dumps(fn.statistics.as_dict()), flush=True)
        elif mode == "fastslow":

            async def query(x: int) -> int:
                if x == 1:  # key 1 is only called once the database is under load
                    await raw.incr(f"{prefix}:calls:{x}")
                    await asyncio.sleep(0.3)
                return x  # the other keys: instant (microseconds)

            fn = cache(ttl=60, key="fastslow:{x}")(query)
            for x in range(100, 120):
                await fn(x)
            await raw.incr(f"{prefix}:ready")
            await _wait_for(raw, f"{prefix}:go")
            results = await asyncio.gather(*(fn(1) for _ in range(int(arg))))
            print(json.dumps({"results": results}), flush=True)
        elif mode == "l1":
            l1_cache = Cache(url, prefix=prefix, timeout=2.0, l1_size=100, l1_ttl=60)
            try:
                fn = l1_cache(ttl=60, key="l1:{x}", tags=["t"])(body)
                seen = await fn(1)
                end = time.monotonic() + 10
                while fn.statistics.l1_hits == 0 and time.monotonic() < end:
                    seen = await fn(1)  # once the feed is live, a read fills the L1
                    await asyncio.sleep(0.01)
                print(json.dumps(seen), flush=True)
                for step in ("again1", "again2"):
                    await _wait_for(raw, f"{prefix}:{step}")
                    end = time.monotonic() + 5
                    now = await fn(1)
                    while now == seen and time.monotonic() < end:
                        await asyncio.sleep(0.01)
                        now = await fn(1)
                    seen = now
                    print(json.dumps(now), flush=True)
            finally:
                await l1_cache.close()
        elif mode == "read":
            fn = cache(ttl=60, key="race:{x}", lock=True)(body)
            await _wait_for(raw, f"{prefix}:go")
            await raw.set(f"{prefix}:reading", 1, ex=60)
            print(json.dumps(await fn(1)), flush=True)
        elif mode == "tags":
            fn = cache(ttl=60, key="tagged:{x}", tags=["symptoms"])(body)
            print(json.dumps(await fn(1)), flush=True)
            await _wait_for(raw, f"{prefix}:again")
            print(json.dumps(await fn(1)), flush=True)
    finally:
        await cache.close()
        await raw.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
