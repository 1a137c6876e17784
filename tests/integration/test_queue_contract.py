"""One contract for the queue's brokers: the in-process one and the real Redis answer alike."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from mediz_infra.backends.redis import create_redis
from mediz_infra.errors import BackendUnavailable, ConfigError
from mediz_infra.queue import (
    COUNTERS,
    SIZES,
    Backoff,
    Debounce,
    JobFailed,
    JobRecord,
    MemoryBroker,
    Misfire,
    Queue,
    Throttle,
    Worker,
    WorkerPresence,
)
from mediz_infra.queue.heartbeat import live_workers
from tests._servers import free_port

pytestmark = pytest.mark.integration


class Clock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


QueueFactory = Callable[..., Queue]


@pytest.fixture(params=["memory", "redis"])
async def make_queue(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[QueueFactory]:
    clients = []
    memory: dict[str, MemoryBroker] = {}

    def make(name: str | None = None, **options: object) -> Queue:
        """A queue; the same ``name`` again is another handle (own client) on the same jobs."""
        name = name or f"q{uuid.uuid4().hex[:8]}"
        if request.param == "memory":
            broker = memory.setdefault(name, MemoryBroker())
            return Queue(name, broker, **options)  # type: ignore[arg-type]
        clients.append(create_redis(redis_url))
        return Queue(name, clients[-1], prefix="test", **options)  # type: ignore[arg-type]

    yield make
    for client in clients:
        await client.flushdb()
        await client.aclose()


async def test_a_job_runs_and_its_result_comes_back(make_queue: QueueFactory) -> None:
    queue = make_queue()

    @queue.task
    async def add(a: int, b: int) -> int:
        return a + b

    job = await add.enqueue(2, b=3)
    assert job.created and await job.status() == "waiting"
    await Worker(queue).run_burst()
    assert await job.status() == "complete"
    assert await job.result(timeout=5) == 5
    counts = await queue.counts()
    assert counts["completed"] == 1 and counts["waiting"] == 0 and counts["active"] == 0


async def test_the_same_job_id_twice_gives_one_job(make_queue: QueueFactory) -> None:
    queue = make_queue()
    runs: list[str] = []

    @queue.task
    async def note(text: str) -> None:
        runs.append(text)

    first = await note.enqueue("a", _job_id="reminder-7")
    second = await note.enqueue("b", _job_id="reminder-7")
    assert first.created and not second.created and first.id == second.id == "reminder-7"
    await Worker(queue).run_burst()
    assert runs == ["a"]


async def test_enqueue_many_enqueues_every_job_in_order(make_queue: QueueFactory) -> None:
    queue = make_queue()
    seen: list[int] = []

    @queue.task
    async def record(n: int) -> int:
        seen.append(n)
        return n

    jobs = await record.enqueue_many([(n,) for n in range(50)])
    again = await queue.enqueue_many([record.call(99, _job_id=jobs[0].id)])
    assert not again[0].created
    await Worker(queue, concurrency=1).run_burst()
    assert seen == list(range(50))
    assert [await j.result(timeout=5) for j in jobs[:3]] == [0, 1, 2]


async def test_a_delayed_job_waits_for_its_time(make_queue: QueueFactory) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)

    @queue.task
    async def ping() -> str:
        return "pong"

    job = await ping.enqueue(_delay=60)
    at = await ping.enqueue(_at=clock.now + 30)
    assert await job.status() == "delayed"
    clock.now += 29.9
    await Worker(queue).run_burst()
    assert await at.status() == "delayed"
    clock.now += 0.1
    await Worker(queue).run_burst()
    assert await at.status() == "complete" and await job.status() == "delayed"
    clock.now += 30
    await Worker(queue).run_burst()
    assert await job.result(timeout=5) == "pong"


async def test_retries_wait_out_the_backoff_then_succeed(make_queue: QueueFactory) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)
    attempts: list[float] = []

    @queue.task(retries=3, backoff=Backoff(base=10, factor=2, jitter=0))
    async def flaky() -> str:
        attempts.append(clock.now)
        if len(attempts) < 3:
            raise ConnectionError("push provider down")
        return "sent"

    job = await flaky.enqueue()
    start = clock.now
    await Worker(queue).run_burst()
    assert len(attempts) == 1
    info = await job.info()
    assert (
        info is not None and info.status == "delayed" and "push provider down" in (info.error or "")
    )
    clock.now = start + 9.99
    await Worker(queue).run_burst()
    assert len(attempts) == 1  # not before the first back-off (10 s) is over
    clock.now = start + 10
    await Worker(queue).run_burst()
    clock.now = start + 10 + 19.99
    await Worker(queue).run_burst()
    assert len(attempts) == 2  # the second back-off is 20 s
    clock.now = start + 30
    await Worker(queue).run_burst()
    assert attempts == [start, start + 10, start + 30]
    assert await job.result(timeout=5) == "sent"
    counts = await queue.counts()
    assert counts["retried"] == 2 and counts["failed"] == 2 and counts["completed"] == 1


async def test_a_burst_run_takes_a_retry_that_came_due_during_its_fetch(
    make_queue: QueueFactory,
) -> None:
    """The worker fetched (and found nothing ready) while the last running job failed and
    scheduled its retry: the burst run must look again rather than end with the retry left."""
    clock = Clock()
    queue = make_queue(clock=clock)
    attempts: list[float] = []
    fetched = asyncio.Event()

    @queue.task(retries=1, backoff=Backoff(base=0, cap=0))
    async def flaky() -> str:
        attempts.append(clock.now)
        if len(attempts) == 1:
            await fetched.wait()  # fail only once the worker's next fetch has read the queue
            clock.now += 1  # the retry is due at the failure's time, after that fetch's `now`
            raise ConnectionError("push provider down")
        return "sent"

    job = await flaky.enqueue()
    worker = Worker(queue)
    fetch = worker.broker.fetch
    calls = 0

    async def fetch_then_wait_for_the_failure(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        leases = await fetch(*args)
        if calls == 2:  # issued while the first attempt runs: nothing is ready
            fetched.set()
            async with asyncio.timeout(10):
                # until the retry is written and the job has finished (the worker exposes no
                # event for it; its stats change in the step that ends the job)
                while worker.stats.retried == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.001)
        return leases

    worker.broker.fetch = fetch_then_wait_for_the_failure  # type: ignore[method-assign]
    async with asyncio.timeout(30):
        stats = await worker.run_burst()
    assert calls >= 3 and stats.retried == 1 and stats.completed == 1
    assert len(attempts) == 2
    assert await job.result(timeout=5) == "sent"


async def test_a_retry_picked_up_while_its_last_attempt_leaves_is_tracked(
    make_queue: QueueFactory,
) -> None:
    """Job b's retry is leased while its failed attempt is still leaving (settled, not yet off
    the worker's books): the two pickups are tracked apart, so the burst run waits for it."""
    queue = make_queue()
    attempts: dict[str, int] = {"a": 0, "b": 0}
    b_leaving = asyncio.Event()

    @queue.task(retries=1, backoff=Backoff(base=0, cap=0))
    async def send(name: str) -> str:
        attempts[name] += 1
        if attempts[name] == 1:
            raise ConnectionError("push provider down")
        if name == "b":
            await asyncio.sleep(0.2)  # still running when a's retry has long finished
        return "sent"

    await send.enqueue("a", _job_id="a")
    await send.enqueue("b", _job_id="b")
    worker = Worker(queue)
    settle, fetch = worker.broker.settle, worker.broker.fetch

    async def settle_then_linger(job_id: str, *args: Any, **kwargs: Any) -> Any:
        done = await settle(job_id, *args, **kwargs)
        if job_id == "b" and attempts["b"] == 1:
            async with asyncio.timeout(10):
                await b_leaving.wait()  # written; the attempt leaves once b's retry is leased
        return done

    async def fetch_and_note(*args: Any) -> Any:
        leases = await fetch(*args)
        if any(lease.id == "b" for lease in leases) and attempts["b"] >= 1:
            b_leaving.set()
        return leases

    worker.broker.settle = settle_then_linger  # type: ignore[method-assign]
    worker.broker.fetch = fetch_and_note  # type: ignore[method-assign]
    async with asyncio.timeout(30):
        stats = await worker.run_burst()
    assert attempts == {"a": 2, "b": 2}
    assert stats.retried == 2 and stats.completed == 2  # b's retry ran to its end inside the run


def test_backoff_jitter_stays_within_its_share() -> None:
    backoff = Backoff(base=1, factor=2, cap=8, jitter=0.5, rng=random.Random(7))
    delays = [backoff.delay(r) for r in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    ceilings = [min(8, 2 ** (r - 1)) for r in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) > 100  # jittered, not one value
    with pytest.raises(ConfigError, match="jitter"):
        Backoff(jitter=2)


async def test_after_the_last_retry_a_job_is_dead_then_retried_or_deleted(
    make_queue: QueueFactory,
) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)
    fail = [True]

    @queue.task(retries=1, backoff=Backoff(base=1, jitter=0))
    async def boom() -> str:
        if fail[0]:
            raise ValueError("bad reminder 42")
        return "ok"

    job = await boom.enqueue()
    await Worker(queue).run_burst()
    clock.now += 1
    await Worker(queue).run_burst()
    assert await job.status() == "dead"
    with pytest.raises(JobFailed, match="bad reminder 42") as caught:
        await job.result(timeout=1)
    assert "Traceback" in caught.value.traceback and "boom" in caught.value.traceback
    (dead,) = await queue.dead_letters()
    assert dead.id == job.id and dead.attempts == 2
    fail[0] = False
    assert await queue.retry_dead(job.id)
    assert not await queue.retry_dead(job.id)  # no longer dead
    await Worker(queue).run_burst()
    assert await job.result(timeout=5) == "ok"
    assert await queue.delete(job.id) and await job.status() is None


async def test_poison_jobs_go_to_the_dead_letters_and_the_worker_keeps_going(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()

    @queue.task
    async def fine() -> int:
        return 1

    now = queue.clock()
    await queue.broker.enqueue(
        [
            JobRecord(
                "ghost", "app.tasks.renamed_long_ago", '{"args":[],"kwargs":{}}', 4, now, now
            ),
            JobRecord("garbled", fine.name, "\x00not json", 4, now, now),
        ]
    )
    good = await fine.enqueue()
    await Worker(queue).run_burst()
    assert await good.result(timeout=5) == 1
    ghost = await queue.job("ghost").info()
    garbled = await queue.job("garbled").info()
    assert ghost is not None and ghost.status == "dead"
    assert "UnknownTask" in (ghost.error or "")
    assert "app.tasks.renamed_long_ago" in (ghost.error or "")
    assert garbled is not None and garbled.status == "dead"
    assert "UndecodablePayload" in (garbled.error or "")
    assert ghost.attempts == 1  # dead at once: retrying cannot help


async def test_a_stale_lease_can_neither_heartbeat_nor_settle(make_queue: QueueFactory) -> None:
    queue = make_queue()

    @queue.task
    async def slow() -> None:
        return None

    job = await slow.enqueue()
    broker = queue.broker
    now = queue.clock()
    (first,) = await broker.fetch(1, 5.0, now, max_stalls=5)
    assert await broker.heartbeat([(job.id, first.token)], now + 5) == [True]
    assert await broker.fetch(1, 5.0, now + 4.9, max_stalls=5) == []  # still held
    (second,) = await broker.fetch(1, 5.0, now + 10.1, max_stalls=5)  # lapsed: taken back
    assert second.id == job.id and second.token > first.token and second.attempts == 1
    assert await broker.heartbeat([(job.id, first.token)], now + 20) == [False]
    assert not await broker.settle(job.id, first.token, "complete", now + 11, result="1")
    assert await broker.settle(job.id, second.token, "complete", now + 11, result="2")
    assert not await broker.settle(job.id, second.token, "complete", now + 12, result="3")
    info = await job.info()
    assert info is not None and info.result == "2"
    counts = await queue.counts()
    assert counts["stale_refused"] == 2 and counts["reclaimed"] == 1 and counts["completed"] == 1


async def test_a_job_that_stalls_too_often_is_dead(make_queue: QueueFactory) -> None:
    queue = make_queue()

    @queue.task
    async def crashy() -> None:
        return None

    job = await crashy.enqueue()
    now = queue.clock()
    for i in range(3):
        assert len(await queue.broker.fetch(1, 1.0, now + 2 * i, max_stalls=2)) == 1
    assert await queue.broker.fetch(1, 1.0, now + 10, max_stalls=2) == []
    info = await job.info()
    assert info is not None and info.status == "dead" and "LeaseLost" in (info.error or "")


async def test_a_worker_that_loses_its_lease_cancels_the_job(make_queue: QueueFactory) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)
    started, cancelled = asyncio.Event(), asyncio.Event()

    @queue.task
    async def hang() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await hang.enqueue()
    stalled = clock.now  # this worker's clock stands still: its heartbeats fall behind
    worker = Worker(queue, lease=10, heartbeat=0.01, poll=0.05, clock=lambda: stalled)
    run = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    clock.now += 1000  # past its lease: another worker takes the job back
    taken = await queue.broker.fetch(1, 10, clock.now, max_stalls=5)
    assert len(taken) == 1
    await asyncio.wait_for(cancelled.wait(), 10)
    worker.stop()
    stats = await asyncio.wait_for(run, 10)
    assert stats.lost_leases == 1 and stats.completed == 0
    assert await queue.broker.settle(taken[0].id, taken[0].token, "complete", clock.now)


async def test_stopping_lets_running_jobs_finish(make_queue: QueueFactory) -> None:
    queue = make_queue()
    started, release = asyncio.Event(), asyncio.Event()

    @queue.task
    async def work() -> str:
        started.set()
        await release.wait()
        return "done"

    job = await work.enqueue()
    later = await work.enqueue()
    worker = Worker(queue, concurrency=1, grace=30, poll=0.05)
    run = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    worker.stop()
    release.set()
    stats = await asyncio.wait_for(run, 10)
    assert stats.completed == 1 and await job.result(timeout=1) == "done"
    assert await later.status() == "waiting"  # not fetched after the stop


async def test_past_the_grace_period_running_jobs_are_handed_back(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    started = asyncio.Event()

    @queue.task
    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    job = await forever.enqueue()
    worker = Worker(queue, grace=0, poll=0.05)
    run = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    worker.stop()
    stats = await asyncio.wait_for(run, 10)
    assert stats.released == 1
    info = await job.info()
    assert info is not None and info.status == "waiting" and info.attempts == 0


async def test_a_job_past_its_timeout_fails(make_queue: QueueFactory) -> None:
    queue = make_queue()

    @queue.task(retries=0, timeout=0.01)
    async def stuck() -> None:
        await asyncio.Event().wait()

    job = await stuck.enqueue()
    await Worker(queue).run_burst()
    with pytest.raises(JobFailed, match="timeout"):
        await job.result(timeout=1)


async def test_a_paused_queue_leases_nothing(make_queue: QueueFactory) -> None:
    queue = make_queue()

    @queue.task
    async def noop() -> None:
        return None

    job = await noop.enqueue()
    await queue.pause()
    await Worker(queue).run_burst()
    assert await job.status() == "waiting"
    await queue.resume()
    await Worker(queue).run_burst()
    assert await job.status() == "complete"


async def test_bad_arguments_are_refused_naming_the_field(make_queue: QueueFactory) -> None:
    queue = make_queue()

    @queue.task
    async def takes(x: object) -> None:
        return None

    with pytest.raises(ConfigError, match="not JSON-serialisable"):
        await takes.enqueue(object())
    with pytest.raises(ConfigError, match="_delay"):
        await takes.enqueue(1, _delay=-1)
    with pytest.raises(ConfigError, match="retries"):
        queue.task(retries=-1)


async def test_enqueue_with_redis_down_refuses_with_a_clear_error() -> None:
    client = create_redis(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    queue = Queue("down", client)

    @queue.task
    async def noop() -> None:
        return None

    with pytest.raises(BackendUnavailable, match="cannot enqueue 1 job"):
        await noop.enqueue()
    await client.aclose()


async def test_cron_runs_once_per_tick_across_three_workers(make_queue: QueueFactory) -> None:
    clock = Clock()
    name = f"cron{uuid.uuid4().hex[:6]}"
    runs: list[float] = []
    workers = []
    for _ in range(3):
        queue = make_queue(name, clock=clock)

        @queue.cron(every=60, name="reminders")
        async def check_reminders() -> None:
            runs.append(clock.now)

        workers.append(Worker(queue, poll=0.01))
    tasks = [asyncio.create_task(w.run()) for w in workers]

    async def until(check: Callable[[], bool]) -> None:
        async with asyncio.timeout(20):
            while not check():  # noqa: ASYNC110 - the workers' state has no event to wait on
                await asyncio.sleep(0.005)

    start = clock.now
    try:
        await until(lambda: all(w.scheduler.checked_at == start for w in workers))
        await _five_ticks(clock, workers, queue, until)
    finally:
        for w in workers:
            w.stop()
    stats = await asyncio.gather(*tasks)
    assert runs == [start + 60 * k for k in range(1, 6)]  # 5 runs, not 15
    assert sum(s.completed for s in stats) == 5


async def _five_ticks(
    clock: Clock,
    workers: list[Worker],
    queue: Queue,
    until: Callable[[Callable[[], bool]], Awaitable[None]],
) -> None:
    start = clock.now
    for k in range(1, 6):
        clock.now = start + 60 * k
        # every worker has looked at this tick, and its one job has run and been settled: the
        # clock must not jump 60 s while a job is in flight, or its lease lapses and another
        # worker rightly takes it back (at-least-once), which is not what this test is about
        await until(lambda: all(w.scheduler.checked_at == clock.now for w in workers))
        async with asyncio.timeout(20):
            while (await queue.counts()).get("completed", 0) < k:  # noqa: ASYNC110 - polled state
                await asyncio.sleep(0.005)


@pytest.mark.parametrize(
    ("misfire", "late", "expected"),
    [("skip", 5, 0), ("skip", 0.5, 1), ("once", 5, 1), ("all", 5, 3)],
)
async def test_ticks_missed_while_no_worker_ran_follow_the_misfire_policy(
    make_queue: QueueFactory, misfire: Misfire, late: float, expected: int
) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)
    runs: list[float] = []

    @queue.cron(every=60, misfire=misfire, misfire_grace=1)
    async def tick() -> None:
        runs.append(clock.now)

    worker = Worker(queue)
    start = clock.now
    assert await worker.scheduler.step() == 0  # the first start runs no history
    clock.now = start + 3 * 60 + late  # three ticks passed with no worker running
    assert await worker.scheduler.step() == expected
    assert await worker.scheduler.step() == 0  # claimed: never again
    await worker.run_burst()
    assert len(runs) == expected
    clock.now = start + 4 * 60
    assert await worker.scheduler.step() == 1  # and on time again afterwards


async def test_skip_if_running_drops_a_tick_while_the_last_one_is_unfinished(
    make_queue: QueueFactory,
) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)

    @queue.cron(every=10, skip_if_running=True)
    async def slow() -> None:
        return None

    worker = Worker(queue)
    start = clock.now
    await worker.scheduler.step()
    clock.now = start + 10
    assert await worker.scheduler.step() == 1
    clock.now = start + 20
    assert await worker.scheduler.step() == 0  # the first tick's job still waits
    await worker.run_burst()
    clock.now = start + 30
    assert await worker.scheduler.step() == 1


def test_cron_settings_are_checked_naming_the_field() -> None:
    queue = Queue("settings", "memory://")
    with pytest.raises(ConfigError, match="expression"):
        queue.cron("* * * * *", every=5)
    with pytest.raises(ConfigError, match=r"cron\.hour"):
        queue.cron("0 25 * * *")
    with pytest.raises(ConfigError, match="misfire"):
        queue.cron(every=5, misfire="later")(_noop)  # type: ignore[arg-type]


async def _noop() -> None:
    return None


async def test_a_throttle_key_lets_the_first_enqueue_win_for_its_window(
    make_queue: QueueFactory,
) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)
    runs: list[int] = []

    @queue.task
    async def push(n: int) -> int:
        runs.append(n)
        return n

    @queue.task
    async def other(n: int) -> int:
        return n

    first = await push.enqueue(1, _dedup=Throttle("user-7", 60))
    again = await push.enqueue(2, _dedup=Throttle("user-7", 60))
    assert first.outcome == "created" and again.outcome == "ignored" and not again.created
    assert again.id == first.id  # the handle is the job that won
    assert (await push.enqueue(3, _dedup=Throttle("user-8", 60))).created
    assert (await other.enqueue(4, _dedup=Throttle("user-7", 60))).created  # keys are per task
    await Worker(queue).run_burst()
    assert sorted(runs) == [1, 3] and await again.result(timeout=5) == 1
    clock.now += 59.9  # its job is done, but the window still holds
    assert (await push.enqueue(5, _dedup=Throttle("user-7", 60))).outcome == "ignored"
    clock.now += 0.1
    later = await push.enqueue(6, _dedup=Throttle("user-7", 60))
    assert later.created and later.id != first.id
    await Worker(queue).run_burst()
    assert sorted(runs) == [1, 3, 6]


async def test_a_debounce_key_lets_the_last_enqueue_win_and_moves_the_start(
    make_queue: QueueFactory,
) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)
    runs: list[str] = []

    @queue.task
    async def sync(text: str) -> str:
        runs.append(text)
        return text

    start = clock.now
    first = await sync.enqueue("a", _dedup=Debounce("profile-7", 10))
    assert first.outcome == "created" and await first.status() == "delayed"
    clock.now = start + 5
    second = await sync.enqueue("b", _dedup=Debounce("profile-7", 10))
    assert second.outcome == "replaced" and second.id == first.id
    assert (await queue.counts())["delayed"] == 1
    clock.now = start + 14.9  # the first enqueue's window is over, the second's is not
    await Worker(queue).run_burst()
    assert runs == []
    clock.now = start + 15
    await Worker(queue).run_burst()
    assert runs == ["b"] and await first.result(timeout=5) == "b"
    third = await sync.enqueue("c", _dedup=Debounce("profile-7", 10))  # started: a new job
    assert third.created and third.id != first.id
    clock.now = start + 25  # due, not yet started: the window is over, so a new job again
    fourth = await sync.enqueue("d", _dedup=Debounce("profile-7", 10))
    assert fourth.created and fourth.id != third.id
    clock.now = start + 35
    await Worker(queue).run_burst()
    assert runs == ["b", "c", "d"]


async def test_a_debounced_job_that_failed_is_not_replaced(make_queue: QueueFactory) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)
    seen: list[str] = []

    @queue.task(retries=1, backoff=Backoff(base=60, jitter=0))
    async def flaky(text: str) -> None:
        seen.append(text)
        raise ConnectionError("provider down")

    job = await flaky.enqueue("a", _dedup=Debounce("k", 10))
    clock.now += 10
    await Worker(queue).run_burst()
    assert seen == ["a"] and await job.status() == "delayed"  # waiting for its retry
    retry = await flaky.enqueue("b", _dedup=Debounce("k", 10))
    assert retry.created and retry.id != job.id


async def test_enqueue_many_deduplicates_in_order(make_queue: QueueFactory) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)

    @queue.task
    async def note(n: int) -> int:
        return n

    jobs = await queue.enqueue_many(
        [
            note.call(1, _dedup=Throttle("t", 60)),
            note.call(2, _dedup=Throttle("t", 60)),
            note.call(3, _dedup=Debounce("d", 10)),
            note.call(4, _dedup=Debounce("d", 10)),
            note.call(5),
        ]
    )
    assert [j.outcome for j in jobs] == ["created", "ignored", "created", "replaced", "created"]
    assert jobs[0].id == jobs[1].id and jobs[2].id == jobs[3].id
    clock.now += 10
    await Worker(queue).run_burst()
    assert [await j.result(timeout=5) for j in jobs] == [1, 1, 4, 4, 5]


async def test_the_rate_limit_bounds_starts_by_the_clock(make_queue: QueueFactory) -> None:
    clock = Clock()
    queue = make_queue(clock=clock, rate_limit=2)  # burst: 2
    ran: list[int] = []

    @queue.task
    async def send(n: int) -> None:
        ran.append(n)

    await send.enqueue_many([(n,) for n in range(9)])
    await Worker(queue).run_burst()
    assert ran == [0, 1]
    await Worker(queue).run_burst()  # the same instant: no token left
    assert len(ran) == 2
    counts = await queue.counts()
    assert counts["active"] == 0 and counts["waiting"] == 7  # nothing leased it cannot run
    clock.now += 0.5
    await Worker(queue).run_burst()
    assert len(ran) == 3
    clock.now += 60  # a quiet spell refills the bucket to its burst, no more
    await Worker(queue).run_burst()
    assert len(ran) == 5
    leases, wait = await queue.broker.fetch_limited(5, 30, clock.now, 5, (2.0, 2))
    assert leases == [] and wait == pytest.approx(0.5)
    clock.now += 1
    leases, wait = await queue.broker.fetch_limited(5, 30, clock.now, 5, (2.0, 2))
    assert len(leases) == 2 and wait == pytest.approx(0.5)  # the rest waits for tokens
    for lease in leases:
        assert await queue.broker.settle(lease.id, lease.token, "complete", clock.now)
    clock.now += 1
    await Worker(queue).run_burst()
    assert sorted(ran) == [0, 1, 2, 3, 4, 7, 8] and (await queue.counts())["completed"] == 9


class _CountedFetches:
    """A broker seen through one worker: counts its rate-limited fetches."""

    def __init__(self, broker: object) -> None:
        self.broker = broker
        self.fetches = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.broker, name)

    async def fetch_limited(self, *args: object) -> object:
        self.fetches += 1
        return await self.broker.fetch_limited(*args)  # type: ignore[attr-defined]


async def test_two_workers_share_one_rate_limit(make_queue: QueueFactory) -> None:
    clock = Clock()  # stands still between steps: every start below is a token spent
    name = f"rate{uuid.uuid4().hex[:6]}"
    started: list[int] = []
    workers, views = [], []
    for _ in range(2):
        queue = make_queue(name, clock=clock, rate_limit=5)

        @queue.task(name="send")
        async def send(n: int) -> None:
            started.append(n)

        worker = Worker(queue, concurrency=50, poll=0.05)
        views.append(_CountedFetches(worker.broker))
        worker.broker = views[-1]  # type: ignore[assignment]
        workers.append(worker)
    await send.enqueue_many([(n,) for n in range(20)])
    runs = [asyncio.create_task(w.run()) for w in workers]

    async def starts_settle_at(expected: int) -> None:
        async with asyncio.timeout(20):
            while len(started) < expected:  # noqa: ASYNC110 - the workers' state is polled
                await asyncio.sleep(0.005)
            marks = [v.fetches for v in views]
            # each worker has asked again twice since, and was refused: the bucket is empty
            while any(v.fetches < m + 2 for v, m in zip(views, marks, strict=True)):  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        assert len(started) == expected

    try:
        await starts_settle_at(5)  # the burst, across both workers
        assert (await queue.counts())["waiting"] == 15
        clock.now += 1
        await starts_settle_at(10)
        clock.now += 0.2
        await starts_settle_at(11)
        clock.now += 3600  # refilled to the burst, not to an hour's worth
        await starts_settle_at(16)
        clock.now += 1
        await starts_settle_at(20)
    finally:
        for w in workers:
            w.stop()
    stats = await asyncio.gather(*runs)
    assert sorted(started) == list(range(20))  # each once: none lost, none twice
    assert sum(s.completed for s in stats) == 20  # the two workers together


def test_bad_dedup_and_rate_settings_are_refused_naming_the_field() -> None:
    for make, field in (
        (lambda: Throttle("", 5), "Throttle.key"),
        (lambda: Throttle("k" * 201, 5), "Throttle.key"),
        (lambda: Throttle("k", 0), "Throttle.window"),
        (lambda: Debounce("k", float("nan")), "Debounce.window"),
        (lambda: Debounce("k", "5"), "Debounce.window"),  # type: ignore[arg-type]
        (lambda: Queue("q", "memory://", rate_limit=0), "rate_limit"),
        (lambda: Queue("q", "memory://", rate_limit=float("inf")), "rate_limit"),
        (lambda: Queue("q", "memory://", rate_limit=5, rate_burst=0), "rate_burst"),
        (lambda: Queue("q", "memory://", rate_burst=5), "rate_burst"),
    ):
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            make()
    queue = Queue("dedup", "memory://")

    @queue.task
    async def noop() -> None:
        return None

    for options in (
        {"_dedup": ("k", 5)},
        {"_dedup": Throttle("k", 5), "_job_id": "j"},
        {"_dedup": Debounce("k", 5), "_delay": 1},
    ):
        with pytest.raises(ConfigError, match="_dedup"):
            noop.call(**options)


async def test_counts_have_the_same_documented_keys_on_every_broker(
    make_queue: QueueFactory,
) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)
    assert await queue.counts() == dict.fromkeys((*SIZES, *COUNTERS), 0)

    @queue.task(retries=0)
    async def boom() -> None:
        raise ValueError("no such reminder")

    @queue.task
    async def ok() -> None:
        return None

    await boom.enqueue()
    await ok.enqueue()
    await ok.enqueue(_delay=60)
    await Worker(queue).run_burst()
    counts = await queue.counts()
    assert list(counts) == [*SIZES, *COUNTERS]
    assert counts["complete"] == 1 and counts["completed"] == 1  # kept now; total
    assert counts["dead"] == 1 and counts["dead_lettered"] == 1 and counts["failed"] == 1
    assert counts["delayed"] == 1 and counts["waiting"] == counts["active"] == 0


async def test_throughput_per_minute_and_recent_failures(make_queue: QueueFactory) -> None:
    clock = Clock()
    queue = make_queue(clock=clock)
    fail = {"left": 1}

    @queue.task(retries=1, backoff=Backoff(base=1, jitter=0))
    async def flaky(n: int) -> int:
        if n == 0 and fail["left"]:
            fail["left"] -= 1
            raise ConnectionError("push provider down: token=abc123")
        return n

    minute0 = int(clock.now // 60) * 60
    await flaky.enqueue_many([(n,) for n in range(3)])
    await Worker(queue).run_burst()  # 2 completed, 1 failed (retry in 1 s)
    clock.now += 60
    await Worker(queue).run_burst()  # the retry completes a minute later
    series = await queue.broker.throughput(clock.now, 3)
    assert [(m.minute, m.completed, m.failed) for m in series] == [
        (minute0 - 60, 0, 0),
        (minute0, 2, 1),
        (minute0 + 60, 1, 0),
    ]
    (failure,) = await queue.broker.failures(10)
    assert failure.task == flaky.name and failure.outcome == "retry" and failure.attempt == 1
    assert failure.error.startswith("ConnectionError: push provider down")
    assert failure.at == clock.now - 60


async def test_a_running_worker_is_listed_and_leaves_when_it_stops(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()

    @queue.task
    async def ok() -> None:
        return None

    worker = Worker(queue, concurrency=3, presence_ttl=5)
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while not await live_workers(queue.broker):  # noqa: ASYNC110 - polled state
                await asyncio.sleep(0.01)
        (info,) = await live_workers(queue.broker)
        assert info.id == worker.id and info.queues == (queue.name,) and info.concurrency == 3
        assert info.pid == os.getpid() and info.host == socket.gethostname()
    finally:
        worker.stop()
        await running
    assert await live_workers(queue.broker) == []  # a clean stop removes it at once


async def test_a_worker_that_stops_refreshing_drops_out_after_its_ttl(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    presence = WorkerPresence(
        queue.broker, "w-killed", queues=("x",), concurrency=1,
        activity=lambda: (0, 0), clock=queue.clock, ttl=0.3,
    )  # fmt: skip
    await presence.beat()  # then nothing: as if killed with SIGKILL
    assert [w.id for w in await live_workers(queue.broker)] == ["w-killed"]
    async with asyncio.timeout(10):
        while await live_workers(queue.broker):  # noqa: ASYNC110 - polled state
            await asyncio.sleep(0.05)
