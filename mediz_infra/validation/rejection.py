"""Why a request was refused, and its RFC 9457 answer.

Every refusal of the validation layer is a :class:`Rejection`: the status, a short detail that
never quotes the input, and for a 422 the per-field errors. It renders through
:func:`mediz_infra.problems.problem_response`, the one problem+json renderer of the package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from starlette.responses import Response

from ..problems import problem_response, problem_type

__all__ = ["FieldError", "Rejection", "field_errors"]

#: At most this many per-field errors are listed; the rest are counted in ``errors_omitted``.
MAX_ERRORS = 20
#: A message or a location part longer than this is cut (it may hold what the client sent).
_MAX_TEXT = 160
_MAX_LOC_PART = 64

FieldError = dict[str, Any]
"""One per-field error: ``{"location": ["body", "age"], "message": "...", "type": "..."}``."""


class Rejection(Exception):
    """A request refused before the endpoint ran.

    Attributes:
        status: 400, 408, 413, 415 or 422.
        slug: the last part of the problem ``type`` URI (``"invalid-json"``).
        detail: what was wrong, in general terms; never the input itself.
        errors: the per-field errors of a 422.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        errors: Sequence[FieldError] = (),
        *,
        close: bool = False,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = list(errors)
        self.close = close

    def response(self) -> Response:
        """The ``application/problem+json`` answer."""
        extensions: dict[str, Any] = {}
        if self.errors:
            extensions["errors"] = self.errors[:MAX_ERRORS]
            if len(self.errors) > MAX_ERRORS:
                extensions["errors_omitted"] = len(self.errors) - MAX_ERRORS
        # The body was not read to its end: the connection cannot carry another request.
        headers = {"Connection": "close"} if self.close else None
        return problem_response(
            self.status,
            detail=self.detail,
            type=problem_type(self.slug),
            headers=headers,
            **extensions,
        )


def invalid(errors: Sequence[FieldError]) -> Rejection:
    """The 422 for these per-field errors."""
    count = len(errors)
    noun = "field is" if count == 1 else "fields are"
    return Rejection(422, "validation", f"{count} request {noun} invalid.", errors)


def field_error(location: Iterable[str | int], message: str, kind: str) -> FieldError:
    """One per-field error, its texts cut to a safe length."""
    return {"location": [_part(p) for p in location], "message": _cut(message), "type": kind}


def field_errors(prefix: tuple[str, ...], details: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """pydantic's error details as per-field errors: location, message and type only.

    pydantic's ``input`` and ``ctx`` are dropped (they echo what was sent) and so is its
    documentation ``url``.
    """
    return [
        field_error((*prefix, *detail["loc"]), detail["msg"], detail["type"]) for detail in details
    ]


def _part(part: str | int) -> str | int:
    if isinstance(part, int):
        return part
    return part if len(part) <= _MAX_LOC_PART else part[:_MAX_LOC_PART] + "…"


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"
