"""How MemoryRedis reads its arguments: redis-py's encoding, integers, scores, TTLs and globs.

Pure functions over plain values, shared by every command group of
:class:`~mediz_infra.backends.memory.MemoryRedis`. Each refuses what a server (or redis-py's
encoder) refuses, with the same error: ``DataError`` for a value redis-py will not encode,
``ResponseError`` for one the server would reject.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import timedelta
from typing import TYPE_CHECKING

from redis.exceptions import DataError, ResponseError

if TYPE_CHECKING:
    from redis.typing import ExpiryT, KeysT, ZScoreBoundT

__all__ = [
    "INT64",
    "NOT_INT",
    "as_millis",
    "as_seconds",
    "encode",
    "glob_regex",
    "key_list",
    "parse_bound",
    "parse_score",
    "to_int",
]

NOT_INT = "value is not an integer or out of range"
INT64 = (-(2**63), 2**63 - 1)


def encode(value: object) -> bytes:
    """Encode like redis-py's Encoder: bytes as is, str as UTF-8, numbers by repr, bool refused."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):  # before int: bool is an int
        raise DataError(
            "Invalid input of type: 'bool'. Convert to a bytes, string, int or float first."
        )
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise DataError(
        f"Invalid input of type: {type(value).__name__!r}. "
        "Convert to a bytes, string, int or float first."
    )


def to_int(raw: bytes, message: str = NOT_INT) -> int:
    try:
        number = int(raw)
    except ValueError:
        raise ResponseError(message) from None
    if str(number).encode() != raw or not INT64[0] <= number <= INT64[1]:
        raise ResponseError(message)
    return number


def as_seconds(value: ExpiryT) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def as_millis(value: ExpiryT) -> float:
    return value.total_seconds() * 1000 if isinstance(value, timedelta) else float(value)


def parse_score(value: object) -> float:
    raw = encode(value).decode().strip().lower()
    try:
        score = float(raw)
    except ValueError:
        raise ResponseError("value is not a valid float") from None
    if math.isnan(score):
        raise ResponseError("value is not a valid float")
    return score


def parse_bound(value: ZScoreBoundT) -> tuple[float, bool]:
    """A ZRANGEBYSCORE bound as (score, exclusive)."""
    raw = encode(value).decode().strip()
    exclusive = raw.startswith("(")
    return parse_score(raw[1:] if exclusive else raw), exclusive


def key_list(keys: KeysT) -> list[bytes]:
    if isinstance(keys, bytes | str | memoryview):
        return [encode(keys)]
    return [encode(k) for k in keys]


@functools.lru_cache(maxsize=256)
def glob_regex(pattern: bytes) -> re.Pattern[bytes]:
    """Translate a Redis glob (``*``, ``?``, ``[a-z]``, ``[^x]``, ``\\x``) into a regex."""
    out: list[bytes] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        elif c == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i : i + 1]))
        elif c == b"[" and b"]" in pattern[i + 1 :]:
            j = i + 1
            negate = pattern[j : j + 1] == b"^"
            j += negate
            parts: list[bytes] = []
            while pattern[j : j + 1] != b"]":
                ch = pattern[j : j + 1]
                if ch == b"\\" and j + 1 < n:
                    j += 1
                    ch = pattern[j : j + 1]
                if pattern[j + 1 : j + 2] == b"-" and pattern[j + 2 : j + 3] not in (b"]", b""):
                    lo, hi = sorted((ch, pattern[j + 2 : j + 3]))
                    parts.append(re.escape(lo) + b"-" + re.escape(hi))
                    j += 3
                    continue
                parts.append(re.escape(ch))
                j += 1
            body = b"".join(parts)
            out.append((b"[^" if negate else b"[") + body + b"]" if body else b"(?!)")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(b"".join(out), re.DOTALL)
