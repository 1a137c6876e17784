"""A circuit breaker's state shared through Redis: every process agrees, successes stay local.

Design (and its consistency window):

- **State is served locally.** Each process keeps its own :class:`~.breaker.CircuitBreaker`
  state; a call in the closed state never touches Redis, and neither does a refusal while the
  process knows the breaker is open. Each process judges its own calls with its own window.
- **Transitions are shared.** One hash per breaker (``{prefix}:breaker:{name}``, with a TTL)
  holds the state and a version, changed only by ``mediz_infra/_lua/breaker.lua`` (one round
  trip, server time, compare-and-set on the version). Every transition is published on
  ``{prefix}:breaker:{name}:events``; each process's listener adopts any newer version at once.
  So when one process opens the breaker, the others refuse as soon as the message arrives
  (a round trip, well under the 1 s the issue allows); after a lost connection, the listener
  re-reads the hash when it subscribes again.
- **Half-open is decided in Redis.** Once the open time has passed, each call asks the script
  for a trial slot: exactly ``half_open_calls`` trials run across all processes, and their
  outcomes close or reopen the breaker for everyone. These are the only round trips on the call
  path, and only while the upstream is suspected down.
- **Redis down: local state.** Any Redis error trips the shared :class:`~mediz_infra.backends.
  Outage` (a background probe brings Redis back): meanwhile the breaker works on its local
  state alone, every such fallback is counted (:attr:`SharedState.fallbacks` and telemetry),
  and no call fails because of Redis. When Redis answers again the listener resubscribes and
  the states are merged: a newer shared version wins, and a breaker opened locally during the
  outage is announced.
- **Cluster**: the script runs unchanged (one key, hash-tagged); without pub/sub on a
  ``RedisCluster`` client the listener polls the hash every ``poll`` seconds instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from redis.asyncio import Redis

from ..backends import BACKEND_ERRORS, Outage, redis_probe
from ..backends.redis import LuaScript, RedisClient

__all__ = ["SharedState", "Snapshot"]

SCRIPT = files("mediz_infra").joinpath("_lua/breaker.lua").read_text(encoding="utf-8")
log = logging.getLogger("mediz_infra.resilience")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The shared state as the script answered: ``version``, ``state``, seconds ``until``
    trials are allowed (0 unless open), and whether a trial slot was ``granted``."""

    version: int
    state: str
    wait: float
    granted: bool

    @classmethod
    def parse(cls, reply: Any) -> Snapshot:
        version, state, wait, granted = reply
        if isinstance(state, bytes):
            state = state.decode()
        return cls(int(version), str(state), int(wait) / 1000.0, bool(int(granted)))


class SharedState:
    """The Redis side of one breaker: the script, the listener task, the outage.

    Args:
        client: the app's Redis client (``create_redis``).
        name: the breaker's name (in the key, hash-tagged).
        prefix: the key prefix.
        open_for: seconds an opened breaker refuses calls.
        trials: trial calls in half-open.
        timeout: seconds one Redis round trip may take before the breaker falls back.
        backoff: seconds between two probes while Redis is down.
        poll: seconds between two reads of the state where pub/sub is not used (Cluster).
        on_fallback: called with the kind of each fallback (to count it).
    """

    def __init__(
        self,
        client: RedisClient,
        name: str,
        *,
        prefix: str = "mediz",
        open_for: float,
        trials: int,
        timeout: float = 0.25,
        backoff: float = 0.05,
        poll: float = 0.5,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.key = f"{prefix}:breaker:{{{name}}}"
        self.channel = f"{prefix}:breaker:{name}:events"
        self.open_ms = str(max(1, round(open_for * 1000)))
        self.trials = str(trials)
        self.ttl_ms = str(max(86_400_000, round(open_for * 10_000)))
        self.timeout = timeout
        self.poll = poll
        self.script = LuaScript(client, SCRIPT)
        self.outage = Outage(
            f"circuit breaker {name!r}",
            probe=redis_probe(client, timeout),
            backoff=backoff,
            timeout=timeout,
            logger=log,
            degraded="using the local state",
        )
        self.on_fallback = on_fallback
        #: the newest shared version this process has adopted
        self.version = 0
        #: calls and transitions that used the local state because Redis failed or was down
        self.fallbacks = 0
        self.listening = False
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"<SharedState {self.key!r} v{self.version}>"

    def down(self) -> bool:
        """Whether Redis is skipped now (the breaker then works locally)."""
        return self.outage.down()

    def fell_back(self, kind: str) -> None:
        self.fallbacks += 1
        if self.on_fallback is not None:
            self.on_fallback(kind)

    async def run(self, op: str, seen: int = 0) -> Snapshot | None:
        """Run one operation of the script; ``None`` (and the outage tripped) if Redis failed."""
        if self.outage.down():
            self.fell_back(op)
            return None
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self.script(
                    [self.key],
                    [op, seen, self.open_ms, self.trials, self.ttl_ms, self.channel],
                )
        except BACKEND_ERRORS as exc:
            self.outage.trip(exc, f"breaker {op}")
            self.fell_back(op)
            return None
        self.outage.reset()
        return Snapshot.parse(reply)

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run ``work`` in a task this object owns (cancelled by :meth:`aclose`)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(
        self, adopt: Callable[[Snapshot], None], resync: Callable[[], Awaitable[None]]
    ) -> None:
        """Start the listener (once per event loop): adopt every published transition."""
        task = self._listener
        loop = asyncio.get_running_loop()
        if self._closed or (task is not None and not task.done() and task.get_loop() is loop):
            return
        self._listener = loop.create_task(
            self._listen(adopt, resync), name=f"breaker listener: {self.key}"
        )

    async def _listen(
        self, adopt: Callable[[Snapshot], None], resync: Callable[[], Awaitable[None]]
    ) -> None:
        client = self.client
        while not self._closed:
            if self.outage.down():
                await asyncio.sleep(self.outage.backoff)
                continue
            if not isinstance(client, Redis):  # Cluster: no pub/sub here, poll the hash
                await resync()
                await asyncio.sleep(self.poll)
                continue
            pubsub: Any = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                # checked each turn too: redis-py can swallow a cancellation that lands while
                # it reads, and the loop must still end when the breaker is closed
                while not self._closed:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.listening = True
                        await resync()  # what was published before now is unknown
                    elif message["type"] == "message":
                        data = message["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        version, state, wait = text.split()
                        adopt(Snapshot(int(version), state, int(wait) / 1000.0, False))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.closing():
                    return
                self.outage.trip(exc, "breaker listener")
                self.fell_back("listener")
                await asyncio.sleep(self.outage.backoff)
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def closing(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Stop the listener, the pending announcements and the probe."""
        self._closed = True
        tasks = [t for t in (self._listener, *self._tasks) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        here = asyncio.get_running_loop()
        mine = [t for t in tasks if t.get_loop() is here]
        if mine:
            # bounded: a task cancelled inside a redis-py command can take long to unwind
            # (seen: a pool release that waits); closing must not hang on it
            await asyncio.wait(mine, timeout=self.timeout * 4)
        await self.outage.aclose()
