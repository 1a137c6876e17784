"""post_json against a real flaky upstream (uvicorn on a loopback port): attempts, keys, waits."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator

import httpx
import pytest

from mediz_infra import ConfigError
from mediz_infra.resilience import (
    CallTimeout,
    CircuitBreaker,
    CircuitOpen,
    Retry,
    UpstreamError,
    parse_retry_after,
    post_json,
)

from ._upstream import Step, Upstream, serve

pytestmark = pytest.mark.integration


class Sleeps:
    """An injected sleep that records the waits and does not wait (the upstream is real)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="module")
def served() -> Iterator[Upstream]:
    yield from serve(Upstream())


@pytest.fixture
def upstream(served: Upstream) -> Upstream:
    served.play(Step())
    return served


@pytest.fixture
async def client() -> httpx.AsyncClient:
    async with httpx.AsyncClient() as http:
        yield http  # type: ignore[misc]


def keys(upstream: Upstream) -> list[str]:
    return [r["headers"].get("idempotency-key", "") for r in upstream.requests]


async def test_retries_503_and_sends_the_same_idempotency_key(
    upstream: Upstream, client: httpx.AsyncClient
) -> None:
    upstream.play(Step(503), Step(502), Step(200, b'{"reply": "hi"}'))
    sleeps = Sleeps()
    answer = await post_json(
        upstream.url, {"q": "hello"}, client=client, retry=Retry(attempts=3, sleep=sleeps)
    )
    assert answer == {"reply": "hi"}
    assert len(upstream.requests) == 3
    assert len(set(keys(upstream))) == 1 and keys(upstream)[0]
    assert upstream.requests[0]["body"] == b'{"q":"hello"}'
    assert len(sleeps.waits) == 2


async def test_a_given_idempotency_key_is_sent(
    upstream: Upstream, client: httpx.AsyncClient
) -> None:
    upstream.play(Step(504), Step(200))
    await post_json(
        upstream.url,
        {},
        idempotency_key="order-17",
        client=client,
        retry=Retry(attempts=2, sleep=Sleeps()),
    )
    assert keys(upstream) == ["order-17", "order-17"]


@pytest.mark.parametrize("status", [400, 404, 422, 500])
async def test_no_retry_on_other_statuses_and_the_error_carries_an_excerpt(
    upstream: Upstream, client: httpx.AsyncClient, status: int
) -> None:
    upstream.play(Step(status, b'{"error": "' + b"x" * 1000 + b'"}'))
    with pytest.raises(UpstreamError) as error:
        await post_json(
            upstream.url, {}, client=client, retry=Retry(attempts=5, sleep=Sleeps()), excerpt=50
        )
    assert len(upstream.requests) == 1
    assert error.value.status == status
    assert len(error.value.body) == 50 and error.value.body.startswith('{"error": "xxx')


async def test_gives_up_after_the_attempts(upstream: Upstream, client: httpx.AsyncClient) -> None:
    upstream.play(Step(503))
    with pytest.raises(UpstreamError) as error:
        await post_json(upstream.url, {}, client=client, retry=Retry(attempts=4, sleep=Sleeps()))
    assert error.value.status == 503
    assert len(upstream.requests) == 4


async def test_429_retry_after_seconds_is_honoured(
    upstream: Upstream, client: httpx.AsyncClient
) -> None:
    upstream.play(Step(429, headers=(("Retry-After", "7"),)), Step(200))
    sleeps = Sleeps()
    await post_json(upstream.url, {}, client=client, retry=Retry(attempts=3, sleep=sleeps))
    assert sleeps.waits == [7.0]
    assert len(upstream.requests) == 2


async def test_retry_after_as_an_http_date_is_honoured(
    upstream: Upstream, client: httpx.AsyncClient
) -> None:
    when = email.utils.formatdate(time.time() + 50, usegmt=True)
    upstream.play(Step(503, headers=(("Retry-After", when),)), Step(200))
    sleeps = Sleeps()
    await post_json(upstream.url, {}, client=client, retry=Retry(attempts=3, sleep=sleeps))
    assert len(sleeps.waits) == 1 and 45 <= sleeps.waits[0] <= 50


async def test_retry_after_past_the_deadline_is_not_waited_for(
    upstream: Upstream, client: httpx.AsyncClient
) -> None:
    upstream.play(Step(503, headers=(("Retry-After", "120"),)), Step(200))
    sleeps = Sleeps()
    with pytest.raises(UpstreamError) as error:
        await post_json(
            upstream.url, {}, client=client, retry=Retry(attempts=3, deadline=5, sleep=sleeps)
        )
    assert error.value.retry_after == 120.0
    assert sleeps.waits == [] and len(upstream.requests) == 1


async def test_a_dropped_connection_is_retried(
    upstream: Upstream, client: httpx.AsyncClient
) -> None:
    upstream.play(Step(200, drop=True), Step(200, b'{"reply": "whole"}'))
    answer = await post_json(
        upstream.url, {}, client=client, retry=Retry(attempts=2, sleep=Sleeps())
    )
    assert answer == {"reply": "whole"}
    assert len(upstream.requests) == 2
    assert len(set(keys(upstream))) == 1


async def test_a_slow_answer_times_out_and_is_retried(
    upstream: Upstream, client: httpx.AsyncClient
) -> None:
    upstream.play(Step(200, delay=1.0), Step(200, b'{"reply": "fast"}'))
    answer = await post_json(
        upstream.url, {}, client=client, timeout=0.1, retry=Retry(attempts=2, sleep=Sleeps())
    )
    assert answer == {"reply": "fast"}
    assert len(upstream.requests) == 2


async def test_the_deadline_is_respected(upstream: Upstream, client: httpx.AsyncClient) -> None:
    upstream.play(Step(200, delay=2.0))
    with pytest.raises(CallTimeout, match="deadline"):
        await post_json(
            upstream.url,
            {},
            client=client,
            timeout=5.0,
            retry=Retry(attempts=10, base=0.01, max_wait=0.01, deadline=0.3),
        )
    assert len(upstream.requests) == 1  # cut by the deadline; no time left for another


async def test_an_open_breaker_sends_nothing(upstream: Upstream, client: httpx.AsyncClient) -> None:
    upstream.play(Step(503))
    breaker = CircuitBreaker("hook", minimum_calls=2, failure_rate=1.0)
    with pytest.raises(UpstreamError):
        await post_json(
            upstream.url,
            {},
            client=client,
            breaker=breaker,
            retry=Retry(attempts=2, sleep=Sleeps()),
        )
    assert breaker.state == "open"
    sent = len(upstream.requests)
    with pytest.raises(CircuitOpen):
        await post_json(upstream.url, {}, client=client, breaker=breaker)
    assert len(upstream.requests) == sent


async def test_not_json_and_bad_input(upstream: Upstream, client: httpx.AsyncClient) -> None:
    upstream.play(Step(200, b"<html>"))
    with pytest.raises(UpstreamError, match="200"):
        await post_json(upstream.url, {}, client=client, retry=None)
    with pytest.raises(ConfigError) as error:
        await post_json("ftp://user:secret@host/x?token=t", {}, client=client)
    assert error.value.field == "url" and "secret" not in str(error.value)
    assert "token" not in str(error.value)
    with pytest.raises(ConfigError) as error:
        await post_json(upstream.url, {"x": object()}, client=client)
    assert error.value.field == "payload"


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
