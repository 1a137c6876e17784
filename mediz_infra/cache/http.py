"""Whole-response HTTP caching for Starlette GET routes: Cache-Control, strong ETags, 304s.

A route decorator, not a middleware, because the policy is per route (TTL, ``Vary``, private,
who the user is) and lives best next to the endpoint; it wraps the endpoint, never the app, so
other routes pay nothing::

    http_cache = HttpCache(cache)

    @http_cache(ttl=30, vary=["accept-language"], tags=["symptoms"])
    async def popular(request: Request) -> Response: ...

Safety rules (one user's data never reaches another):

- A request carrying credentials of any common form (``Authorization``,
  ``Proxy-Authorization``, ``X-API-Key``, any cookie, and whatever headers the app adds) is
  neither read from nor written to a shared entry: it goes straight to the endpoint, unless the
  route keys by user (``by_user=...``) and it names a user, in which case the user id is part of
  the key and the response is ``private``. Cookies the app declares harmless
  (``shared_cookies``, e.g. a theme) do not count.
- A response carrying ``Set-Cookie`` is never stored; neither is anything but a 200 with a
  body (streaming responses pass through).
- A client's ``Cache-Control: no-cache`` does not skip the server cache unless the route says
  ``allow_no_cache=True`` (otherwise any client could turn a cached route into a database load).

Every response of a cached route gets a strong ``ETag`` (SHA-256 of the body), ``Cache-Control``
(``public`` or ``private``, ``max-age=ttl``; always ``private`` for a request that went straight
to the endpoint because it carried credentials) and ``Vary``; a request whose ``If-None-Match``
matches gets an empty 304.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ConfigError
from .cache import Cache
from .decorator import CachedFunction

__all__ = ["CREDENTIAL_HEADERS", "HttpCache", "StoredResponse"]

Endpoint = Callable[[Request], Awaitable[Response]]
UserKey = Callable[[Request], str | None]
StoredResponse = tuple[int, list[tuple[str, str]], bytes]
_HOP = frozenset({"content-length", "set-cookie", "date", "etag", "cache-control", "vary"})


class _ResponseSerializer:
    """A stored response as bytes: a JSON line (status, headers), then the raw body."""

    def dumps(self, value: StoredResponse) -> bytes:
        status, headers, body = value
        return json.dumps([status, headers]).encode() + b"\n" + body

    def loads(self, raw: bytes) -> StoredResponse:
        head, _, body = raw.partition(b"\n")
        status, headers = json.loads(head)
        return int(status), [(str(k), str(v)) for k, v in headers], body


def etag_of(body: bytes) -> str:
    """A strong entity tag from the body's content."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    # If-None-Match uses the weak comparison: W/"x" matches "x"
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "cookie")
"""Request headers that make a request personal by default (see :class:`HttpCache`)."""

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 token: a header or cookie name


class HttpCache:
    """Caches whole GET responses of Starlette endpoints in a :class:`Cache`.

    A request carrying any credential header (:data:`CREDENTIAL_HEADERS` plus
    ``credential_headers``) never shares an entry; any cookie counts as a credential except
    those named in ``shared_cookies``.

    Args:
        cache: where responses are stored (its backend, prefix, timeouts, fail-open).
        credential_headers: more request headers that carry credentials (an app's own token
            header, say), on top of :data:`CREDENTIAL_HEADERS`.
        shared_cookies: cookie names known to carry no credentials and not to change the
            response (a theme, a consent flag): a request whose cookies are all among them
            still shares entries.

    Raises:
        ConfigError: a name is not a valid header or cookie name.
    """

    def __init__(
        self,
        cache: Cache,
        *,
        credential_headers: Iterable[str] = (),
        shared_cookies: Iterable[str] = (),
    ) -> None:
        extra = tuple(credential_headers)
        harmless = tuple(shared_cookies)
        for field, names in (("credential_headers", extra), ("shared_cookies", harmless)):
            for name in names:
                if not isinstance(name, str) or not _TOKEN.match(name):
                    raise ConfigError(field, f"{name!r} is not a valid header or cookie name")
        self.cache = cache
        self.credential_headers = tuple(
            dict.fromkeys((*CREDENTIAL_HEADERS, *(h.lower() for h in extra)))
        )
        self.shared_cookies = frozenset(harmless)

    def _personal(self, request: Request) -> bool:
        headers = request.headers
        for name in self.credential_headers:
            if name in headers:
                if name != "cookie" or not self.shared_cookies:
                    return True
                cookies = request.cookies  # an unparsable header counts as a credential
                if not cookies or not self.shared_cookies.issuperset(cookies):
                    return True
        return False

    def __call__(
        self,
        ttl: float,
        *,
        vary: Sequence[str] = (),
        private: bool = False,
        by_user: UserKey | None = None,
        allow_no_cache: bool = False,
        tags: Iterable[str] = (),
        stale_ttl: float = 0.0,
    ) -> Callable[[Endpoint], Endpoint]:
        """Decorate a Starlette endpoint ``async def f(request) -> Response``.

        Args:
            ttl: seconds a stored response is fresh; also the ``max-age`` sent.
            vary: request headers the response depends on: part of the key and of ``Vary``.
            private: ``Cache-Control: private`` (browsers only); the server stores it only
                when ``by_user`` is given.
            by_user: ``request -> user id or None``: key stored responses per user, which also
                lets requests with credentials be cached (privately).
            allow_no_cache: let a client's ``Cache-Control: no-cache`` skip the server cache.
            tags: invalidate stored responses with ``cache.invalidate_tags(...)``.
            stale_ttl: serve a stale response this long while one refresher recomputes it.

        Raises:
            ConfigError: ``ttl`` is not positive.
        """
        if ttl <= 0:
            raise ConfigError("ttl", f"must be positive, got {ttl}")
        vary_names = tuple(h.lower() for h in vary)
        vary_header = ", ".join(
            [*vary_names, *(self.credential_headers if by_user is not None else ())]
        )
        shared = not private and by_user is None
        control = f"{'public' if shared else 'private'}, max-age={int(ttl)}"
        personal = f"private, max-age={int(ttl)}"  # a proxy must not keep one user's response

        def decorate(endpoint: Endpoint) -> Endpoint:
            async def render(material: str, request: Request, holder: list[Response]) -> Any:
                response = await endpoint(request)
                holder.append(response)
                body = getattr(response, "body", None)
                if (
                    response.status_code != 200
                    or not isinstance(body, bytes)
                    or "set-cookie" in response.headers
                ):
                    return None  # not stored (None is never cached here)
                headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _HOP]
                return (200, headers, body)

            render.__qualname__ = f"{endpoint.__qualname__}[http]"
            render.__module__ = endpoint.__module__
            stored: CachedFunction[Any] = self.cache(
                ttl, key="http:{material}", tags=tags, stale_ttl=stale_ttl
            )(render)
            stored.serializer = _ResponseSerializer()

            @functools.wraps(endpoint)
            async def wrapper(request: Request) -> Response:
                if request.method not in ("GET", "HEAD"):
                    return await endpoint(request)
                user = by_user(request) if by_user is not None else None
                # no user id means the shared entry: never for a request carrying credentials
                if user is None and (private or self._personal(request)):
                    return self._finish(request, await endpoint(request), personal, vary_header)
                if not allow_no_cache or "no-cache" not in request.headers.get(
                    "cache-control", ""
                ):
                    material = _material(request, vary_names, user)
                    holder: list[Response] = []
                    hit = await stored(material, request, holder)
                    if holder:  # computed for this request: send it as it came (background
                        # task and repeated headers included), stored or not
                        return self._finish(request, holder[0], control, vary_header)
                    if hit is not None:
                        status, headers, body = hit
                        response = Response(body, status_code=status, headers=dict(headers))
                        return self._finish(request, response, control, vary_header)
                return self._finish(request, await endpoint(request), control, vary_header)

            wrapper.cached = stored  # type: ignore[attr-defined]
            return wrapper

        return decorate

    @staticmethod
    def _finish(request: Request, response: Response, control: str, vary: str) -> Response:
        body = getattr(response, "body", None)
        if response.status_code != 200 or not isinstance(body, bytes):
            return response
        if "set-cookie" in response.headers:
            response.headers["cache-control"] = "private, no-store"
            return response
        etag = etag_of(body)
        headers = {"etag": etag, "cache-control": control}
        if vary:
            headers["vary"] = vary
        match = request.headers.get("if-none-match")
        if match is not None and _matches(match, etag):
            return Response(status_code=304, headers=headers)
        response.headers.update(headers)
        return response


def _material(request: Request, vary: Sequence[str], user: str | None) -> str:
    """What identifies one stored response: path, sorted query, varied headers, user.

    Encoded as JSON before hashing, so no header value can be shaped to collide with another
    user's key.
    """
    query = sorted(request.query_params.multi_items())
    varied = [request.headers.get(name, "") for name in vary]
    text = json.dumps([request.url.path, query, varied, user], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
