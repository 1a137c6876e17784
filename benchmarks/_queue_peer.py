"""The peers of the ``queue`` benchmark: arq, saq and bullmq, each set up its documented best way.

Imported by ``benchmarks/queue.py`` for bullmq (it installs beside our redis-py), and run as a
script (``python benchmarks/_queue_peer.py``) in a separate venv for arq and saq, whose pins of
redis-py (arq: <6, saq[redis]: <8) cannot coexist with ours (>=8): the script reads one JSON
command per line on stdin and answers one JSON line on stdout. It imports nothing of
mediz-infra, so it runs in that venv.

Every measurement is bounded: ``n`` jobs, and a drain or a latency run gives up (and reports an
error) after :data:`LIMIT_S` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ENQUEUE_CONCURRENCY", "LIMIT_S", "run"]

#: Peers without a bulk API enqueue from this many concurrent callers (their fastest way).
ENQUEUE_CONCURRENCY = 50
#: Jobs per bulk call (ours and bullmq's addBulk).
BULK = 1000
LIMIT_S = 120.0


class _Counter:
    """Counts the no-op jobs that ran; records pickup latencies; wakes the waiter at ``n``."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = asyncio.Event()
        self.latencies: list[float] = []

    def reset(self, target: int) -> None:
        self.count, self.target, self.latencies = 0, target, []
        self.done = asyncio.Event()

    def hit(self, sent: float) -> None:
        if sent:
            self.latencies.append(time.perf_counter() - sent)
        self.count += 1
        if self.count >= self.target:
            self.done.set()


COUNTER = _Counter()


async def _concurrently(n: int, one: Callable[[int], Awaitable[Any]]) -> None:
    nxt = 0

    async def caller() -> None:
        nonlocal nxt
        while nxt < n:
            i = nxt
            nxt += 1
            await one(i)

    await asyncio.gather(*(caller() for _ in range(ENQUEUE_CONCURRENCY)))


async def _steady(n: int, rate: float, one: Callable[[float], Awaitable[Any]]) -> None:
    """Enqueue ``n`` jobs at ``rate`` per second, each carrying its send time."""
    start = time.perf_counter()
    for i in range(n):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        await one(time.perf_counter())


async def _wait_all(what: str) -> None:
    try:
        await asyncio.wait_for(COUNTER.done.wait(), LIMIT_S)
    except TimeoutError:
        raise RuntimeError(
            f"{what}: {COUNTER.count} of {COUNTER.target} jobs ran in {LIMIT_S} s"
        ) from None


def _verify(what: str, n: int, completed: int) -> None:
    """Every job ran and the library counts it complete; a job run twice (at-least-once) is
    reported on stderr, not a failure."""
    if COUNTER.count < n or completed < n:
        raise RuntimeError(f"{what}: ran {COUNTER.count}, library counts {completed}, want {n}")
    if COUNTER.count > n or completed > n:
        print(
            f"[queue] {what}: {COUNTER.count - n} job(s) ran twice (library count {completed})",
            file=sys.stderr,
            flush=True,
        )


# --------------------------------------------------------------------------- arq


async def _arq(op: str, n: int, c: int, url: str, qname: str, rate: float) -> dict[str, Any]:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    async def noop(ctx: dict[str, Any], sent: float = 0.0) -> None:
        COUNTER.hit(sent)

    settings = RedisSettings.from_dsn(url)
    pool = await create_pool(settings, default_queue_name=qname)

    def worker() -> Worker:
        # max_jobs = the concurrency; poll_delay 1 ms (default 0.5 s: arq polls its queue
        # sorted set, so a short delay is its best drain rate and pickup latency)
        return Worker(
            functions=[func(noop, name="noop")],
            redis_settings=settings,
            queue_name=qname,
            max_jobs=c,
            poll_delay=0.001,
            handle_signals=False,
        )

    try:
        if op == "enqueue":
            t0 = time.perf_counter()
            await _concurrently(n, lambda i: pool.enqueue_job("noop", _job_id=f"{qname}-{i}"))
            return {"seconds": time.perf_counter() - t0}
        COUNTER.reset(n)
        if op == "drain":
            await _concurrently(n, lambda i: pool.enqueue_job("noop", _job_id=f"{qname}-{i}"))
        w = worker()
        t0 = time.perf_counter()
        running = asyncio.create_task(w.async_run())
        try:
            if op == "latency":
                await _steady(n, rate, lambda sent: pool.enqueue_job("noop", sent))
            await _wait_all("arq")
            seconds = time.perf_counter() - t0
            for _ in range(100):  # the count of completed jobs lags the last job by a moment
                if w.jobs_complete >= n:
                    break
                await asyncio.sleep(0.01)
            _verify("arq", n, w.jobs_complete)
        finally:
            with contextlib.suppress(asyncio.CancelledError):  # arq's close cancels its jobs
                await w.close()
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
        return {"seconds": seconds, "latencies": COUNTER.latencies}
    finally:
        await pool.aclose()


# --------------------------------------------------------------------------- saq


async def _saq(op: str, n: int, c: int, url: str, qname: str, rate: float) -> dict[str, Any]:
    from saq import Queue, Worker

    async def noop(ctx: dict[str, Any], *, sent: float = 0.0) -> None:
        COUNTER.hit(sent)

    # max_concurrent_ops (default 20) bounds the queue's Redis operations in flight: raised
    # to cover the worker's concurrency and the concurrent enqueuers (its tuning knob).
    queue = Queue.from_url(url, name=qname, max_concurrent_ops=max(20, 2 * c, ENQUEUE_CONCURRENCY))
    await queue.connect()
    try:
        if op == "enqueue":
            t0 = time.perf_counter()
            await _concurrently(n, lambda i: queue.enqueue("noop"))
            return {"seconds": time.perf_counter() - t0}
        COUNTER.reset(n)
        if op == "drain":
            await _concurrently(n, lambda i: queue.enqueue("noop"))
        w = Worker(queue, functions=[("noop", noop)], concurrency=c)
        t0 = time.perf_counter()
        running = asyncio.create_task(w.start())
        try:
            if op == "latency":
                await _steady(n, rate, lambda sent: queue.enqueue("noop", sent=sent))
            await _wait_all("saq")
            seconds = time.perf_counter() - t0
            complete = 0
            for _ in range(100):
                complete = queue.complete  # saq's own count of jobs finished as complete
                if complete >= n:
                    break
                await asyncio.sleep(0.01)
            _verify("saq", n, complete)
        finally:
            await w.stop()
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
        return {"seconds": seconds, "latencies": COUNTER.latencies}
    finally:
        await queue.disconnect()


# --------------------------------------------------------------------------- bullmq


async def _bullmq(op: str, n: int, c: int, url: str, qname: str, rate: float) -> dict[str, Any]:
    from bullmq import Queue, Worker

    async def noop(job: Any, token: str) -> None:
        COUNTER.hit(float((job.data or {}).get("sent", 0.0)))

    queue = Queue(qname, {"connection": url})

    async def bulk(count: int) -> None:
        for start in range(0, count, BULK):
            size = min(BULK, count - start)
            await queue.addBulk([{"name": "noop", "data": {}} for _ in range(size)])

    try:
        if op == "enqueue":
            t0 = time.perf_counter()
            await bulk(n)
            return {"seconds": time.perf_counter() - t0}
        COUNTER.reset(n)
        if op == "drain":
            await bulk(n)
        t0 = time.perf_counter()
        w = Worker(qname, noop, {"connection": url, "concurrency": c})
        try:
            if op == "latency":
                await _steady(n, rate, lambda sent: queue.add("noop", {"sent": sent}))
            await _wait_all("bullmq")
            seconds = time.perf_counter() - t0
            complete = 0
            for _ in range(100):
                complete = int((await queue.getJobCounts("completed")).get("completed", 0))
                if complete >= n:
                    break
                await asyncio.sleep(0.01)
            _verify("bullmq", n, complete)
        finally:
            await w.close()
        return {"seconds": seconds, "latencies": COUNTER.latencies}
    finally:
        await queue.close()


PEERS = {"arq": _arq, "saq": _saq, "bullmq": _bullmq}


async def run(
    lib: str, op: str, n: int, c: int, url: str, qname: str, rate: float
) -> dict[str, Any]:
    """One measurement of ``lib``: ``op`` is ``enqueue``, ``drain`` or ``latency``."""
    return await PEERS[lib](op, n, c, url, qname, rate)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        try:
            cmd = json.loads(line)
            reply = await run(**cmd)
        except (Exception, asyncio.CancelledError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_serve())
