"""``post_json``: a resilient JSON POST to a webhook (needs the ``http`` extra: httpx).

One call sends ``payload`` as JSON with an ``Idempotency-Key`` header that stays the same on
every attempt (the upstream can drop a duplicate), through a :class:`~.retry.Retry` policy and,
optionally, a :class:`~.breaker.CircuitBreaker`. The answer is classified:

- 2xx: the parsed JSON (``None`` for an empty body) is returned;
- any other status: :class:`~mediz_infra.errors.UpstreamError` with the status, at most
  ``excerpt`` characters of the body and the ``Retry-After`` seconds (a number or an HTTP
  date); the retry policy retries 429, 502, 503 and 504 only;
- no answer (refused, reset, dropped mid-response, timed out): ``UpstreamError`` without a
  status (retried), ``from`` httpx's error.

Errors show the URL without its query string or credentials.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..errors import ConfigError, UpstreamError
from .breaker import CircuitBreaker
from .retry import Retry

__all__ = ["DEFAULT_RETRY", "parse_retry_after", "post_json"]

DEFAULT_RETRY = Retry(attempts=3, base=0.2, max_wait=2.0, deadline=30.0, name="post_json")
"""The policy :func:`post_json` uses unless given one: 3 attempts within 30 s."""


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); else ``None``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _shown(url: str) -> str:
    """``url`` without credentials, query or fragment: safe for errors and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


async def post_json(
    url: str,
    payload: Any,
    *,
    idempotency_key: str | None = None,
    client: httpx.AsyncClient | None = None,
    retry: Retry | None = DEFAULT_RETRY,
    breaker: CircuitBreaker | None = None,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    excerpt: int = 300,
) -> Any:
    """POST ``payload`` as JSON to ``url`` and return the parsed JSON answer.

    Args:
        url: the webhook.
        payload: anything ``json.dumps`` takes.
        idempotency_key: sent as ``Idempotency-Key`` on every attempt; default a new UUID per
            call (pass your own to make a retried *request* of yours idempotent too).
        client: an ``httpx.AsyncClient`` to reuse (recommended: it keeps connections); without
            one a client is made for the call.
        retry: the retry policy; ``None``: one attempt.
        breaker: judges every attempt (an open breaker refuses before any request is sent).
        timeout: seconds for one attempt (httpx's connect, read, write and pool timeouts).
        headers: extra request headers.
        excerpt: characters of an error body kept in :class:`~mediz_infra.errors.UpstreamError`.

    Raises:
        UpstreamError: a non-2xx answer, no answer, or a 2xx answer that is not JSON.
        CircuitOpen: the breaker refused the call.
        ConfigError: ``url`` is not an http(s) URL, or ``payload`` is not JSON-serialisable.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError("url", f"must be an http:// or https:// URL, got {_shown(url)!r}")
    try:
        body = json.dumps(payload, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise ConfigError("payload", f"cannot be sent as JSON: {exc}") from None
    key = idempotency_key or uuid.uuid4().hex
    sent = {
        "content-type": "application/json",
        "accept": "application/json",
        **dict(headers or {}),
        "idempotency-key": key,
    }
    shown = _shown(url)
    own = client is None
    http = client or httpx.AsyncClient()

    async def attempt() -> Any:
        try:
            response = await http.post(url, content=body, headers=sent, timeout=timeout)
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            raise UpstreamError(shown, None, reason=f"{reason}: {exc}".rstrip(": ")) from exc
        text = response.text
        if not 200 <= response.status_code < 300:
            raise UpstreamError(
                shown,
                response.status_code,
                body=text[:excerpt],
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise UpstreamError(
                shown, response.status_code, body=text[:excerpt], reason="not JSON"
            ) from None

    async def judged() -> Any:
        return await (breaker.call(attempt) if breaker is not None else attempt())

    try:
        return await (retry.call(judged) if retry is not None else judged())
    finally:
        if own:
            await http.aclose()
