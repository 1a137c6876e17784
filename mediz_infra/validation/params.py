"""Query, path, header, cookie and form values into a pydantic model, strictly.

Values on the wire are strings, and pydantic's lax string parsing is generous: it takes
``"1_0"``, ``" 10"``, ``"+10"`` and ``"10.0"`` as the integer 10. Here every integer field's
value must be ASCII digits (an optional ``-``, at most ``max_int_digits`` of them) and every
float field's a JSON number, before pydantic sees it; every value is at most ``max_string``
characters. Only the model's own fields are read: other parameters are ignored.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from .limits import ValidationLimits
from .rejection import FieldError, field_error, field_errors, invalid

__all__ = ["ParamSource", "Where"]

Where = Literal["query", "path", "headers", "cookies", "body"]

_INT = re.compile(r"-?[0-9]+", re.ASCII)
_FLOAT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
_SEQUENCES = (list, set, frozenset, tuple)


@dataclass(frozen=True, slots=True)
class _Field:
    key: str  # what the model validates by (its alias, else its name)
    wire: str  # what the request calls it (a header's name is lower-case, with hyphens)
    number: Literal["int", "float"] | None
    many: bool


class ParamSource:
    """One of a request's parameter sets (the query, ...) bound to a pydantic model.

    Built once, when the endpoint is decorated; :meth:`extract` runs per request.
    """

    __slots__ = ("fields", "limits", "model", "validate", "where")

    def __init__(self, where: Where, model: type[BaseModel], limits: ValidationLimits) -> None:
        self.where = where
        self.model = model
        self.limits = limits
        self.fields = tuple(
            _describe(where, name, info) for name, info in model.model_fields.items()
        )
        self.validate: Callable[[Any], Any] = model.__pydantic_validator__.validate_python

    def extract(self, values: Any) -> BaseModel:
        """The model for ``values`` (a mapping, or a multi-mapping with ``getlist``).

        Raises:
            Rejection: 422 with one error per bad field.
        """
        data: dict[str, Any] = {}
        errors: list[FieldError] = []
        for field in self.fields:
            if field.many:
                raw = values.getlist(field.wire) if hasattr(values, "getlist") else []
                if not raw:
                    continue
                before = len(errors)
                for index, item in enumerate(raw):
                    self._check(field, item, errors, index)
                if len(errors) == before:
                    data[field.key] = raw
            else:
                value = values.get(field.wire)
                if value is not None and self._check(field, value, errors, None):
                    data[field.key] = value
        try:
            model: BaseModel = self.validate(data)
        except ValidationError as exc:
            # A field refused above is absent here: its "missing" would say it twice.
            refused = {error["location"][1] for error in errors}
            details = exc.errors(include_url=False, include_context=False, include_input=False)
            located = [
                d
                for d in _wire_locations(details, self)
                if not (d["loc"] and d["loc"][0] in refused)
            ]
            raise invalid([*errors, *field_errors((self.where,), located)]) from None
        if errors:
            raise invalid(errors)
        return model

    def _check(
        self, field: _Field, value: Any, errors: list[FieldError], index: int | None
    ) -> bool:
        """Whether ``value`` passes the bounds; if not, its error is added to ``errors``."""
        if not isinstance(value, str):  # a path convertor already made it an int or a UUID
            return True
        before = len(errors)
        where = (self.where, field.wire) if index is None else (self.where, field.wire, index)
        limits = self.limits
        if len(value) > limits.max_string:
            errors.append(
                field_error(
                    where,
                    f"String should have at most {limits.max_string} characters",
                    "string_too_long",
                )
            )
        elif field.number == "int":
            digits = len(value) - value.startswith("-")
            if not _INT.fullmatch(value):
                errors.append(
                    field_error(where, "Input should be an integer of ASCII digits", "int_parsing")
                )
            elif digits > limits.max_int_digits:
                errors.append(
                    field_error(
                        where,
                        f"Number should have at most {limits.max_int_digits} digits",
                        "int_too_long",
                    )
                )
        elif field.number == "float" and not (
            _FLOAT.fullmatch(value) and math.isfinite(float(value))
        ):
            errors.append(
                field_error(where, "Input should be a finite decimal number", "float_parsing")
            )
        return len(errors) == before


def _wire_locations(details: list[Any], source: ParamSource) -> list[Mapping[str, Any]]:
    """pydantic locates errors by field key; the client knows the wire name."""
    wire = {field.key: field.wire for field in source.fields}
    out = []
    for detail in details:
        loc = detail["loc"]
        if loc and loc[0] in wire:
            detail = {**detail, "loc": (wire[loc[0]], *loc[1:])}
        out.append(detail)
    return out


def _describe(where: Where, name: str, info: Any) -> _Field:
    alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
    key = alias or name
    wire = key.replace("_", "-").lower() if where == "headers" else key
    number, many = _shape(info.annotation)
    return _Field(key, wire, number, many)


def _shape(annotation: Any) -> tuple[Literal["int", "float"] | None, bool]:
    """Whether a field holds an int or a float, and whether it holds several values."""
    base = _without_none(annotation)
    many = typing.get_origin(base) in _SEQUENCES
    if many:
        args = typing.get_args(base)
        base = _without_none(args[0]) if args else Any
    if base is int:
        return "int", many
    if base is float:
        return "float", many
    return None, many


def _without_none(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _without_none(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return _without_none(rest[0])
    return annotation
