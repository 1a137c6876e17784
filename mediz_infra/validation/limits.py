"""The bounds every validated request is held to, checked before pydantic sees any input."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ..errors import ConfigError

__all__ = ["ValidationLimits"]


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    """Bounds on what a validated endpoint accepts. The defaults suit a JSON API.

    Each bound is checked cheaply on the raw input, before JSON parsing or pydantic, so a
    hostile body costs at most ``max_body`` bytes of memory and one linear scan.

    Attributes:
        max_body: largest body in bytes: a larger ``Content-Length`` is refused (413) before
            reading, and a body streaming past it is cut off at this size.
        read_timeout: seconds allowed to receive the whole body; a body that stops arriving
            is answered 408 and its connection closed.
        max_depth: deepest nesting of JSON arrays and objects (400 past it).
        max_keys: most object keys in one JSON document, all objects together (400 past it).
        max_string: longest JSON string (in bytes as sent, escapes counted as written) or
            query, path, header, cookie or form value (in characters); 422 past it.
        max_int_digits: most digits of an integer, in JSON or a parameter (422 past it).
        max_fields: most fields in a form body (400 past it).

    Raises:
        ConfigError: a bound is not a positive number (naming it).
    """

    max_body: int = 1_048_576
    read_timeout: float = 10.0
    max_depth: int = 32
    max_keys: int = 1_000
    max_string: int = 10_000
    max_int_digits: int = 20
    max_fields: int = 100

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(spec.name, f"expected a number, got {type(value).__name__}")
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(spec.name, f"expected a positive number, got {value}")
            if spec.name != "read_timeout" and not isinstance(value, int):
                raise ConfigError(spec.name, f"expected a whole number, got {value}")
