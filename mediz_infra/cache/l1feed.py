"""The L1's invalidation feed: Redis pub/sub keeps every process's in-process L1 in step.

Each ``invalidate``, ``invalidate_tags`` or ``clear`` publishes one message on the cache's
channel (``k <key>`` for one call, anything else clears the whole L1). The L1 is used only
while the subscription is live (:attr:`Cache._l1_live`): it starts empty on every
(re)subscription, since what was published while disconnected is unknown, and is switched off
and emptied when the feed breaks.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from .local import LocalStore

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["forget", "listen"]


def forget(l1: LocalStore, message: str) -> None:
    """Apply one invalidation message to ``l1``."""
    if message.startswith("k "):
        l1.delete(message[2:])
    else:
        l1.clear()


async def listen(cache: Cache) -> None:
    """Subscribe and apply messages until ``cache`` closes; resubscribe once Redis is back."""
    assert cache.store is not None
    l1 = cache.l1
    assert l1 is not None
    client = cache.store.client
    while not cache._closed:
        if not isinstance(client, Redis):
            return
        if cache.outage.down():
            # resubscribe once the outage's probe has seen Redis back, not every back-off:
            # each failed attempt would count and log one more failure
            await asyncio.sleep(cache.outage.backoff)
            continue
        pubsub: Any = client.pubsub()
        try:
            await pubsub.subscribe(cache.channel)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    l1.clear()  # anything published before now is unknown
                    cache._l1_live = True
                elif message["type"] == "message":
                    data = message["data"]
                    forget(l1, data.decode() if isinstance(data, bytes) else str(data))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            cache._l1_live = False
            l1.clear()
            cache.failed(exc, "L1 invalidation feed")
            await asyncio.sleep(cache.outage.backoff)
        finally:
            cache._l1_live = False
            with contextlib.suppress(Exception):
                await pubsub.aclose()
