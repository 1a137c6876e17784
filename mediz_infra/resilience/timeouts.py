"""A timeout for one awaited call: cancel it after N seconds and raise a typed error.

:class:`Timeout` wraps ``asyncio.timeout`` (so the call is really cancelled, not abandoned) and
turns its ``TimeoutError`` into :class:`~mediz_infra.errors.CallTimeout`, which names the call
and the limit. A cancellation of the *caller* still propagates as ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from ..errors import CallTimeout, ConfigError

__all__ = ["Timeout", "timeout"]

P = ParamSpec("P")
T = TypeVar("T")


class Timeout:
    """At most ``seconds`` for each call.

    Use ``await Timeout(2.0).call(fn, *args)`` or decorate with ``@timeout(2.0)``.

    Args:
        seconds: the limit.
        name: what the error calls the call (default: the function's qualified name).

    Raises:
        ConfigError: ``seconds`` is not a positive finite number (field ``timeout``).
    """

    __slots__ = ("name", "seconds")

    def __init__(self, seconds: float, *, name: str | None = None) -> None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise ConfigError("timeout", f"must be a positive number of seconds, got {seconds!r}")
        self.seconds = float(seconds)
        self.name = name

    def __repr__(self) -> str:
        return f"<Timeout {self.seconds:g} s>"

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` for at most :attr:`seconds`.

        Raises:
            CallTimeout: the call did not finish in time (it was cancelled).
        """
        scope = asyncio.timeout(self.seconds)
        try:
            async with scope:
                return await fn(*args, **kwargs)
        except TimeoutError as exc:
            if not scope.expired():  # the call's own TimeoutError (an inner, shorter limit)
                raise
            name = self.name or str(getattr(fn, "__qualname__", "call"))
            raise CallTimeout(name, self.seconds) from exc

    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorate an async function so that every call is bounded."""
        call = self.call

        @functools.wraps(fn)
        async def bounded(*args: P.args, **kwargs: P.kwargs) -> T:
            return await call(fn, *args, **kwargs)

        bounded.timeout = self  # type: ignore[attr-defined]
        return bounded


def timeout(seconds: float, *, name: str | None = None) -> Timeout:
    """``@timeout(2.0)``: the decorator form of :class:`Timeout`."""
    return Timeout(seconds, name=name)
