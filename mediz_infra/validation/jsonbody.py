"""JSON bodies parsed under bounds: depth, key count, string length and integer digits are
checked on the raw text first, so the parser and pydantic only ever see a bounded document.

The order, cheapest first: UTF-8 (strict), then one regular-expression pass that blanks out
strings (checking their length) and counts keys and brackets, then ``json.loads`` with hooks
that refuse duplicate keys, over-long numbers and the non-JSON constants ``NaN``/``Infinity``,
then a check for lone surrogates (``"\\ud800"``), which no UTF-8 response could carry.
"""

from __future__ import annotations

import functools
import json
import math
import re
from itertools import accumulate
from typing import Any

from .limits import ValidationLimits
from .rejection import Rejection, field_error, invalid

__all__ = ["parse_json"]

# A JSON string token (escapes included): the "unrolled loop" form, linear and non-recursive.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Every byte but brackets, deleted by bytes.translate to leave the nesting skeleton.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_json(raw: bytes, limits: ValidationLimits) -> Any:
    """The document in ``raw``, within ``limits``.

    Raises:
        Rejection: 400 for text that is not UTF-8, not JSON, or over a structural bound
            (depth, keys, duplicate keys, lone surrogates); 422 for an over-long string or
            integer (located at ``body``, without the value).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("The body is not valid UTF-8.") from None
    _check_shape(raw, limits)
    try:
        document = _decoder(limits.max_int_digits).decode(text)
    except json.JSONDecodeError as exc:
        raise _bad(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:  # unreachable under any sane max_depth; never a 500
        raise _bad("The body is nested too deeply.") from None
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _bad("The body holds a lone UTF-16 surrogate (\\ud800-\\udfff).") from None
    return document


@functools.lru_cache(maxsize=16)
def _decoder(digits: int) -> json.JSONDecoder:
    """One decoder per digit bound: ``json.loads`` with hooks would build one per call."""
    return json.JSONDecoder(
        object_pairs_hook=_unique_keys,
        parse_int=_int_parser(digits),
        parse_float=_float_parser(digits),
        parse_constant=_no_constant,
    )


def _check_shape(raw: bytes, limits: ValidationLimits) -> None:
    """Depth, key count and string length, on the raw bytes, before any parsing."""
    skeleton = raw
    if b'"' in raw:
        if len(raw) > limits.max_string + 2:  # shorter bodies hold no over-long string
            longest = max((m.end() - m.start() - 2 for m in _STRING.finditer(raw)), default=0)
            if longest > limits.max_string:
                raise invalid(
                    [
                        field_error(
                            ("body",),
                            f"String should have at most {limits.max_string} bytes",
                            "string_too_long",
                        )
                    ]
                )
        skeleton = _STRING.sub(b'""', raw)
    if skeleton.count(b":") > limits.max_keys:
        raise _bad(f"The body has more than {limits.max_keys} object keys.")
    opens = skeleton.count(b"[") + skeleton.count(b"{")
    if opens > limits.max_depth:  # else it cannot nest deeper than that
        steps = skeleton.translate(None, _NOT_BRACKETS)
        if max(accumulate(map(_DEPTH_STEP.__getitem__, steps))) > limits.max_depth:
            raise _bad(f"The body nests deeper than {limits.max_depth} levels.")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _bad("The body repeats a key in one object.")
    return result


def _int_parser(digits: int) -> Any:
    def parse_int(text: str) -> int:
        if len(text) - text.startswith("-") > digits:
            raise _too_many_digits(digits)
        return int(text)

    return parse_int


def _float_parser(digits: int) -> Any:
    # A number token longer than any float needs: 17 significant digits, sign, point, exponent.
    longest = max(digits, 17) + 8

    def parse_float(text: str) -> float:
        if len(text) > longest:
            raise _too_many_digits(longest)
        value = float(text)
        if not math.isfinite(value):
            raise invalid(
                [field_error(("body",), "Number is too large for a float", "finite_number")]
            )
        return value

    return parse_float


def _too_many_digits(digits: int) -> Rejection:
    return invalid(
        [field_error(("body",), f"Number should have at most {digits} digits", "int_too_long")]
    )


def _no_constant(name: str) -> Any:
    raise _bad("The body is not valid JSON: NaN and Infinity are not JSON numbers.")


def _bad(detail: str) -> Rejection:
    return Rejection(400, "invalid-json", detail)
