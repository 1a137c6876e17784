"""How a pool lends a connection: the ``acquire()``, ``read()`` and ``transaction()`` contexts.

Plain classes with ``__aenter__``/``__aexit__`` rather than generator-based context managers: this
is the per-query hot path, and a class saves a generator and its frame on every use. They talk
to the pool through :class:`Lender` (its public ``checkout`` and ``release``, each with a
synchronous ``_nowait`` first step that serves a free connection and takes back a clean one with
no further coroutine) and, for reads, to its :class:`~.replicas.ReplicaSet`.

What they hand out is the pool's :class:`~.connection.TrackedConnection` itself, not a con.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .connection import TrackedConnection
    from .replicas import ReplicaSet

__all__ = ["Acquire", "Lender", "Read", "Transaction"]


class Lender(Protocol):
    """A pool the contexts take a connection from and give it back to."""

    def checkout_nowait(self) -> TrackedConnection | None: ...

    async def checkout(self, timeout: float | None = None) -> TrackedConnection: ...

    def release_nowait(self, con: TrackedConnection) -> bool: ...

    async def release(self, con: TrackedConnection) -> None: ...


class Acquire:
    __slots__ = ("_con", "_manager", "_timeout")

    def __init__(self, manager: Lender, timeout: float | None) -> None:
        self._manager = manager
        self._timeout = timeout
        self._con: TrackedConnection | None = None

    async def __aenter__(self) -> TrackedConnection:
        manager = self._manager
        con = manager.checkout_nowait() or await manager.checkout(self._timeout)
        self._con = con
        return con

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        con, self._con = self._con, None
        if con is not None and not self._manager.release_nowait(con):
            await self._manager.release(con)


class Read(Acquire):
    __slots__ = ("_owner", "_replicas")

    def __init__(
        self, manager: Lender, timeout: float | None, replicas: ReplicaSet | None
    ) -> None:
        super().__init__(manager, timeout)
        self._owner = manager
        self._replicas = replicas

    async def __aenter__(self) -> TrackedConnection:
        if self._replicas is not None:
            lent = await self._replicas.checkout(self._timeout)
            if lent is not None:
                self._owner, self._con = lent
                return self._con
        primary = self._owner = self._manager
        self._con = await primary.checkout(self._timeout)
        return self._con

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        con, self._con = self._con, None
        if con is not None and not self._owner.release_nowait(con):
            await self._owner.release(con)


class Transaction(Acquire):
    __slots__ = ("_options", "_tx")

    def __init__(self, manager: Lender, timeout: float | None, options: dict[str, Any]):
        super().__init__(manager, timeout)
        self._options = options
        self._tx: Any = None

    async def __aenter__(self) -> TrackedConnection:
        con = await super().__aenter__()
        try:
            self._tx = con.transaction(**self._options)
            await self._tx.start()
        except BaseException:
            await super().__aexit__(None, None, None)
            raise
        return con

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
