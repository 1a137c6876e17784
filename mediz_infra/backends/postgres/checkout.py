"""How a pool lends a connection: the ``acquire()``, ``read()`` and ``transaction()`` contexts.

Plain classes with ``__aenter__``/``__aexit__`` rather than generator-based context managers: this
is the per-query hot path, and a class saves a generator and its frame on every use. They talk
to the pool through :class:`Lender` (its public ``checkout`` and ``release``, each with a
synchronous ``_nowait`` first step that serves a free connection and takes back a clean one with
no further coroutine) and, for reads, to its :class:`~.replicas.ReplicaSet`.

What they hand out is the pool's :class:`~.connection.TrackedConnection` itself, not a con.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import InfraError

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
    __slots__ = ("_after", "_budget", "_owner", "_replicas")

    def __init__(
        self,
        manager: Lender,
        timeout: float | None,
        replicas: ReplicaSet | None,
        default_timeout: float,
        after: int | None = None,
    ) -> None:
        super().__init__(manager, timeout)
        self._owner = manager
        self._replicas = replicas
        self._budget = default_timeout if timeout is None else timeout
        self._after = after

    async def __aenter__(self) -> TrackedConnection:
        primary = self._manager
        replicas = self._replicas
        if replicas is None:
            self._owner = primary
            con = primary.checkout_nowait() or await primary.checkout(self._timeout)
            self._con = con
            return con
        # One deadline for the whole read: the replicas tried, then the primary.
        budget = self._budget
        started = time.monotonic()
        lent = await replicas.checkout(budget, self._after)
        if lent is not None:
            self._owner, self._con = lent
            return self._con
        self._owner = primary
        left = max(budget - (time.monotonic() - started), 0.001)
        self._con = primary.checkout_nowait() or await primary.checkout(left)
        return self._con

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        con, self._con = self._con, None
        owner = self._owner
        if (
            e is not None
            and owner is not self._manager
            and isinstance(e, TimeoutError)
            and not isinstance(e, InfraError)
            and self._replicas is not None
        ):  # a query timed out on a replica: later reads skip it until it answers
            self._replicas.note_timeout(owner, e)  # type: ignore[arg-type]
        if con is not None and not owner.release_nowait(con):
            await owner.release(con)


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
