"""The HTTP response cache: ETags, 304s, Vary, and one user's data never reaching another."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediz_infra.cache import Cache, HttpCache
from mediz_infra.errors import ConfigError


@pytest.fixture(params=["memory"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def cache(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    prefix = f"h{uuid.uuid4().hex[:8]}"
    if backend == "memory":
        made = Cache("memory://", prefix=prefix)
    else:
        made = Cache(request.getfixturevalue("redis_url"), prefix=prefix)
    yield made
    await made.clear()
    await made.close()


def build(cache: Cache) -> tuple[Starlette, dict[str, int]]:
    http_cache = HttpCache(cache)
    calls = {"public": 0, "cookie": 0, "me": 0, "lang": 0, "fresh": 0}

    @http_cache(ttl=30, tags=["symptoms"])
    async def public(request: Request) -> Response:
        calls["public"] += 1
        user = request.headers.get("authorization", "anonymous")
        return JSONResponse({"n": calls["public"], "seen_by": user})

    @http_cache(ttl=30)
    async def sets_cookie(request: Request) -> Response:
        calls["cookie"] += 1
        response = JSONResponse({"user": request.query_params.get("u")})
        response.set_cookie("session", f"secret-{request.query_params.get('u')}")
        return response

    @http_cache(ttl=30, by_user=lambda r: r.headers.get("authorization"))
    async def me(request: Request) -> Response:
        calls["me"] += 1
        return JSONResponse({"me": request.headers.get("authorization")})

    @http_cache(ttl=30, vary=["accept-language"])
    async def lang(request: Request) -> Response:
        calls["lang"] += 1
        return JSONResponse({"lang": request.headers.get("accept-language")})

    @http_cache(ttl=30, allow_no_cache=True)
    async def fresh(request: Request) -> Response:
        calls["fresh"] += 1
        return JSONResponse({"n": calls["fresh"]})

    app = Starlette(
        routes=[
            Route("/public", public),
            Route("/cookie", sets_cookie),
            Route("/me", me),
            Route("/lang", lang),
            Route("/fresh", fresh),
        ]
    )
    return app, calls


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_shared_response_etag_and_304(cache: Cache) -> None:
    app, calls = build(cache)
    async with client(app) as http:
        first = await http.get("/public?b=2&a=1")
        second = await http.get("/public?a=1&b=2")  # same query, other order: same entry
        assert first.json() == second.json() == {"n": 1, "seen_by": "anonymous"}
        assert calls["public"] == 1
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag == second.headers["etag"]
        assert first.headers["cache-control"] == "public, max-age=30"
        not_modified = await http.get("/public?a=1&b=2", headers={"if-none-match": etag})
        assert not_modified.status_code == 304
        assert not_modified.content == b""
        weak_list = {"if-none-match": 'W/"x", ' + etag}
        assert (await http.get("/public?a=1&b=2", headers=weak_list)).status_code == 304
        # client no-cache does not bypass the server cache on this route
        no_cache = {"cache-control": "no-cache"}
        assert (await http.get("/public?a=1&b=2", headers=no_cache)).json()["n"] == 1
        await cache.invalidate_tags("symptoms")
        assert (await http.get("/public?a=1&b=2")).json()["n"] == 2


async def test_authorization_request_never_shares_an_entry(cache: Cache) -> None:
    app, calls = build(cache)
    async with client(app) as http:
        alice = await http.get("/public", headers={"authorization": "Bearer alice"})
        assert alice.json()["seen_by"] == "Bearer alice"
        # nor may a proxy or CDN in front of the app store it for others
        assert alice.headers["cache-control"].startswith("private")
        anonymous = await http.get("/public")
        assert anonymous.json()["seen_by"] == "anonymous"  # alice's response was not stored
        bob = await http.get("/public", headers={"authorization": "Bearer bob"})
        assert bob.json()["seen_by"] == "Bearer bob"  # nor is the anonymous one served to bob
        with_session = await http.get("/public", headers={"cookie": "session=carol"})
        assert with_session.json()["seen_by"] == "anonymous"
        assert with_session.headers["cache-control"].startswith("private")
        assert anonymous.headers["cache-control"] == "public, max-age=30"
        assert calls["public"] == 4


@pytest.mark.parametrize(
    "credentials",
    [
        {"x-api-key": "alice-key"},
        {"cookie": "auth_token=alice"},  # any cookie, not only the session ones
        {"proxy-authorization": "Basic YWxpY2U6eA=="},
    ],
)
async def test_no_credentialed_request_shares_an_entry(
    cache: Cache, credentials: dict[str, str]
) -> None:
    """Whatever form the credentials take, the response stays with the one who sent them."""
    http_cache = HttpCache(cache)
    calls = 0

    @http_cache(ttl=30)
    async def account(request: Request) -> Response:
        nonlocal calls
        calls += 1
        return JSONResponse({"n": calls, "headers": sorted(request.headers.keys())})

    app = Starlette(routes=[Route("/account", account)])
    async with client(app) as http:
        alice = await http.get("/account", headers=credentials)
        assert alice.headers["cache-control"].startswith("private")
        anonymous = await http.get("/account")
        assert anonymous.json()["n"] == 2  # alice's response was not stored for others
        assert anonymous.headers["cache-control"] == "public, max-age=30"
        again = await http.get("/account", headers=credentials)
        assert again.json()["n"] == 3  # nor the shared one served to her
        assert (await http.get("/account")).json()["n"] == 2  # the shared entry still works


async def test_more_credential_headers_and_harmless_cookies_are_configurable(
    cache: Cache,
) -> None:
    http_cache = HttpCache(cache, credential_headers=["x-tenant-token"], shared_cookies=["theme"])
    calls = 0

    @http_cache(ttl=30)
    async def page(request: Request) -> Response:
        nonlocal calls
        calls += 1
        return JSONResponse({"n": calls})

    app = Starlette(routes=[Route("/page", page)])
    async with client(app) as http:
        assert (await http.get("/page", headers={"x-tenant-token": "t1"})).json()["n"] == 1
        assert (await http.get("/page")).json()["n"] == 2
        shared = await http.get("/page", headers={"cookie": "theme=dark"})
        assert shared.json()["n"] == 2  # a cookie said to carry no credentials: shared
        mixed = await http.get("/page", headers={"cookie": "theme=dark; sid=x"})
        assert mixed.json()["n"] == 3
        assert (await http.get("/page", headers={"authorization": "Bearer x"})).json()["n"] == 4


def test_http_cache_options_are_checked() -> None:
    cache = Cache("memory://")
    with pytest.raises(ConfigError, match="credential_headers"):
        HttpCache(cache, credential_headers=["bad header"])


async def test_set_cookie_response_is_never_stored(cache: Cache) -> None:
    app, calls = build(cache)
    async with client(app) as http:
        a = await http.get("/cookie?u=alice")
        b = await http.get("/cookie?u=alice")
        assert calls["cookie"] == 2
        assert "secret-alice" in a.headers["set-cookie"]
        assert a.headers["cache-control"] == "private, no-store"
        assert b.json() == {"user": "alice"}


async def test_keyed_by_user_is_private_and_per_user(cache: Cache) -> None:
    app, calls = build(cache)
    async with client(app) as http:
        for _ in range(2):
            alice = await http.get("/me", headers={"authorization": "alice"})
            bob = await http.get("/me", headers={"authorization": "bob"})
            assert alice.json() == {"me": "alice"}
            assert bob.json() == {"me": "bob"}
        assert calls["me"] == 2
        assert alice.headers["cache-control"] == "private, max-age=30"
        assert "authorization" in alice.headers["vary"]


async def test_vary_and_allowed_no_cache(cache: Cache) -> None:
    app, calls = build(cache)
    async with client(app) as http:
        de = await http.get("/lang", headers={"accept-language": "de"})
        en = await http.get("/lang", headers={"accept-language": "en"})
        assert (de.json(), en.json()) == ({"lang": "de"}, {"lang": "en"})
        assert de.headers["vary"] == "accept-language"
        await http.get("/lang", headers={"accept-language": "de"})
        assert calls["lang"] == 2
        assert (await http.get("/fresh")).json() == {"n": 1}
        assert (await http.get("/fresh")).json() == {"n": 1}
        assert (await http.get("/fresh", headers={"cache-control": "no-cache"})).json() == {"n": 2}


async def test_post_passes_through(cache: Cache) -> None:
    app, _ = build(cache)
    async with client(app) as http:
        assert (await http.post("/public")).status_code == 405  # route is GET only


async def test_by_user_without_a_user_never_shares_a_personal_request(cache: Cache) -> None:
    http_cache = HttpCache(cache)
    calls = {"n": 0}

    @http_cache(ttl=30, by_user=lambda r: r.headers.get("x-user"))  # alice's token not mapped
    async def page(request: Request) -> Response:
        calls["n"] += 1
        return JSONResponse({"seen_by": request.headers.get("authorization", "anonymous")})

    app = Starlette(routes=[Route("/page", page)])
    async with client(app) as http:
        alice = await http.get("/page", headers={"authorization": "Bearer alice"})
        assert alice.json() == {"seen_by": "Bearer alice"}
        anonymous = await http.get("/page")
        assert anonymous.json() == {"seen_by": "anonymous"}  # alice's response was not stored
        bob = await http.get("/page", headers={"cookie": "session=bob"})
        assert bob.json() == {"seen_by": "anonymous"}  # computed for bob, not the shared entry
        assert calls["n"] == 3


async def test_the_computed_response_is_sent_with_its_background_task(cache: Cache) -> None:
    from starlette.background import BackgroundTask

    http_cache = HttpCache(cache)
    ran: list[str] = []

    @http_cache(ttl=30)
    async def page(request: Request) -> Response:
        return JSONResponse({"ok": 1}, background=BackgroundTask(ran.append, "audit"))

    app = Starlette(routes=[Route("/page", page)])
    async with client(app) as http:
        first = await http.get("/page")
        second = await http.get("/page")  # a hit: the endpoint (and its task) did not run
        assert first.json() == second.json() == {"ok": 1}
        assert first.headers["etag"] == second.headers["etag"]
    assert ran == ["audit"]
