"""An OpenAPI 3.1 document built from an app's ``@validate`` routes, and a route serving it.

Each validated route becomes one operation per method: its query, path, header and cookie
fields as parameters, its body as the request body (JSON, and a form where allowed), its
response type under its status, and the problem documents it may answer with (400, 408, 413,
415, 422, and ``default`` for everything else an app answers with problems: 401, 429, 503...).
Routes without ``@validate`` are left out: nothing is known about what they take.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from ..problems import PROBLEM_JSON
from .decorator import ValidatedEndpoint

__all__ = ["openapi_document", "openapi_route"]

_REF = "#/components/schemas/{model}"
_CONVERTOR = re.compile(r"{([^}:]+)(?::([^}]+))?}")
_CONVERTOR_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
}
_NON_WORD = re.compile(r"\W+")
_IN = {"query": "query", "path": "path", "headers": "header", "cookies": "cookie"}

_PROBLEM = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
        "errors_omitted": {"type": "integer"},
    },
    "required": ["type", "title", "status"],
}
_FIELD_ERROR = {
    "type": "object",
    "properties": {
        "location": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "message": {"type": "string"},
        "type": {"type": "string"},
    },
    "required": ["location", "message", "type"],
}
_REFUSALS = {
    "400": "Malformed JSON or form data, or a body over a structural bound.",
    "408": "The body did not arrive within the read deadline.",
    "413": "The body is larger than the limit.",
    "415": "The body's content type is not accepted.",
    "422": "Fields are missing or invalid; `errors` lists each.",
}


def openapi_document(
    routes: Iterable[BaseRoute],
    *,
    title: str,
    version: str,
    description: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the ``@validate`` routes among ``routes`` (and their mounts).

    Args:
        routes: an app's routes (``app.routes``).
        title, version, description: the document's ``info``.
    """
    builder = _Builder()
    paths: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for path, route in _walk(routes, ""):
        info: ValidatedEndpoint | None = getattr(route.endpoint, "validation", None)
        if info is None:
            continue
        methods = sorted(m for m in (route.methods or {"GET"}) if m != "HEAD")
        for method in methods:
            operation = builder.operation(route, info, path)
            if len(methods) > 1:
                operation["operationId"] += "_" + method.lower()
            operation["operationId"] = _unique(operation["operationId"], path, used)
            paths.setdefault(_CONVERTOR.sub(r"{\1}", path), {})[method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": {**builder.schemas, "Problem": _PROBLEM, "FieldError": _FIELD_ERROR}
        },
    }
    if description:
        document["info"]["description"] = description
    return document


def openapi_route(
    path: str = "/openapi.json",
    *,
    title: str,
    version: str,
    description: str | None = None,
) -> Route:
    """A ``GET`` route serving :func:`openapi_document` of the app it is mounted in.

    The document is built on the first request, from ``request.app.routes``, and the same bytes
    are served from then on.
    """
    cached: list[bytes] = []

    async def openapi(request: Request) -> Response:
        if not cached:
            document = openapi_document(
                request.app.routes, title=title, version=version, description=description
            )
            cached.append(json.dumps(document, separators=(",", ":")).encode())
        return Response(cached[0], media_type="application/json")

    return Route(path, openapi, methods=["GET"], include_in_schema=False)


def _unique(operation_id: str, path: str, used: set[str]) -> str:
    """Operation ids are unique in a document: an endpoint routed twice gets its path added."""
    candidate = operation_id
    if candidate in used:
        candidate = operation_id + "_" + _NON_WORD.sub("_", path).strip("_")
    number = 2
    while candidate in used:
        candidate = f"{operation_id}_{number}"
        number += 1
    used.add(candidate)
    return candidate


def _walk(routes: Iterable[BaseRoute], prefix: str) -> Iterator[tuple[str, Route]]:
    for route in routes:
        if isinstance(route, Route):
            yield prefix + route.path, route
        elif isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path)


class _Builder:
    """Collects the schemas every operation refers to, once each, under ``components``."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema(self, annotation: Any, mode: str = "validation") -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
        for name, definition in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, definition)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            name = schema.get("title", annotation.__name__)
            self.schemas.setdefault(name, schema)
            return {"$ref": _REF.format(model=name)}
        return schema

    def operation(self, route: Route, info: ValidatedEndpoint, path: str) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "operationId": re.sub(r"\W", "_", info.name.replace("<locals>.", "")),
        }
        if info.summary:
            operation["summary"] = info.summary
        if info.description and info.description != info.summary:
            operation["description"] = info.description
        parameters = self.parameters(info, path)
        if parameters:
            operation["parameters"] = parameters
        if info.body is not None:
            body_schema = self.schema(info.body)
            content = {"application/json": {"schema": body_schema}}
            if info.form:
                content["application/x-www-form-urlencoded"] = {"schema": body_schema}
            operation["requestBody"] = {"required": info.body_required, "content": content}
        operation["responses"] = self.responses(info)
        return operation

    def parameters(self, info: ValidatedEndpoint, path: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        declared: set[str] = set()
        for where, model in info.params.items():
            schema = TypeAdapter(model).json_schema(ref_template=_REF)
            for name, definition in schema.pop("$defs", {}).items():
                self.schemas.setdefault(name, definition)
            required = set(schema.get("required", ()))
            for field_name, field in model.model_fields.items():
                alias = field.validation_alias if isinstance(field.validation_alias, str) else None
                key = alias or field.alias or field_name
                wire = key.replace("_", "-") if where == "headers" else key
                parameter: dict[str, Any] = {
                    "name": wire,
                    "in": _IN[where],
                    "required": where == "path" or key in required,
                    "schema": schema.get("properties", {}).get(key, {}),
                }
                if field.description:
                    parameter["description"] = field.description
                out.append(parameter)
                if where == "path":
                    declared.add(wire)
        # Every {name} of the path must be declared, even if no model reads it.
        for match in _CONVERTOR.finditer(path):
            name, convertor = match.group(1), match.group(2) or "str"
            if name not in declared:
                out.append(
                    {
                        "name": name,
                        "in": "path",
                        "required": True,
                        "schema": _CONVERTOR_SCHEMAS.get(convertor, {"type": "string"}),
                    }
                )
        return out

    def responses(self, info: ValidatedEndpoint) -> dict[str, Any]:
        problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        success: dict[str, Any] = {"description": "Success."}
        if info.response is not None:
            success["content"] = {
                "application/json": {"schema": self.schema(info.response, "serialization")}
            }
        responses: dict[str, Any] = {str(info.status_code): success}
        refusals = dict(_REFUSALS)
        if info.body is None:
            for status in ("400", "408", "413", "415"):
                del refusals[status]
        for status, text in refusals.items():
            responses[status] = {"description": text, "content": problem}
        responses["default"] = {
            "description": "An error, as a problem document.",
            "content": problem,
        }
        return responses
