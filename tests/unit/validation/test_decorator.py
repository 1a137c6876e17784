"""@validate binds body, query, path, headers and cookies from the signature."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediz_infra import ConfigError
from mediz_infra.problems import PROBLEM_JSON, problem_handlers
from mediz_infra.validation import ValidationLimits, validate

from ._app import JSON, ChatOut, client


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_a_valid_request_reaches_the_endpoint_and_the_reply_is_validated() -> None:
    async with client() as c:
        r = await c.post(
            "/chat", json={"message": "hi", "since": "2024-05-01"}, params={"limit": 3}
        )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"reply": "HI", "limit": 3}


async def test_per_field_errors_name_location_message_and_type_across_sources() -> None:
    async with client() as c:
        r = await c.post("/chat", json={"mood": "meh", "count": "3"}, params={"limit": "0"})
    body = problem(r, 422)
    assert body["type"].endswith("/validation")
    located = {tuple(e["location"]): e["type"] for e in body["errors"]}
    assert located == {
        ("query", "limit"): "greater_than_equal",
        ("body", "message"): "missing",
        ("body", "mood"): "enum",
        ("body", "count"): "int_type",  # strict JSON: "3" is not an integer
    }
    assert all(set(e) == {"location", "message", "type"} for e in body["errors"])


async def test_path_headers_and_cookies() -> None:
    async with client() as c:
        ok = await c.get("/items/7", headers={"X-Request-ID": "abc", "Cookie": "session=s1"})
        bad = await c.get("/items/7", headers={"x-retries": "1_0"})
    assert ok.json() == {"id": 7, "request": "abc", "session": "s1"}
    located = {tuple(e["location"]): e["type"] for e in problem(bad, 422)["errors"]}
    assert located == {
        ("headers", "x-retries"): "int_parsing",
        ("headers", "x-request-id"): "missing",
        ("cookies", "session"): "missing",
    }


@pytest.mark.parametrize(
    "value",
    ["1_0", "\u0661\u0660", "\uff11\uff10", " 10", "+10", "10.0", "0x10", "1e1", "", "9" * 21],
)
async def test_integer_parameters_are_ascii_digits_only(value: str) -> None:
    async with client() as c:
        r = await c.post("/chat", json={"message": "hi"}, params={"limit": value})
    [error] = problem(r, 422)["errors"]
    assert error["location"] == ["query", "limit"]
    assert error["type"] in ("int_parsing", "int_too_long")
    assert value.strip() not in r.text or not value.strip()


@pytest.mark.parametrize("value", ["nan", "inf", "1_0.5", "1e999", "\u0663.\u0665"])
async def test_float_parameters_are_finite_decimal_numbers(value: str) -> None:
    async with client() as c:
        r = await c.post("/chat", json={"message": "hi"}, params={"ratio": value})
    [error] = problem(r, 422)["errors"]
    assert error["location"] == ["query", "ratio"]


async def test_repeated_parameters_fill_list_fields_each_checked() -> None:
    async with client() as c:
        ok = await c.post("/chat", json={"message": "hi"}, params=[("ids", "1"), ("ids", "2")])
        bad = await c.post(
            "/chat", json={"message": "hi"}, params=[("ids", "1"), ("ids", "\u0662")]
        )
    assert ok.status_code == 200
    [error] = problem(bad, 422)["errors"]
    assert error["location"] == ["query", "ids", 1]


async def test_form_bodies_where_allowed_and_refused_elsewhere() -> None:
    form = {"endpoint": "https://push.example/1", "priority": "2"}
    async with client() as c:
        ok = await c.post("/subscribe", data=form)
        digits = await c.post("/subscribe", data={**form, "priority": "\u0662"})
        json_ok = await c.post("/subscribe", json={"endpoint": "e", "topics": ["a"]})
        elsewhere = await c.post("/chat", data={"message": "hi"})
        malformed = await c.post(
            "/subscribe",
            content=b"endpoint",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert ok.status_code == 201
    assert ok.json() == {"endpoint": "https://push.example/1", "topics": [], "priority": 2}
    assert problem(digits, 422)["errors"][0]["location"] == ["body", "priority"]
    assert json_ok.status_code == 201
    assert problem(elsewhere, 415)["type"].endswith("/unsupported-media-type")
    assert problem(malformed, 400)["type"].endswith("/invalid-form")


async def test_an_empty_body_is_missing_unless_the_body_has_a_default() -> None:
    async with client() as c:
        required = await c.post("/chat")
        optional = await c.post("/optional")
    [error] = problem(required, 422)["errors"]
    assert error == {"location": ["body"], "message": "Field required", "type": "missing"}
    assert optional.json() == {"empty": True}


async def test_a_reply_that_fails_its_response_type_is_a_500_with_nothing_inside() -> None:
    async with client() as c:
        r = await c.get("/wrong")
    body = problem(r, 500)
    assert "reply" not in r.text and body["detail"] == "Internal error."


async def test_a_response_is_passed_through_untouched() -> None:
    async with client() as c:
        r = await c.get("/raw")
    assert r.text == "raw"


def test_the_wrapper_describes_the_endpoint() -> None:
    from ._app import chat

    info = chat.validation
    assert info.body.__name__ == "ChatIn"
    assert info.params["query"].__name__ == "Paging"
    assert info.response.__name__ == "ChatOut"
    assert info.summary == "Reply to a chat message."


class _Model(BaseModel):
    a: int


def test_unbindable_parameters_fail_at_decoration_naming_them() -> None:
    async def stray(request: Request, limit: int) -> None: ...

    with pytest.raises(ConfigError, match=r"stray\(limit\)"):
        validate(stray)

    async def loose(query: dict[str, int]) -> None: ...

    with pytest.raises(ConfigError, match=r"loose\(query\).*pydantic model"):
        validate(loose)

    def sync(body: _Model) -> None: ...

    with pytest.raises(ConfigError, match="async"):
        validate(sync)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_body", 0), ("read_timeout", -1.0), ("max_depth", 2.5), ("max_keys", True)],
)
def test_limits_refuse_non_positive_or_fractional_bounds(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        ValidationLimits(**{field: value})  # type: ignore[arg-type]


async def test_json_with_a_charset_parameter_and_plus_json_types() -> None:
    async with client() as c:
        utf8 = await c.post(
            "/chat",
            content=b'{"message": "hi"}',
            headers={"content-type": "application/json; charset=UTF-8"},
        )
        problem_json = await c.post(
            "/chat", content=b'{"message": "hi"}', headers={"content-type": "application/x+json"}
        )
        latin = await c.post(
            "/chat",
            content=b'{"message": "hi"}',
            headers={"content-type": "application/json; charset=latin-1"},
        )
    assert utf8.status_code == 200 and problem_json.status_code == 200
    problem(latin, 415)
    assert JSON  # the shared header is the plain JSON type


async def test_a_union_with_response_validates_the_model_part_and_passes_responses() -> None:
    @validate(status_code=201)
    async def maybe(request: Request) -> ChatOut | Response:
        if "missing" in request.query_params:
            return Response(status_code=404)
        if "wrong" in request.query_params:
            return {"reply": 1}  # type: ignore[return-value]
        return ChatOut(reply="ok", limit=1)

    assert maybe.validation.response is ChatOut
    app = Starlette(routes=[Route("/m", maybe)], exception_handlers=problem_handlers())
    async with client(app) as c:
        ok = await c.get("/m")
        missing = await c.get("/m", params={"missing": "1"})
        wrong = await c.get("/m", params={"wrong": "1"})
    assert (ok.status_code, ok.json()) == (201, {"reply": "ok", "limit": 1})
    assert missing.status_code == 404
    assert wrong.status_code == 500
