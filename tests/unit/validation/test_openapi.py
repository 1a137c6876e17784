"""The OpenAPI 3.1 document of the @validate routes: valid, complete, served."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate as validate_spec
from starlette.routing import Mount, Route

from mediz_infra.validation import openapi_document, openapi_route

from ._app import build_app, client


def document() -> dict[str, Any]:
    app = build_app()
    routes = [*app.routes, Mount("/v2", routes=list(app.routes)), Route("/plain", lambda r: None)]
    return openapi_document(routes, title="test", version="1.0")


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate_spec(doc)  # raises on any structural error


def test_operations_carry_parameters_body_and_responses() -> None:
    doc = document()
    chat = doc["paths"]["/chat"]["post"]
    assert chat["summary"] == "Reply to a chat message."
    params = {(p["in"], p["name"]): p for p in chat["parameters"]}
    assert params["query", "limit"]["schema"]["maximum"] == 100
    assert params["query", "ids"]["schema"]["type"] == "array"
    assert chat["requestBody"]["required"] is True
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatIn"
    }
    assert set(chat["responses"]) == {"200", "400", "408", "413", "415", "422", "default"}
    assert "ChatOut" in doc["components"]["schemas"]
    assert "Mood" in doc["components"]["schemas"]  # a nested $defs entry moved to components

    item = doc["paths"]["/items/{item_id}"]["get"]
    located = {(p["in"], p["name"], p["required"]) for p in item["parameters"]}
    assert located == {
        ("path", "item_id", True),
        ("header", "x-request-id", True),
        ("header", "x-retries", False),
        ("cookie", "session", True),
    }
    assert set(item["responses"]) == {"200", "422", "default"}  # no body: no 4xx of bodies
    form = doc["paths"]["/subscribe"]["post"]
    assert "application/x-www-form-urlencoded" in form["requestBody"]["content"]
    assert "201" in form["responses"]


def test_mounts_are_prefixed_and_unvalidated_routes_left_out() -> None:
    doc = document()
    assert "/v2/chat" in doc["paths"]
    assert "/plain" not in doc["paths"]
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert "chat" in ids


async def test_the_route_serves_the_document_of_its_app() -> None:
    app = build_app()
    app.router.routes.append(openapi_route(title="test", version="1.0"))
    async with client(app) as c:
        first = await c.get("/openapi.json")
        second = await c.get("/openapi.json")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.content == second.content
    assert "/chat" in first.json()["paths"]
    assert "/openapi.json" not in first.json()["paths"]


def test_a_path_parameter_without_a_model_is_still_declared() -> None:
    from ._app import raw

    doc = openapi_document([Route("/things/{thing_id:int}/{name}", raw)], title="t", version="1")
    params = doc["paths"]["/things/{thing_id}/{name}"]["get"]["parameters"]
    assert [(p["name"], p["schema"].get("type")) for p in params] == [
        ("thing_id", "integer"),
        ("name", "string"),
    ]
    validate_spec(doc)
