"""@validate behind a real uvicorn on a loopback port: the hostile bodies arrive over TCP.

In-process tests (tests/unit/validation) count what the endpoint reads; here the point is what a
client sees on a real connection: a 100 MB upload is answered 413 long before it is sent whole,
and a Content-Length that promises more than arrives is answered 408 and the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import uvicorn
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.routing import Route

from mediz_infra.problems import problem_handlers
from mediz_infra.validation import ValidationLimits, validate
from tests._servers import free_port

pytestmark = pytest.mark.integration

HUNDRED_MB = 100 * 1024 * 1024
CHUNK = 65_536


class Note(BaseModel):
    text: str


@validate(limits=ValidationLimits(read_timeout=0.5))
async def note(body: Note) -> Note:
    return body


@validate  # default limits: 1 MiB, 10 s for the whole body
async def upload(body: Note) -> Note:
    return body


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[int]:
    app = Starlette(
        routes=[Route("/note", note, methods=["POST"]), Route("/upload", upload, methods=["POST"])],
        exception_handlers=problem_handlers(),
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head


async def upload_100_mb(port: int) -> tuple[int, bytes, int]:
    """Stream a 100 MB chunked body until an answer comes: (status or 0, head, bytes sent).

    Status 0: the connection was reset before the answer could be read. uvicorn closes right
    after the 413 with the client's bytes unread, so the kernel resets the connection, and on a
    busy machine the reset can reach the client first (uvicorn has no lingering close, and an
    ASGI app cannot read after its response).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # /upload, not /note: on a loaded machine 1 MiB may take longer than /note's 0.5 s
    writer.write(
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (CHUNK, b"a" * CHUNK)
    response = asyncio.create_task(read_response(reader))
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < HUNDRED_MB and not response.done():
            writer.write(chunk)
            await writer.drain()
            sent += CHUNK
            await asyncio.sleep(0)  # let the reader take in an answer as it arrives
    try:
        status, head = await asyncio.wait_for(response, 30)
    except ConnectionResetError:
        status, head = 0, b""
    writer.close()
    return status, head, sent


async def test_a_100_mb_upload_is_answered_413_before_it_is_sent() -> None:
    answers = []
    async with served() as port:
        for _ in range(5):  # until the 413 is read once (see upload_100_mb on resets)
            answers.append(await upload_100_mb(port))
            if answers[-1][0]:
                break
    assert all(sent < HUNDRED_MB for _, _, sent in answers)  # cut off long before the end
    status, head, _ = answers[-1]
    assert status == 413
    assert b"application/problem+json" in head


async def test_a_content_length_promising_more_is_answered_408_and_closed() -> None:
    async with served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /note HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"text": "'
        )
        await writer.drain()
        # The bound if no deadline fired; the deadline itself is 0.5 s.
        status, head = await asyncio.wait_for(read_response(reader), 30)
        rest = await asyncio.wait_for(reader.read(), 30)  # EOF: the server closed it
        writer.close()
    assert status == 408
    assert b"connection: close" in head.lower()
    assert b"body-timeout" in rest
    assert reader.at_eof()


async def test_a_well_formed_request_over_tcp() -> None:
    async with served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b'{"text": "hi"}'
        writer.write(
            b"POST /note HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        status, _ = await asyncio.wait_for(read_response(reader), 30)
        writer.close()
    assert status == 200
