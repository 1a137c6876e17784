"""Stampede protection: one computation per key, in this process and across the cluster.

In this process, a :class:`Flight` is registered for a key while one caller (the leader) reads
and, on a miss, computes it; every other caller for that key joins the flight instead of doing
the same work. Joining costs nothing for the leader (no future is made until a second caller
arrives), so the single-caller path pays one dict insert and one delete. Identical *hits* in
flight are merged too: fifty callers reading one hot key make one ``GET``.

Across processes, the leader takes a Redis lock (``SET key:lock token NX PX``) before computing;
others poll for the value with a growing delay, bounded by :class:`LockPolicy.wait`. A poller that
finds the lock gone without a value (the holder died or could not store) takes the lock and
computes; one that runs out of patience computes without it. The lock is released by a Lua
compare-and-delete, so a holder whose lock already expired cannot delete a newer holder's lock.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["Flight", "LeaderGone", "LockPolicy", "new_token"]


class LeaderGone(Exception):
    """The leader of a flight was cancelled; its followers start over."""


@dataclass(frozen=True, slots=True)
class LockPolicy:
    """How the cross-process lock behaves.

    Attributes:
        ttl: how long a lock lives if its holder never releases it (it crashed): make it longer
            than the slowest computation you expect.
        wait: how long a caller waits for another process's computation before computing itself.
        first_poll: the first poll delay; it doubles up to ``max_poll``.
        max_poll: the longest delay between two polls.
    """

    ttl: float = 10.0
    wait: float = 5.0
    first_poll: float = 0.005
    max_poll: float = 0.1

    def __post_init__(self) -> None:
        for name in ("ttl", "wait", "first_poll", "max_poll"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"lock.{name}", f"must be positive, got {getattr(self, name)}")

    def delays(self) -> Callable[[], float]:
        """A fresh sequence of poll delays: call it for the next one."""
        current = self.first_poll / 2

        def next_delay() -> float:
            nonlocal current
            current = min(current * 2, self.max_poll)
            return current

        return next_delay


_tokens = itertools.count()
_token_prefix = secrets.token_hex(8) + "-"


def _new_process() -> None:
    global _token_prefix
    _token_prefix = secrets.token_hex(8) + "-"  # a forked child must not reuse its parent's


os.register_at_fork(after_in_child=_new_process)


def new_token() -> str:
    """A lock token, unique per acquisition: a random per-process prefix and a counter.

    Cheap (a read may carry one it does not use: see ``cache_read.lua``).
    """
    return f"{_token_prefix}{next(_tokens)}"


class Flight:
    """One in-progress read-or-compute for a key; followers wait for its outcome.

    The outcome is a zero-argument callable that makes each follower its own copy of the value
    (decoding the stored bytes again), so followers never share a mutable object.
    """

    __slots__ = ("waiters",)

    def __init__(self) -> None:
        self.waiters: list[asyncio.Future[Callable[[], Any]]] | None = None

    async def join(self) -> Any:
        """Wait for the leader and return a copy of its value (or raise its error).

        Raises:
            LeaderGone: the leader was cancelled; call again.
        """
        future: asyncio.Future[Callable[[], Any]] = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = [future]
        else:
            self.waiters.append(future)
        make = await future
        return make()

    def finish(self, make: Callable[[], Any]) -> None:
        """Hand every follower the value maker."""
        for future in self.waiters or ():
            if not future.done():
                future.set_result(make)

    def fail(self, error: BaseException) -> None:
        """Hand every follower the leader's error (cancellation becomes :class:`LeaderGone`)."""
        if isinstance(error, asyncio.CancelledError):
            error = LeaderGone()
        for future in self.waiters or ():
            if not future.done():
                future.set_exception(error)
