"""``@validate``: a Starlette endpoint's inputs parsed into pydantic models, from its signature.

Everything is worked out when the endpoint is decorated (which parameter reads what, the
validators, the bounds, the response serializer), so a request costs the reads and the
validations themselves and nothing else.
"""

from __future__ import annotations

import functools
import inspect
import operator
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ConfigError, ResponseValidationError
from .body import _MISSING, BodyBinding
from .limits import ValidationLimits
from .params import ParamSource, Where
from .rejection import FieldError, Rejection, invalid

__all__ = ["ValidatedEndpoint", "validate"]

_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])

_PARAMS: dict[str, Where] = {
    "query": "query",
    "path": "path",
    "headers": "headers",
    "cookies": "cookies",
}
_DEFAULT_LIMITS = ValidationLimits()


@dataclass(frozen=True)
class ValidatedEndpoint:
    """What ``@validate`` learnt from an endpoint; on the wrapper as ``.validation``.

    The OpenAPI document (:func:`mediz_infra.validation.openapi_document`) is built from it.
    """

    name: str
    summary: str | None
    description: str | None
    params: dict[Where, type[BaseModel]] = field(default_factory=dict)
    body: Any = None
    body_required: bool = False
    form: bool = False
    response: Any = None
    status_code: int = 200
    limits: ValidationLimits = _DEFAULT_LIMITS


def validate(
    endpoint: _F | None = None,
    *,
    response: Any = None,
    status_code: int = 200,
    limits: ValidationLimits | None = None,
    strict: bool = True,
    form: bool = False,
) -> Any:
    """Validate a Starlette endpoint's inputs (and optionally its output) with pydantic.

    The endpoint's parameters say what it reads, by name: ``body`` (the JSON body, any type
    pydantic validates), ``query``, ``path``, ``headers`` and ``cookies`` (each a pydantic
    model; header fields are matched with ``_`` as ``-``, case-insensitively), and any
    parameter annotated ``Request`` (or named ``request``) gets the request itself::

        @validate
        async def chat(request: Request, body: ChatIn, query: Paging) -> ChatOut: ...

    A request that does not fit is answered ``application/problem+json`` before the endpoint
    runs: 422 with per-field errors (``location``, ``message``, ``type``), 400 for malformed
    JSON or form data, 413 for a body over ``limits.max_body`` (refused while streaming),
    415 for a wrong content type, 408 for a body slower than ``limits.read_timeout``.

    Args:
        endpoint: the endpoint (``@validate`` without parentheses).
        response: the type the endpoint returns, validated and serialized as JSON with
            ``status_code``; default: the return annotation, unless that is a ``Response``
            (then whatever the endpoint returns is sent as it is).
        status_code: the status of a successful response built from ``response``.
        limits: the bounds on input (:class:`ValidationLimits`; default ``ValidationLimits()``).
        strict: pydantic's strict mode for JSON bodies: ``"1"`` is not an int, ``1.5`` not a
            string. Parameters are strings on the wire and always validated as such, with the
            ASCII-digit check on numbers.
        form: accept ``application/x-www-form-urlencoded`` bodies too (the body must be a
            model). Off by default: browsers post forms cross-site without a CORS preflight.

    Raises:
        ConfigError: at decoration, for a parameter it cannot bind (naming it) or an
            unresolvable annotation.

    The returned wrapper takes a ``Request`` (so it goes straight into a ``Route``); when the
    endpoint returns something that fails ``response``, it raises
    :class:`~mediz_infra.errors.ResponseValidationError` (a 500: the fault is the server's).
    """
    options = _Options(response, status_code, limits or _DEFAULT_LIMITS, strict, form)
    if endpoint is not None:
        return _compile(endpoint, options)
    return functools.partial(_compile, options=options)


@dataclass(frozen=True)
class _Options:
    response: Any
    status_code: int
    limits: ValidationLimits
    strict: bool
    form: bool


def _compile(func: Callable[..., Awaitable[Any]], options: _Options) -> Any:
    name = getattr(func, "__qualname__", repr(func))
    if not inspect.iscoroutinefunction(func):
        raise ConfigError("validate", f"{name} must be an async function")
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:  # NameError for a type defined where the module cannot see it
        raise ConfigError("validate", f"cannot resolve the annotations of {name}: {exc}") from None
    for hint in hints.values():
        _complete(hint, func, name)
    limits = options.limits
    sources: list[tuple[str, ParamSource]] = []
    params: dict[Where, type[BaseModel]] = {}
    body: tuple[str, BodyBinding] | None = None
    request_names: list[str] = []
    for param in inspect.signature(func).parameters.values():
        hint = hints.get(param.name, Any)
        if param.name == "request" or hint is Request:
            request_names.append(param.name)
        elif param.name == "body":
            default = _MISSING if param.default is inspect.Parameter.empty else param.default
            body = (
                param.name,
                BodyBinding(hint, default, limits, strict=options.strict, form=options.form),
            )
        elif param.name in _PARAMS:
            if not (isinstance(hint, type) and issubclass(hint, BaseModel)):
                raise ConfigError(
                    f"{name}({param.name})", "must be annotated with a pydantic model"
                )
            where = _PARAMS[param.name]
            sources.append((param.name, ParamSource(where, hint, limits)))
            params[where] = hint
        else:
            raise ConfigError(
                f"{name}({param.name})",
                "is not one of request, body, query, path, headers, cookies",
            )
    if options.form and body is not None and body[1].form is None:
        raise ConfigError(f"{name}(body)", "form=True needs the body to be a pydantic model")
    response_type = options.response
    if response_type is None:
        response_type = _model_part(hints.get("return"))
    dump: Callable[[Any], bytes] | None = None
    if response_type is not None:
        adapter: TypeAdapter[Any] = TypeAdapter(response_type)
        validate_out = adapter.validate_python
        dump_json = adapter.dump_json

        def dump(value: Any) -> bytes:
            try:
                return dump_json(validate_out(value))
            except ValidationError as exc:
                raise ResponseValidationError(name, exc.error_count()) from None

    status = options.status_code
    doc = inspect.getdoc(func)
    info = ValidatedEndpoint(
        name=name,
        summary=doc.splitlines()[0] if doc else None,
        description=doc,
        params=params,
        body=body[1].annotation if body else None,
        body_required=body[1].required if body else False,
        form=options.form,
        response=response_type,
        status_code=status,
        limits=limits,
    )
    bound_sources = tuple(sources)
    body_name, binding = body if body else (None, None)
    readers: dict[Where, Callable[[Request], Any]] = {
        "query": lambda r: r.query_params,
        "path": lambda r: r.path_params,
        "headers": lambda r: r.headers,
        "cookies": lambda r: r.cookies,
    }
    plan = tuple((arg, source, readers[source.where]) for arg, source in bound_sources)
    request_args = tuple(request_names)

    async def endpoint(request: Request) -> Response:
        kwargs: dict[str, Any] = dict.fromkeys(request_args, request)
        errors: list[FieldError] = []
        try:
            for arg, source, read in plan:
                try:
                    kwargs[arg] = source.extract(read(request))
                except Rejection as rejection:
                    errors.extend(rejection.errors)
            if binding is not None:
                try:
                    kwargs[body_name] = await binding.bind(request.scope, request.receive)  # type: ignore[index]
                except Rejection as rejection:
                    if rejection.status != 422:
                        raise
                    errors.extend(rejection.errors)
            if errors:
                raise invalid(errors)
        except Rejection as rejection:
            return rejection.response()
        result = await func(**kwargs)
        if isinstance(result, Response):
            return result
        if dump is not None:
            return Response(dump(result), status_code=status, media_type="application/json")
        if isinstance(result, BaseModel):
            return Response(result.model_dump_json(), status, media_type="application/json")
        return JSONResponse(result, status_code=status)

    # Not functools.wraps: its __wrapped__ would show Starlette the endpoint's own signature.
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(endpoint, attribute, getattr(func, attribute, None))
    endpoint.validation = info  # type: ignore[attr-defined]
    return endpoint


def _complete(hint: Any, func: Callable[..., Any], name: str) -> None:
    """Finish a model whose annotations pydantic could not resolve where it was defined
    (a model made in a function or an ``exec``), in the endpoint's module namespace."""
    if not (isinstance(hint, type) and issubclass(hint, BaseModel)):
        return
    if getattr(hint, "__pydantic_complete__", True):
        return
    try:
        hint.model_rebuild(_types_namespace=dict(getattr(func, "__globals__", {})))
    except Exception as exc:
        raise ConfigError(
            "validate", f"cannot resolve the annotations of {hint.__name__} for {name}: {exc}"
        ) from None


def _is_response(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Response)


def _model_part(annotation: Any) -> Any:
    """The part of a return annotation to validate: ``-> Out | Response`` validates ``Out``
    and lets a ``Response`` through; ``-> Response``, ``-> Any`` and none validate nothing."""
    if annotation is None or annotation is Any or _is_response(annotation):
        return None
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if not _is_response(arg)]
        if not rest or rest == [type(None)]:
            return None
        return functools.reduce(operator.or_, rest) if len(rest) > 1 else rest[0]
    return annotation
