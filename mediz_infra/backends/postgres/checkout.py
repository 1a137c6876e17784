"""How a pool lends a connection: the ``acquire()``, ``read()`` and ``transaction()`` contexts.

Plain classes with ``__aenter__``/``__aexit__`` rather than generator-based context managers: this
is the per-query hot path, and a class saves a generator and its frame on every use. They talk
to the pool through :class:`Lender` (its public ``checkout`` and ``release``) and, for reads, to
its :class:`~.replicas.ReplicaSet`.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    from .replicas import ReplicaSet

__all__ = ["Acquire", "Lender", "Read", "Transaction"]


class Lender(Protocol):
    """A pool the contexts take a connection from and give it back to."""

    async def checkout(self, timeout: float | None = None) -> PoolConnectionProxy: ...

    async def release(self, proxy: PoolConnectionProxy) -> None: ...


class Acquire:
    __slots__ = ("_manager", "_proxy", "_timeout")

    def __init__(self, manager: Lender, timeout: float | None) -> None:
        self._manager = manager
        self._timeout = timeout
        self._proxy: PoolConnectionProxy | None = None

    async def __aenter__(self) -> PoolConnectionProxy:
        self._proxy = await self._manager.checkout(self._timeout)
        return self._proxy

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            await self._manager.release(proxy)


class Read(Acquire):
    __slots__ = ("_owner", "_replicas")

    def __init__(
        self, manager: Lender, timeout: float | None, replicas: ReplicaSet | None
    ) -> None:
        super().__init__(manager, timeout)
        self._owner = manager
        self._replicas = replicas

    async def __aenter__(self) -> PoolConnectionProxy:
        if self._replicas is not None:
            lent = await self._replicas.checkout(self._timeout)
            if lent is not None:
                self._owner, self._proxy = lent
                return self._proxy
        primary = self._owner = self._manager
        self._proxy = await primary.checkout(self._timeout)
        return self._proxy

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            await self._owner.release(proxy)


class Transaction(Acquire):
    __slots__ = ("_options", "_tx")

    def __init__(self, manager: Lender, timeout: float | None, options: dict[str, Any]):
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
