"""One process of the 4-process stampede: ``python -m benchmarks._cache_worker``.

Arguments: contender name, Redis URL, key prefix, stampede number, calls. The process builds the
contender, marks itself ready (``INCR {prefix}:ready``), waits for ``{prefix}:go:{n}``, fires the
calls concurrently and exits; executions are counted in ``{prefix}:calls:{n}``.
"""

from __future__ import annotations

import asyncio
import sys
import time

import redis.asyncio as aioredis

from benchmarks._cache_peers import build


async def main(name: str, url: str, prefix: str, number: str, calls: str) -> None:
    raw = aioredis.Redis.from_url(url)

    async def on_call() -> None:
        await raw.incr(f"{prefix}:calls:{number}")

    contender = build(name, url, prefix, on_call)
    try:
        await raw.incr(f"{prefix}:ready:{number}")
        deadline = time.monotonic() + 30
        while not await raw.exists(f"{prefix}:go:{number}"):
            if time.monotonic() > deadline:
                raise SystemExit("no go signal within 30 s")
            await asyncio.sleep(0.002)
        await asyncio.gather(*(contender.slow(int(number)) for _ in range(int(calls))))
    finally:
        await contender.close()
        await raw.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
