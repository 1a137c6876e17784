"""The hostile inputs of issue 12, each answered with the right status, nothing echoed back,
and the body read no further than the limit.

Driven through raw ASGI (no HTTP client) so the test controls how the body arrives: in chunks,
endlessly, or not at all. tests/integration/test_validation_server.py sends the same over
real sockets to uvicorn.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mediz_infra.problems import PROBLEM_JSON

from ._app import JSON, build_app, client

CHUNK = 65_536
HUNDRED_MB = 100 * 1024 * 1024


class Sender:
    """An ASGI ``receive`` that hands out body chunks, counting how many were taken."""

    def __init__(self, chunks: Iterator[bytes], *, stall: bool = False) -> None:
        self.chunks = chunks
        self.taken = 0
        self.stall = stall

    async def __call__(self) -> dict[str, Any]:
        chunk = next(self.chunks, None)
        if chunk is None:
            if self.stall:  # a client that promised more and went quiet
                await asyncio.Event().wait()
            return {"type": "http.request", "body": b"", "more_body": False}
        self.taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}


async def call(
    path: str, receive: Sender, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or JSON).items()],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    await build_app()(scope, receive, send)
    start = sent[0]
    heads = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], heads, b"".join(m.get("body", b"") for m in sent[1:])


def endless(size: int = CHUNK) -> Iterator[bytes]:
    chunk = b"[" * size
    while True:
        yield chunk


async def test_a_100_mb_body_streamed_is_cut_off_at_the_limit() -> None:
    sender = Sender(endless())
    status, headers, body = await call("/chat", sender)
    assert status == 413
    assert headers["content-type"] == PROBLEM_JSON and headers["connection"] == "close"
    # Bounded memory: no more than the 1 MiB limit and one chunk was ever held.
    assert sender.taken <= 1_048_576 + CHUNK
    assert json.loads(body)["type"].endswith("/body-too-large")


async def test_a_declared_100_mb_body_is_refused_before_reading() -> None:
    sender = Sender(endless())
    status, _, _ = await call("/chat", sender, {**JSON, "content-length": str(HUNDRED_MB)})
    assert status == 413
    assert sender.taken == 0


async def test_a_body_that_promises_more_than_it_sends_is_cut_off_at_the_deadline() -> None:
    sender = Sender(iter([b'{"a": ']), stall=True)
    # /small has read_timeout=0.05 s; the pytest timeout is the bound if the deadline failed.
    status, headers, body = await call("/small", sender, {**JSON, "content-length": "500"})
    assert status == 408
    assert headers["connection"] == "close"
    assert json.loads(body)["type"].endswith("/body-timeout")


async def test_a_client_that_disconnects_mid_body_gets_a_400_not_a_500() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    sent: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/chat",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    await build_app()(scope, receive, send)
    assert sent == [400]


SLUG = "validation"


def nested(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


@pytest.mark.parametrize(
    ("name", "content", "status", "slug"),
    [
        ("100,000 levels of arrays", b"[" * 100_000 + b"]" * 100_000, 400, "invalid-json"),
        ("100,000 levels of objects", nested(100_000), 400, "invalid-json"),
        ("deep within the limit of bytes", nested(50_000)[:1_000_000], 400, "invalid-json"),
        ("invalid UTF-8", b'{"message": "\xff\xfe"}', 400, "invalid-json"),
        ("overlong UTF-8", b'{"message": "\xc0\xaf"}', 400, "invalid-json"),
        ("UTF-8 encoded surrogate", b'{"message": "\xed\xa0\x80"}', 400, "invalid-json"),
        ("lone surrogate escape", b'{"message": "\\ud800"}', 400, "invalid-json"),
        ("lone low surrogate key", b'{"\\udc00": 1, "message": "x"}', 400, "invalid-json"),
        ("5,000-digit integer", b'{"message": "x", "count": ' + b"7" * 5000 + b"}", 422, SLUG),
        ("5,000-digit float", b'{"message": "x", "count": 1.' + b"7" * 5000 + b"}", 422, SLUG),
        ("float overflow", b'{"message": "x", "count": 1e999}', 422, "validation"),
        ("NaN", b'{"message": "x", "count": NaN}', 400, "invalid-json"),
        ("duplicate keys", b'{"message": "x", "message": "y"}', 400, "invalid-json"),
        ("nested duplicate keys", b'{"message": "x", "d": {"k": 1, "k": 2}}', 400, "invalid-json"),
        ("truncated", b'{"message": "x"', 400, "invalid-json"),
        ("not JSON", b"message=hi", 400, "invalid-json"),
        ("BOM", b'\xef\xbb\xbf{"message": "x"}', 400, "invalid-json"),
        ("a string over the limit", b'{"message": "' + b"x" * 20_000 + b'"}', 422, "validation"),
        ("an int as a string", b'{"message": "x", "count": "1_0"}', 422, "validation"),
        ("too many keys", b"[" + b",".join([b'{"k": 1}'] * 2_000) + b"]", 400, "invalid-json"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "",
)
async def test_hostile_json(name: str, content: bytes, status: int, slug: str) -> None:
    async with client() as c:
        r = await c.post("/chat", content=content, headers=JSON)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    body = r.json()
    assert body["type"].endswith("/" + slug)
    assert len(r.content) < 600  # nothing long echoed back
    for internal in ("sys.set_int_max_str_digits", "codec", "position", "Traceback", "Error"):
        assert internal not in r.text


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b'{"message": "x"}'),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\nhi\r\n--x--"),
        ("application/x-www-form-urlencoded", b"message=x"),
        ("application/xml", b"<message>x</message>"),
        (None, b'{"message": "x"}'),
    ],
)
async def test_wrong_content_types_are_415(content_type: str | None, content: bytes) -> None:
    headers = {"content-type": content_type} if content_type else {}
    async with client() as c:
        r = await c.post("/chat", content=content, headers=headers)
    assert r.status_code == 415
    assert r.headers["content-type"] == PROBLEM_JSON


async def test_a_secret_sent_is_never_echoed() -> None:
    secret = "hunter2-very-secret"
    async with client() as c:
        r = await c.post("/chat", json={"message": "", "password": secret, "count": secret})
    assert r.status_code == 422
    assert secret not in r.text


async def test_a_huge_dict_key_in_an_error_location_is_cut() -> None:
    key = "k" * 5_000
    async with client() as c:
        r = await c.post("/small", json={"a": {key: 1}, "b": 1}, headers={"x": "y"})
    # /small takes dict[str, object]: fine; the point is the size bound of the answer
    assert r.status_code in (200, 413)
    async with client() as c:
        content = b'{"message": "x", "' + key.encode() + b'": 1}'
        r = await c.post("/chat", content=content, headers=JSON)
    assert r.status_code == 200  # unknown keys are ignored by the model


async def test_the_bounds_of_a_small_endpoint() -> None:
    async with client() as c:
        deep = await c.post("/small", content=b'{"a":[[[[1]]]]}', headers=JSON)
        keys = await c.post("/small", json={str(i): i for i in range(9)})
        fine = await c.post("/small", json={"a": [[[1]]]})
    assert deep.status_code == 400 and "4 levels" in deep.json()["detail"]
    assert keys.status_code == 400 and "8 object keys" in keys.json()["detail"]
    assert fine.json() == {"a": [[[1]]]}
