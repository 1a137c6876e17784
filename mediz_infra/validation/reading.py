"""Reading a request body under a size limit and a deadline, without buffering past either.

A ``Content-Length`` over the limit is refused before a byte is read; a body streaming past the
limit (chunked, or lying about its length) is cut off as soon as it crosses it; a body that stops
arriving is cut off when the read deadline passes. Each of these answers with
``Connection: close``, since the rest of the body is still on the wire.
"""

from __future__ import annotations

import asyncio

from ..types import Receive, Scope
from .limits import ValidationLimits
from .rejection import Rejection

__all__ = ["read_body"]


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, or None when absent; a malformed one is a 400."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not (value.isdigit() and len(value) <= 19):
                raise Rejection(400, "bad-request", "Content-Length is not a number.", close=True)
            return int(value)
    return None


async def read_body(scope: Scope, receive: Receive, limits: ValidationLimits) -> bytes:
    """The whole body, at most ``limits.max_body`` bytes, within ``limits.read_timeout`` s.

    Raises:
        Rejection: 413 (too large, declared or streamed), 408 (too slow), 400 (the client
            went away, or a malformed ``Content-Length``).
    """
    length = declared_length(scope)
    if length is not None and length > limits.max_body:
        raise _too_large(limits)
    try:
        async with asyncio.timeout(limits.read_timeout):
            return await _receive_all(receive, limits.max_body)
    except TimeoutError:
        raise Rejection(
            408,
            "body-timeout",
            f"The body did not arrive within {limits.read_timeout:g} s.",
            close=True,
        ) from None


async def _receive_all(receive: Receive, limit: int) -> bytes:
    message = await receive()
    if message["type"] != "http.request":
        raise _gone()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: the body in one message
        if len(body) > limit:
            raise _too_large_bytes(limit)
        return body
    chunks = [body]
    size = len(body)
    while True:
        if size > limit:
            raise _too_large_bytes(limit)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()
        if message["type"] != "http.request":
            raise _gone()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)


def _gone() -> Rejection:
    return Rejection(400, "bad-request", "The client closed the request before its end.")


def _too_large(limits: ValidationLimits) -> Rejection:
    return _too_large_bytes(limits.max_body)


def _too_large_bytes(limit: int) -> Rejection:
    return Rejection(413, "body-too-large", f"The body is larger than {limit} bytes.", close=True)
