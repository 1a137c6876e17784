"""The Redis broker: lists and sorted sets moved by Lua scripts, every key of a queue under one
hash tag.

Keys (``base`` = ``{prefix}:queue:{name}`` with the braces around the name, so on Cluster all of
a queue's keys live in one slot and every script runs unchanged):

- ``base:job:<id>`` hash: task, payload, attempts, lease token, status, result or error. Kept
  until settled; a completed job expires after ``result_ttl``; a dead one stays until retried
  or deleted (durable queue state).
- ``base:waiting`` list of ready ids (LPUSH in, RPOP out: first in, first out).
- ``base:delayed`` sorted set, score = when due (``_delay``/``_at`` jobs and retries), apart
  from in-flight jobs, so an ETA never meets reclaiming.
- ``base:active`` sorted set, score = lease deadline; a lapsed deadline is taken back.
- ``base:dead`` and ``base:done`` sorted sets, score = when; ``base:stats`` counters;
  ``base:paused`` flag; ``base:notify`` a one-element list workers block on (BLPOP);
  ``base:cron:<name>`` the last tick claimed for a cron schedule (durable).
- ``base:throttle:<task>:<key>`` and ``base:debounce:<task>:<key>`` hashes (job id, until):
  a dedup key's job, expiring with its window.
- ``base:rate`` hash (tokens, since): the start-rate token bucket, expiring once full again.
- For the monitor: ``base:minute:<epoch minute>`` hashes (attempts completed and failed in
  that minute, expiring after :data:`~.base.MINUTES_KEPT` min), ``base:failures`` a capped
  list of recent failures (JSON), ``base:workers`` the set of live worker ids and
  ``base:worker:<id>`` each one's JSON, expiring unless the worker refreshes it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from importlib.resources import files
from typing import Any, cast

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from ...backends.redis import LuaScript, RedisClient
from ..jobs import EnqueueOutcome, JobInfo, JobRecord, JobStatus, Lease
from .base import (
    COUNTERS,
    FAILURES_KEPT,
    MINUTES_KEPT,
    SIZES,
    Failure,
    MinuteCount,
    Outcome,
    RateLimit,
)

__all__ = ["RedisBroker"]


def _script(name: str) -> str:
    return files("mediz_infra").joinpath(f"_lua/queue_{name}.lua").read_text(encoding="utf-8")


_ENQUEUE, _FETCH, _HEARTBEAT, _SETTLE, _ADMIN, _CRON, _WORKERS = (
    _script(n) for n in ("enqueue", "fetch", "heartbeat", "settle", "admin", "cron", "workers")
)
_FAILURES_TTL_MS = 7 * 24 * 3600 * 1000  # a week without failures forgets the last ones
_STATS_FIELDS = {"dead": "dead_lettered"}  # the stats hash's field -> the counts() key
_INFO_FIELDS = ("task", "status", "attempts", "result", "error", "traceback")

# Enqueue many jobs in one script call: the one-job enqueue script, unchanged, becomes a local
# function (its KEYS and ARGV are that function's parameters), called once per job. ARGV: the
# job count, then per job its key count, keys, argument count and arguments. KEYS[1] is the
# waiting list, so the call routes to the queue's slot; every job key shares its hash tag.
_ENQUEUE_MANY = (
    "local function enqueue_one(KEYS, ARGV)\n"
    + _ENQUEUE
    + """
end
local out, i = {}, 2
for j = 1, tonumber(ARGV[1]) do
  local nk, keys, args = tonumber(ARGV[i]), {}, {}
  for x = 1, nk do keys[x] = ARGV[i + x] end
  i = i + nk + 1
  local na = tonumber(ARGV[i])
  for x = 1, na do args[x] = ARGV[i + x] end
  i = i + na + 1
  out[j] = enqueue_one(keys, args)
end
return out
"""
)
#: Jobs per enqueue script call: a call blocks Redis while it runs (about 10 µs a job).
ENQUEUE_CHUNK = 200


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _enqueued(record: JobRecord, reply: Any) -> tuple[EnqueueOutcome, str]:
    if isinstance(reply, list):
        return cast(EnqueueOutcome, _text(reply[0])), _text(reply[1])
    return ("created" if reply else "ignored"), record.id


def _leases(reply: Sequence[Any]) -> list[Lease]:
    out = []
    for i in range(0, len(reply) - 6, 7):
        job_id, token, attempts, task, payload, max_attempts, enqueued = reply[i : i + 7]
        out.append(
            Lease(
                _text(job_id),
                int(token),
                int(attempts),
                _text(task),
                _text(payload),
                int(max_attempts),
                int(enqueued) / 1000,
            )
        )
    return out


def _retrieve(task: asyncio.Future[None]) -> None:
    """Mark a flush task's exception retrieved: its callers' futures already carry it."""
    if not task.cancelled():
        task.exception()


class RedisBroker:
    """A queue's jobs on Redis. See :class:`~.base.Broker`; methods raise redis-py's errors
    (:data:`~mediz_infra.backends.BACKEND_ERRORS`), which :class:`~..queue.Queue` translates.

    Args:
        client: a client from :func:`~mediz_infra.backends.create_redis` (standalone, Sentinel
            or Cluster).
        name: the queue's name.
        prefix: the first part of every key.
        owned: close the client in :meth:`aclose` (set when the queue built it from a URL).
    """

    def __init__(
        self, client: RedisClient, name: str, *, prefix: str = "mediz", owned: bool = False
    ) -> None:
        self.client = client
        self.base = f"{prefix}:queue:{{{name}}}"
        self._owned = owned
        b = self.base
        self._waiting, self._delayed, self._active = f"{b}:waiting", f"{b}:delayed", f"{b}:active"
        self._dead, self._done, self._stats = f"{b}:dead", f"{b}:done", f"{b}:stats"
        self._paused, self._notify = f"{b}:paused", f"{b}:notify"
        self._rate = f"{b}:rate"
        self._enqueue = LuaScript(client, _ENQUEUE)
        self._enqueue_many_sha = LuaScript(client, _ENQUEUE_MANY).sha
        self._fetch = LuaScript(client, _FETCH)
        self._heartbeat = LuaScript(client, _HEARTBEAT)
        self._settle = LuaScript(client, _SETTLE)
        self._admin = LuaScript(client, _ADMIN)
        self._cron = LuaScript(client, _CRON)
        # Settles waiting for the next flush: (keys, args, the caller's future).
        self._settles: list[tuple[list[str], list[str | int], asyncio.Future[Any]]] = []
        self._workers = LuaScript(client, _WORKERS)
        # redis-py's Cluster pipelines refuse EVALSHA before 5.1: script calls are not
        # pipelined on a Cluster client (each still one atomic call on the queue's slot).
        self._pipelined = not isinstance(client, RedisCluster)
        self._failures, self._worker_ids = f"{b}:failures", f"{b}:workers"

    def _job(self, job_id: str) -> str:
        return f"{self.base}:job:{job_id}"

    async def enqueue(self, records: Sequence[JobRecord]) -> list[tuple[EnqueueOutcome, str]]:
        def keys(r: JobRecord) -> list[str]:
            k = [self._job(r.id), self._waiting, self._delayed, self._notify]
            if r.dedup is not None:
                k.append(f"{self.base}:{r.dedup.mode}:{r.task}:{r.dedup.key}")
            return k

        def args(r: JobRecord) -> list[str | int]:
            a: list[str | int] = [r.id, r.task, r.payload, r.max_attempts]
            a += [_ms(r.enqueued_at), _ms(r.eta)]
            if r.dedup is not None:
                a += [r.dedup.mode, max(1, _ms(r.dedup.window)), self.base]
            return a

        if len(records) == 1:
            r = records[0]
            return [_enqueued(r, await self._enqueue(keys(r), args(r)))]
        # One round trip: one EVALSHA per chunk of ENQUEUE_CHUNK jobs in one pipeline (the
        # script is loaded first, so no NOSCRIPT can break the batch half-way). A chunk is one
        # script call instead of one per job: less to encode here, less to run on the server.
        client: Any = self.client
        await client.script_load(_ENQUEUE_MANY)
        calls: list[list[str | int]] = []
        for start in range(0, len(records), ENQUEUE_CHUNK):
            chunk = records[start : start + ENQUEUE_CHUNK]
            flat: list[str | int] = [len(chunk)]
            for r in chunk:
                k, a = keys(r), args(r)
                flat += [len(k), *k, len(a), *a]
            calls.append(flat)
        if not self._pipelined:  # a Cluster client: one call per chunk, in order
            replies = [
                await client.evalsha(self._enqueue_many_sha, 1, self._waiting, *flat)
                for flat in calls
            ]
        else:
            async with client.pipeline(transaction=False) as pipe:
                for flat in calls:
                    pipe.evalsha(self._enqueue_many_sha, 1, self._waiting, *flat)
                replies = await pipe.execute()
        flat_replies = [x for chunk_reply in replies for x in chunk_reply]
        return [_enqueued(r, x) for r, x in zip(records, flat_replies, strict=True)]

    async def fetch(self, count: int, lease: float, now: float, max_stalls: int) -> list[Lease]:
        keys = [self._waiting, self._delayed, self._active, self._dead, self._stats, self._paused]
        reply = await self._fetch(keys, [self.base, _ms(now), _ms(now + lease), count, max_stalls])
        return _leases(reply)

    async def fetch_limited(
        self, count: int, lease: float, now: float, max_stalls: int, rate: RateLimit
    ) -> tuple[list[Lease], float]:
        keys = [
            self._waiting,
            self._delayed,
            self._active,
            self._dead,
            self._stats,
            self._paused,
            self._rate,
        ]
        per_second, burst = rate
        args: list[str | int] = [self.base, _ms(now), _ms(now + lease), count, max_stalls]
        args += [repr(float(per_second)), burst]
        reply = await self._fetch(keys, args)
        wait = int(reply[-1]) / 1000 if len(reply) % 7 == 1 else 0.0
        return _leases(reply), wait

    async def heartbeat(self, leases: Sequence[tuple[str, int]], deadline: float) -> list[bool]:
        if not leases:
            return []
        args: list[str | int] = [self.base, _ms(deadline)]
        for job_id, token in leases:
            args += [job_id, token]
        return [bool(x) for x in await self._heartbeat([self._active], args)]

    async def settle(
        self,
        job_id: str,
        token: int,
        outcome: Outcome,
        now: float,
        *,
        result: str = "",
        error: str = "",
        traceback: str = "",
        retry_at: float = 0.0,
        result_ttl: float = 3600.0,
    ) -> bool:
        keys = [
            self._job(job_id),
            self._active,
            self._waiting,
            self._delayed,
            self._dead,
            self._done,
            self._stats,
            self._notify,
            self._minute(now),
            self._failures,
        ]
        args: list[str | int] = [
            job_id,
            token,
            outcome,
            _ms(now),
            max(1, _ms(result_ttl)),
            result,
            error,
            traceback,
            _ms(retry_at),
            MINUTES_KEPT * 60_000,
            FAILURES_KEPT,
            _FAILURES_TTL_MS,
        ]
        # Settle pipelining: the settles of jobs that end in the same event-loop turn go out
        # together, one pipeline of EVALSHAs (one round trip), flushed on the next turn. Jobs
        # of a busy worker end in bursts, so this halves the round trips a job costs; each
        # settle is still its own atomic, fenced script call.
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._settles.append((keys, args, future))
        if len(self._settles) == 1:
            asyncio.get_running_loop().call_soon(self._start_flush)
        return bool(await future)

    def _start_flush(self) -> None:
        batch, self._settles = self._settles, []
        task = asyncio.ensure_future(self._flush_settles(batch))
        task.add_done_callback(_retrieve)

    async def _flush_settles(
        self, batch: list[tuple[list[str], list[str | int], asyncio.Future[Any]]]
    ) -> None:
        try:
            if len(batch) == 1:
                keys, args, _ = batch[0]
                replies: list[Any] = [await self._settle(keys, args)]
            elif not self._pipelined:  # a Cluster client: the calls at once, not pipelined
                replies = list(
                    await asyncio.gather(
                        *(self._settle(keys, args) for keys, args, _ in batch),
                        return_exceptions=True,
                    )
                )
            else:
                client: Any = self.client
                async with client.pipeline(transaction=False) as pipe:
                    for keys, args, _ in batch:
                        pipe.evalsha(self._settle.sha, len(keys), *keys, *args)
                    replies = await pipe.execute(raise_on_error=False)
                for i, reply in enumerate(replies):
                    if isinstance(reply, NoScriptError):  # flushed scripts: it did not run
                        keys, args, _ = batch[i]
                        replies[i] = await self._settle(keys, args)
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def info(self, job_id: str) -> JobInfo | None:
        client: Any = self.client
        values = await client.hmget(self._job(job_id), _INFO_FIELDS)
        if values[0] is None:
            return None
        task, status, attempts, result, error, tb = (
            None if v is None else _text(v) for v in values
        )
        return JobInfo(
            job_id,
            task or "",
            cast(JobStatus, status),
            int(attempts or 0),
            result,
            error or None,
            tb or None,
        )

    async def counts(self) -> dict[str, int]:
        client: Any = self.client
        async with client.pipeline(transaction=False) as pipe:
            pipe.llen(self._waiting)
            pipe.zcard(self._delayed)
            pipe.zcard(self._active)
            pipe.zcard(self._done)
            pipe.zcard(self._dead)
            pipe.hgetall(self._stats)
            *sizes, stats = await pipe.execute()
        out = dict(zip(SIZES, (int(x) for x in sizes), strict=True))
        out.update(dict.fromkeys(COUNTERS, 0))
        for field, value in stats.items():
            name = _STATS_FIELDS.get(_text(field), _text(field))
            if name in COUNTERS:
                out[name] = int(value)
        return out

    async def dead(self, limit: int = 50) -> list[JobInfo]:
        client: Any = self.client
        ids = await client.zrevrange(self._dead, 0, limit - 1)
        infos = [await self.info(_text(i)) for i in ids]
        return [i for i in infos if i is not None]

    async def _admin_call(self, job_id: str, action: str) -> bool:
        keys = [
            self._job(job_id),
            self._waiting,
            self._delayed,
            self._active,
            self._dead,
            self._done,
            self._notify,
        ]
        return bool(await self._admin(keys, [job_id, action]))

    async def retry_dead(self, job_id: str) -> bool:
        return await self._admin_call(job_id, "retry")

    async def delete(self, job_id: str) -> bool:
        return await self._admin_call(job_id, "delete")

    async def set_paused(self, paused: bool) -> None:
        client: Any = self.client
        if paused:
            await client.set(self._paused, 1)
        else:
            await client.delete(self._paused)
            await client.lpush(self._notify, 1)

    async def cron_last(self, name: str) -> float | None:
        client: Any = self.client
        value = await client.get(f"{self.base}:cron:{name}")
        return None if value is None else int(value) / 1000

    async def cron_advance(self, name: str, previous: float | None, tick: float) -> bool:
        expected = "" if previous is None else str(_ms(previous))
        return bool(await self._cron([f"{self.base}:cron:{name}"], [expected, _ms(tick)]))

    async def wait_for_work(self, timeout: float) -> None:
        client: Any = self.client
        await client.blpop([self._notify], timeout=timeout)

    async def aclose(self) -> None:
        if self._owned:
            await cast(Any, self.client).aclose()

    def _minute(self, now: float) -> str:
        return f"{self.base}:minute:{int(now // 60)}"

    async def is_paused(self) -> bool:
        client: Any = self.client
        return bool(await client.exists(self._paused))

    async def throughput(self, now: float, minutes: int) -> list[MinuteCount]:
        client: Any = self.client
        last = int(now // 60)
        starts = range(last - minutes + 1, last + 1)
        async with client.pipeline(transaction=False) as pipe:
            for minute in starts:
                pipe.hmget(f"{self.base}:minute:{minute}", ("completed", "failed"))
            replies = await pipe.execute()
        return [
            MinuteCount(minute * 60, int(done or 0), int(failed or 0))
            for minute, (done, failed) in zip(starts, replies, strict=True)
        ]

    async def failures(self, limit: int) -> list[Failure]:
        client: Any = self.client
        out = []
        for raw in await client.lrange(self._failures, 0, max(0, limit - 1)):
            item = json.loads(raw)
            out.append(
                Failure(
                    str(item["id"]),
                    str(item["task"]),
                    str(item["error"]),
                    int(item["at"]) / 1000,
                    int(item["attempt"]),
                    str(item["outcome"]),
                )
            )
        return out

    async def beat_worker(self, worker_id: str, info: str, ttl: float) -> None:
        await self._workers(
            [self._worker_ids], ["beat", self.base, worker_id, info, max(1, _ms(ttl))]
        )

    async def remove_worker(self, worker_id: str) -> None:
        await self._workers([self._worker_ids], ["leave", self.base, worker_id])

    async def workers(self) -> list[str]:
        return [_text(x) for x in await self._workers([self._worker_ids], ["list", self.base])]
