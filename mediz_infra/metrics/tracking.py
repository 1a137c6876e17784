"""Error tracking: unhandled exceptions grouped by fingerprint, counted, with the last traceback.

A fingerprint is the exception's type plus where it was raised: the innermost frame of the
application's own code (frames of the standard library and of installed packages are skipped,
so an ``asyncpg`` error raised deep in the driver groups by the line of yours that called it).
Per fingerprint the store keeps a count, the first and last time seen, the route, and the last
message and traceback, both redacted: URL passwords, ``password=``/``token=``-style values and
bearer tokens become ``***``, and no local variable is ever captured.

Each error is also recorded on the current OpenTelemetry span (``record_exception`` and an
error status), and forwarded to Sentry when ``sentry-sdk`` is installed and initialised with a
DSN; nothing here imports it otherwise.
"""

from __future__ import annotations

import hashlib
import re
import sys
import sysconfig
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from .._urls import redact

__all__ = ["ErrorEvent", "capture", "fingerprint_of", "redact_text"]

_SKIP = tuple(
    p for p in {sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("purelib"),
                sysconfig.get_paths().get("platlib")} if p
)  # fmt: skip
_SECRET_VALUE = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|authorization)"
    r"(\s*[=:]\s*)(['\"]?)[^\s'\",;&]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")

MAX_MESSAGE = 500
MAX_TRACEBACK = 8000


def redact_text(text: str) -> str:
    """``text`` with URL passwords, secret-looking values and bearer tokens replaced by ``***``."""
    text = _URL.sub(lambda m: redact(m.group(0)), text)
    text = _BEARER.sub(r"\1 ***", text)  # first: "Authorization: Bearer x" has two parts
    return _SECRET_VALUE.sub(r"\1\2\3***", text)


def _frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(tb)) if tb is not None else []


def _own(frame: traceback.FrameSummary) -> bool:
    return not frame.filename.startswith(_SKIP) and not frame.filename.startswith("<")


def fingerprint_of(exc: BaseException) -> tuple[str, str]:
    """``(fingerprint, location)``: a short hash of the type and the raising frame of your code.

    The location is ``module/file.py:function``; line numbers are left out, so an edit above
    the line does not start a new group.
    """
    frames = _frames(exc.__traceback__)
    own = [f for f in frames if _own(f)]
    chosen = own or frames
    if not chosen:
        location = "?"
    else:
        frame = chosen[-1]
        parts = frame.filename.replace("\\", "/").rsplit("/", 2)
        location = "/".join(parts[-2:]) + ":" + frame.name
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    digest = hashlib.sha1(f"{kind}|{location}".encode(), usedforsecurity=False).hexdigest()
    return digest[:16], location


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """One occurrence of an unhandled exception, redacted, ready for the store."""

    fingerprint: str
    type: str
    message: str
    location: str
    route: str
    traceback: str
    time: float
    context: Mapping[str, str] = field(default_factory=dict)
    """What else identifies the occurrence (a job's ``job_id`` and ``attempt``); redacted."""


def capture(
    exc: BaseException,
    *,
    route: str,
    clock: float | None = None,
    context: Mapping[str, str] | None = None,
) -> ErrorEvent:
    """An :class:`ErrorEvent` for ``exc``; records it on the current span and sends it to Sentry.

    ``route`` is where it happened (``"GET /api/x"``, ``"job <task>"``); ``context`` adds
    short identifying values (redacted, each cut to 200 characters), never arguments.
    """
    fingerprint, location = fingerprint_of(exc)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if len(text) > MAX_TRACEBACK:  # keep the end: the raising frames are there
        text = "…\n" + text[-MAX_TRACEBACK:]
    span = trace.get_current_span()
    if span.is_recording() and isinstance(exc, Exception):  # typed Exception by the API
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    _to_sentry(exc)
    return ErrorEvent(
        fingerprint=fingerprint,
        type=type(exc).__qualname__,
        message=redact_text(str(exc))[:MAX_MESSAGE],
        location=location,
        route=route,
        traceback=redact_text(text),
        time=time.time() if clock is None else clock,
        context={k: redact_text(str(v))[:200] for k, v in (context or {}).items()},
    )


def _to_sentry(exc: BaseException) -> None:
    """Forward to Sentry when the app installed and initialised ``sentry-sdk`` (with a DSN)."""
    sentry = sys.modules.get("sentry_sdk")
    if sentry is None:  # not imported by the app: not initialised either
        return
    try:
        client = sentry.get_client()
        if not client.is_active():
            return
        sentry.capture_exception(exc)
    except Exception:  # an error reporter must never raise into the request
        return
