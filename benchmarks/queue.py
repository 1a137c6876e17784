"""The ``queue`` benchmark: ``mediz_infra.queue`` against arq, saq and bullmq on the same Redis.

Measured, each library its documented best way (see ``benchmarks/_queue_peer.py``):

- **Enqueue** (jobs/s): 10,000 no-op jobs. Ours ``Queue.enqueue_many`` and bullmq ``addBulk``
  in batches of 1,000; arq ``enqueue_job`` and saq ``enqueue`` (no bulk API) from 50
  concurrent callers.
- **Drain** (jobs/s): 10,000 no-op jobs enqueued beforehand (untimed), then one worker at
  concurrency 10 and 100 runs them; timed from the worker's start to the last job's end. After
  each run (drain and pickup latency alike) the count of jobs that ran and the library's own
  count of completed jobs are checked against the jobs enqueued (10,000 at full budget, fewer
  under a smaller one, see below): ours must equal it exactly, both of them (a job run twice
  fails as well); for arq, saq and bullmq neither may fall short, and a surplus (a job run
  twice, which at-least-once delivery allows) is reported on stderr, not failed. A shortfall,
  or jobs still not run after 120 s (``_queue_peer.LIMIT_S``, every library), fails the
  benchmark.
- **Pickup latency** (µs, p50 and p99): a worker (concurrency 10) idles while jobs arrive at a
  light steady rate (100 per second, 300 jobs); latency = the task's start minus the moment
  just before its enqueue call. The p99 case reads the same runs as the p50 case (each run
  gives both), so the latency runs happen once per round.

arq (pins redis-py <6) and saq (saq[redis] pins redis-py <8) cannot install beside our
redis-py (>=8): the benchmark creates a venv of its own for them under
``$XDG_CACHE_HOME/mediz-infra-bench/queue-peers`` (``~/.cache`` by default), installs the pinned
versions there with pip on first use, and talks to ``_queue_peer.py`` running in it over
stdin/stdout. bullmq installs beside us (the ``bench`` extra) and runs in this process.

Job counts scale down with the budget (``--quick``: 1,000 jobs); every wait is bounded.
Environment variable ``TEST_REDIS_URL`` names the Redis (default ``redis://127.0.0.1:6379/15``);
each measurement uses a fresh queue name and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
import venv
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import redis.asyncio

from benchmarks import _queue_peer
from benchmarks._runner import (
    Benchmark,
    Budget,
    Case,
    Check,
    Contender,
    Group,
    Measure,
    Metric,
    Options,
    Sample,
    redis_version,
)
from mediz_infra.queue import Queue, Worker

__all__ = ["BENCHMARK", "PEER_VENV_REQUIREMENTS", "peer_venv"]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
OURS = "mediz-infra"
JOBS = 10_000
LATENCY_JOBS, LATENCY_RATE = 300, 100.0
PEER_VENV_REQUIREMENTS = ("arq==0.28.0", "saq[redis,hiredis]==0.26.4", "typing_extensions")
VENV_PEERS = ("arq", "saq")
PEERS = ("arq", "saq", "bullmq")
GOAL_P99 = "5 ms goal"

JOBS_PER_SECOND = Metric("jobs/s", higher_is_better=True)
LATENCY = Metric("µs", higher_is_better=False, per_op_micros=True)


def _jobs(budget: Budget) -> int:
    return max(10, min(JOBS, budget.max_ops))


def _latency_jobs(budget: Budget) -> int:
    return max(10, min(LATENCY_JOBS, budget.max_ops // 5))


# --------------------------------------------------------------------------- the peers' venv


def peer_venv() -> Path:
    """The Python of the venv holding arq and saq, created and filled on first use."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = cache / "mediz-infra-bench" / "queue-peers"
    python = root / "bin" / "python"
    marker = root / "mediz-bench-requirements.txt"
    wanted = "\n".join(PEER_VENV_REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"[queue] creating the peers' venv in {root} ...", file=sys.stderr, flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *PEER_VENV_REQUIREMENTS],
        check=True,
        timeout=600,
    )
    marker.write_text(wanted)
    return python


class _PeerProcess:
    """``_queue_peer.py`` running in the peers' venv: one JSON command and answer per line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lock = asyncio.Lock()

    @classmethod
    async def start(cls) -> _PeerProcess:
        python = await asyncio.to_thread(peer_venv)
        proc = await asyncio.create_subprocess_exec(
            str(python),
            "-P",  # not benchmarks/ on sys.path: this module's name would hide the stdlib's queue
            str(Path(_queue_peer.__file__)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**24,
        )
        return cls(proc)

    async def call(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        async with self.lock:
            self.proc.stdin.write((json.dumps(command) + "\n").encode())
            await self.proc.stdin.drain()
            line = await asyncio.wait_for(self.proc.stdout.readline(), _queue_peer.LIMIT_S * 2 + 30)
        if not line:
            raise RuntimeError("the peers' process exited")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# --------------------------------------------------------------------------- ours


class _Ours:
    """Our queue and worker on a fresh queue name per measurement."""

    def __init__(self) -> None:
        self.ran = 0
        self.target = 0
        self.done = asyncio.Event()
        self.latencies: list[float] = []

    def _queue(self, qname: str) -> tuple[Queue, Any]:
        queue = Queue(qname, REDIS_URL, prefix="bench-q")

        @queue.task(name="noop", retries=0)
        async def noop(sent: float = 0.0) -> None:
            if sent:
                self.latencies.append(time.perf_counter() - sent)
            self.ran += 1
            if self.ran >= self.target:
                self.done.set()

        return queue, noop

    async def _enqueue(self, queue: Queue, noop: Any, n: int) -> None:
        for start in range(0, n, _queue_peer.BULK):
            size = min(_queue_peer.BULK, n - start)
            await queue.enqueue_many([noop.call() for _ in range(size)])

    async def run(self, op: str, n: int, c: int, qname: str) -> dict[str, Any]:
        queue, noop = self._queue(qname)
        try:
            if op == "enqueue":
                t0 = time.perf_counter()
                await self._enqueue(queue, noop, n)
                return {"seconds": time.perf_counter() - t0}
            self.ran, self.target, self.latencies = 0, n, []
            self.done = asyncio.Event()
            if op == "drain":
                await self._enqueue(queue, noop, n)
            worker = Worker(queue, concurrency=c)
            t0 = time.perf_counter()
            running = asyncio.create_task(worker.run())
            try:
                if op == "latency":
                    start = time.perf_counter()
                    for i in range(n):
                        wait = start + i / LATENCY_RATE - time.perf_counter()
                        if wait > 0:
                            await asyncio.sleep(wait)
                        await noop.enqueue(time.perf_counter())
                try:
                    await asyncio.wait_for(self.done.wait(), _queue_peer.LIMIT_S)
                except TimeoutError:
                    raise RuntimeError(f"ours: {self.ran} of {n} jobs ran") from None
                seconds = time.perf_counter() - t0
                completed = 0
                for _ in range(100):
                    completed = int((await queue.counts()).get("completed", 0))
                    if completed >= n:
                        break
                    await asyncio.sleep(0.01)
                if self.ran != n or completed != n:
                    raise RuntimeError(f"ours: ran {self.ran}, counted {completed}, want {n}")
            finally:
                worker.stop()
                await running
            return {"seconds": seconds, "latencies": self.latencies}
        finally:
            await queue.aclose()


# --------------------------------------------------------------------------- measures


class _Harness:
    """Runs one measurement of any contender and cleans its keys up afterwards."""

    def __init__(self, options: Options, peers: _PeerProcess, client: redis.asyncio.Redis) -> None:
        self.options = options
        self.peers = peers
        self.client = client
        self.ours = _Ours()
        self.latency_runs: dict[str, list[list[float]]] = {}

    async def once(self, name: str, op: str, n: int, c: int) -> dict[str, Any]:
        qname = f"qbench-{uuid.uuid4().hex[:10]}"
        try:
            if name == OURS:
                reply = await self.ours.run(op, n, c, qname)
            elif name in VENV_PEERS:
                reply = await self.peers.call(
                    lib=name, op=op, n=n, c=c, url=REDIS_URL, qname=qname, rate=LATENCY_RATE
                )
            else:
                reply = await _queue_peer.run(name, op, n, c, REDIS_URL, qname, LATENCY_RATE)
        finally:
            await self._clean(qname)
        if "error" in reply:
            raise RuntimeError(f"{name} {op}: {reply['error']}")
        return reply

    async def _clean(self, qname: str) -> None:
        batch: list[Any] = []
        async for key in self.client.scan_iter(match=f"*{qname}*", count=2000):
            batch.append(key)
            if len(batch) >= 1000:
                await self.client.unlink(*batch)
                batch = []
        if batch:
            await self.client.unlink(*batch)

    def throughput(self, name: str, op: str, c: int) -> Measure:
        async def measure(budget: Budget) -> Sample:
            n = _jobs(budget)
            reply = await self.once(name, op, n, c)
            return Sample(n, float(reply["seconds"]))

        return measure

    def latency(self, name: str, quantile: float) -> Measure:
        """p50 runs the jobs and keeps their latencies; p99 reads the same runs in order."""

        async def measure(budget: Budget) -> Sample:
            runs = self.latency_runs.setdefault(name, [])
            warm = budget == self.options.warmup
            if quantile == 0.5 or not runs:
                n = _latency_jobs(budget)
                reply = await self.once(name, "latency", n, 10)
                values = sorted(float(x) for x in reply["latencies"])
                if quantile == 0.5 and not warm:
                    runs.append(values)
            else:
                values = runs.pop(0)
            if len(values) == 0:
                raise RuntimeError(f"{name}: no latencies recorded")
            value = values[min(len(values) - 1, int(quantile * len(values)))]
            return Sample(len(values), value * len(values))

        return measure


@contextlib.asynccontextmanager
async def _all(options: Options) -> AsyncIterator[Sequence[Case]]:
    peers = await _PeerProcess.start()
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        h = _Harness(options, peers, client)
        names = (OURS, *PEERS)

        def contenders(op: str, c: int) -> list[Contender]:
            return [Contender(n, h.throughput(n, op, c), ours=n == OURS) for n in names]

        cases: list[Case] = [
            Case(
                "enqueue",
                {"measure": "enqueue 10,000 jobs", "c": "bulk / 50"},
                JOBS_PER_SECOND,
                contenders("enqueue", 1),
            ),
            *(
                Case(
                    f"drain/c{c}",
                    {"measure": "drain 10,000 no-op jobs", "c": str(c)},
                    JOBS_PER_SECOND,
                    contenders("drain", c),
                )
                for c in (10, 100)
            ),
        ]
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            latency = [Contender(n, h.latency(n, q), ours=n == OURS) for n in names]
            if label == "p99":

                async def goal(budget: Budget) -> Sample:
                    return Sample(1, 0.005)

                latency.append(Contender(GOAL_P99, goal))
            cases.append(
                Case(
                    f"pickup/{label}",
                    {"measure": f"pickup latency {label}, 100 jobs/s", "c": "10"},
                    LATENCY,
                    latency,
                )
            )
        yield cases
    finally:
        await peers.close()
        await client.aclose()


async def _environment() -> dict[str, str]:
    return {
        "Redis": f"{await redis_version(REDIS_URL)} (loopback TCP, {REDIS_URL})",
        "arq and saq": "from their own venv (redis-py 5.3 with hiredis), see the notes",
    }


def _checks() -> tuple[Check, ...]:
    out: list[Check] = []
    for peer in PEERS:
        out += [
            Check(
                f"enqueue: ours ÷ {peer} (goal: at least 1.5x the fastest peer)",
                ("enqueue", OURS),
                ("enqueue", peer),
                1.5,
            ),
            *(
                Check(
                    f"drain, c={c}: ours ÷ {peer} (goal: at least 2x the fastest peer)",
                    (f"drain/c{c}", OURS),
                    (f"drain/c{c}", peer),
                    2.0,
                )
                for c in (10, 100)
            ),
        ]
    out.append(
        Check("pickup p99: ours under 5 ms", ("pickup/p99", OURS), ("pickup/p99", GOAL_P99), 1.0)
    )
    return tuple(out)


BENCHMARK = Benchmark(
    name="queue",
    title="queue: enqueue, drain and pickup latency against arq, saq and bullmq",
    groups=(Group("redis", _all),),
    peers=("mediz-infra", "bullmq", "redis"),
    checks=_checks(),
    environment=_environment,
    notes=(
        "Enqueue: ours `Queue.enqueue_many` and bullmq `Queue.addBulk`, batches of 1,000; arq "
        "`enqueue_job` and saq `enqueue` from 50 concurrent callers (neither has a bulk API). "
        "Drain: 10,000 no-op jobs queued first (untimed), one worker timed from its start to "
        "the last job; the jobs that ran and the library's completed count are checked: both "
        "exactly 10,000 for ours, at least 10,000 for the others (a job run twice is reported, "
        "not failed). Workers: ours `Worker(queue, concurrency=c)` defaults; arq 0.28.0 "
        "`Worker(max_jobs=c, poll_delay=0.001)` (default 0.5 s polling would cap it); saq "
        "0.26.4 `Worker(concurrency=c)` on `Queue.from_url(max_concurrent_ops=max(20, 2c, 50))` "
        "(its operation semaphore raised to the load); bullmq 3.4.4 "
        "`Worker(concurrency=c)`. Pickup: 300 jobs at 100/s to an idle worker (concurrency "
        "10); the task's start minus the moment before the enqueue call. arq and saq run in a "
        "venv the benchmark creates (`~/.cache/mediz-infra-bench/queue-peers`: "
        + ", ".join(f"`{r}`" for r in PEER_VENV_REQUIREMENTS)
        + ") because their redis-py pins (<6, <8) cannot sit beside ours; the rest in this "
        "process. *5 ms goal* is a constant, not a library: the p99 goal as a column."
    ),
)
