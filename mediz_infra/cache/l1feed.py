"""The L1's invalidation feed: Redis pub/sub keeps every process's in-process L1 in step.

Each ``invalidate``, ``invalidate_tags`` or ``clear`` publishes one message on the cache's
channel (``k <key>`` for one call, anything else clears the whole L1). The L1 is used only
while the subscription is live (:meth:`L1Feed.ready`): it starts empty on every
(re)subscription, since what was published while disconnected is unknown, and is switched off
and emptied when the feed breaks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from ..backends import Outage, RedisClient
from .local import LocalStore

__all__ = ["L1Feed", "forget"]


def forget(l1: LocalStore, message: str) -> None:
    """Apply one invalidation message to ``l1``."""
    if message.startswith("k "):
        l1.delete(message[2:])
    else:
        l1.clear()


class L1Feed:
    """The subscription that keeps one L1 in step; started on first use, stopped by close.

    Args:
        client: the Redis client to subscribe with (a Cluster client has no L1).
        channel: the cache's invalidation channel.
        l1: the L1 it keeps.
        outage: the cache's back-off (resubscribing waits for its probe).
        failed: called with each failure of the feed (the cache counts it and backs off).
    """

    __slots__ = ("_closed", "_failed", "_live", "_task", "channel", "client", "l1", "outage")

    def __init__(
        self,
        client: RedisClient,
        channel: str,
        l1: LocalStore,
        outage: Outage,
        failed: Callable[[BaseException, str], None],
    ) -> None:
        self.client = client
        self.channel = channel
        self.l1 = l1
        self.outage = outage
        self._failed = failed
        self._live = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def ready(self) -> bool:
        """Whether the L1 may be used now (the feed is subscribed); starts the feed if need be."""
        if not self._live and self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._listen())
        return self._live

    async def aclose(self) -> None:
        """Stop the feed for good (the L1 is not used from now on)."""
        self._closed = True
        self._live = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _listen(self) -> None:
        """Subscribe and apply messages until closed; resubscribe once Redis is back."""
        client, l1 = self.client, self.l1
        while not self._closed:
            if not isinstance(client, Redis):
                return
            if self.outage.down():
                # resubscribe once the outage's probe has seen Redis back, not every back-off:
                # each failed attempt would count and log one more failure
                await asyncio.sleep(self.outage.backoff)
                continue
            pubsub: Any = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        l1.clear()  # anything published before now is unknown
                        self._live = True
                    elif message["type"] == "message":
                        data = message["data"]
                        forget(l1, data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._live = False
                l1.clear()
                self._failed(exc, "L1 invalidation feed")
                await asyncio.sleep(self.outage.backoff)
            finally:
                self._live = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
