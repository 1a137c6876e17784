"""The request body into its declared type: content type, read, parse, validate.

JSON (``application/json``, ``application/*+json``) always; a URL-encoded form only where the
endpoint allows it (``form=True``), since any web page can make a browser post a form
cross-site, while a JSON body needs a CORS preflight first. Multipart is refused (415).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.datastructures import ImmutableMultiDict

from ..types import Receive, Scope
from .jsonbody import parse_json
from .limits import ValidationLimits
from .params import ParamSource
from .reading import read_body
from .rejection import Rejection, field_error, field_errors, invalid

__all__ = ["BodyBinding"]

_FORM = "application/x-www-form-urlencoded"
_MISSING: Any = object()


class BodyBinding:
    """Binds a request's body to one type, compiled once per endpoint.

    Args:
        annotation: the body's type: a pydantic model, or any type pydantic validates.
        default: the value when the request has no body; ``_MISSING`` makes a body required.
        limits: the bounds (:class:`ValidationLimits`).
        strict: validate JSON with pydantic's strict mode (``"1"`` is not an int).
        form: also accept ``application/x-www-form-urlencoded`` (``annotation`` must be a model).
    """

    __slots__ = ("adapter", "annotation", "default", "form", "limits", "media", "strict")

    def __init__(
        self, annotation: Any, default: Any, limits: ValidationLimits, *, strict: bool, form: bool
    ) -> None:
        self.annotation = annotation
        self.default = default
        self.limits = limits
        self.strict = strict
        self.adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        self.form = (
            ParamSource("body", annotation, limits)
            if form and isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
        self.media = ["application/json", "application/*+json"] + ([_FORM] if form else [])

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    async def bind(self, scope: Scope, receive: Receive) -> Any:
        """The validated body.

        Raises:
            Rejection: 415, 413, 408, 400 or 422.
        """
        kind = self._kind(scope)  # refuse a wrong content type before reading anything
        raw = await read_body(scope, receive, self.limits)
        if not raw:
            if self.default is not _MISSING:
                return self.default
            raise invalid([field_error(("body",), "Field required", "missing")])
        if kind is None:
            raise self._unsupported()
        if kind == "form":
            return self._form(raw)
        parse_json(raw, self.limits)  # the bounds and duplicate keys, before pydantic
        try:
            return self.adapter.validate_json(raw, strict=self.strict)
        except ValidationError as exc:
            details = exc.errors(include_url=False, include_context=False, include_input=False)
            raise invalid(field_errors(("body",), details)) from None

    def _kind(self, scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == b"content-type":
                media, _, params = value.decode("latin-1").partition(";")
                media = media.strip().lower()
                charset = params.strip().lower()
                if charset and charset.replace(" ", "") not in ("charset=utf-8", 'charset="utf-8"'):
                    raise self._unsupported()
                if media == "application/json" or (
                    media.startswith("application/") and media.endswith("+json")
                ):
                    return "json"
                if media == _FORM and self.form is not None:
                    return "form"
                raise self._unsupported()
        return None  # no content type: fine for an empty body only

    def _unsupported(self) -> Rejection:
        return Rejection(
            415,
            "unsupported-media-type",
            f"The body must be one of: {', '.join(self.media)} (UTF-8).",
            close=True,
        )

    def _form(self, raw: bytes) -> Any:
        assert self.form is not None  # _kind returns "form" only then
        limits = self.limits
        try:
            text = raw.decode("utf-8")
            pairs = parse_qsl(
                text, keep_blank_values=True, strict_parsing=True, max_num_fields=limits.max_fields
            )
        except UnicodeDecodeError:
            raise Rejection(400, "invalid-form", "The form is not valid UTF-8.") from None
        except ValueError:  # a field without "=", or too many fields
            raise Rejection(
                400,
                "invalid-form",
                f"The form is malformed or has more than {limits.max_fields} fields.",
            ) from None
        return self.form.extract(ImmutableMultiDict(pairs))
