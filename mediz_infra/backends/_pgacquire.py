"""How PoolManager lends a connection: the ``acquire()``, ``read()`` and ``transaction()`` contexts.

Plain classes with ``__aenter__``/``__aexit__`` rather than generator-based context managers: this
is the per-query hot path, and a class saves a generator and its frame on every use.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import BackendTimeout, BackendUnavailable

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    from .postgres import PoolManager

__all__ = ["Acquire", "Read", "Transaction"]

log = logging.getLogger("mediz_infra.postgres")


class Acquire:
    __slots__ = ("_manager", "_proxy", "_timeout")

    def __init__(self, manager: PoolManager, timeout: float | None) -> None:
        self._manager = manager
        self._timeout = timeout
        self._proxy: PoolConnectionProxy | None = None

    async def __aenter__(self) -> PoolConnectionProxy:
        self._proxy = await self._manager._get(self._timeout)
        return self._proxy

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            await self._manager._release(proxy)


class Read(Acquire):
    __slots__ = ("_owner",)

    def __init__(self, manager: PoolManager, timeout: float | None) -> None:
        super().__init__(manager, timeout)
        self._owner = manager

    async def __aenter__(self) -> PoolConnectionProxy:
        primary = self._manager
        if primary._replicas:
            for replica in primary._healthy_replicas():
                try:
                    if replica._pool is None:  # down at start: try again after its back-off
                        await replica.start()
                    self._proxy = await replica._get(self._timeout)
                except (BackendUnavailable, BackendTimeout) as exc:
                    if replica._pool is None:
                        replica._note_outage(exc)
                    log.warning("replica %s unavailable, trying the next: %s", replica.url, exc)
                    continue
                self._owner = replica
                return self._proxy
        self._owner = primary
        self._proxy = await primary._get(self._timeout)
        return self._proxy

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            await self._owner._release(proxy)


class Transaction(Acquire):
    __slots__ = ("_options", "_tx")

    def __init__(self, manager: PoolManager, timeout: float | None, options: dict[str, Any]):
        super().__init__(manager, timeout)
        self._options = options
        self._tx: Any = None

    async def __aenter__(self) -> PoolConnectionProxy:
        proxy = await super().__aenter__()
        try:
            self._tx = proxy.transaction(**self._options)
            await self._tx.start()
        except BaseException:
            await super().__aexit__(None, None, None)
            raise
        return proxy

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if et is None:
                await self._tx.commit()
            else:
                await self._tx.rollback()
        finally:
            await super().__aexit__(et, e, tb)
