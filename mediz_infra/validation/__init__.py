"""Request validation: ``@validate`` parses a Starlette endpoint's body, query, path, headers
and cookies into pydantic models from its signature, under bounds checked before pydantic sees
the input, and answers bad input with RFC 9457 ``application/problem+json``. See
``docs/validation.md``.
"""

from __future__ import annotations

from ..errors import ResponseValidationError
from .decorator import ValidatedEndpoint, validate
from .limits import ValidationLimits
from .openapi import openapi_document, openapi_route

__all__ = [
    # decorator
    "ValidatedEndpoint",
    "validate",
    # errors
    "ResponseValidationError",
    # limits
    "ValidationLimits",
    # openapi
    "openapi_document",
    "openapi_route",
]
