"""The running totals in the Prometheus text exposition format (version 0.0.4).

Two metric families, summed over every process that flushes to the store:

- ``http_server_request_duration_seconds`` (histogram: ``_bucket{le=...}``, ``_sum``,
  ``_count``) labelled ``http_route``, ``http_request_method``, ``http_response_status_class``;
- ``http_server_errors_total`` (counter): the 5xx responses by route and method.

Plus whatever gauges the app registered (pool usage, queue depths), as ``mediz_<name>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from .histogram import BOUNDS
from .snapshot import Series

__all__ = ["CONTENT_TYPE", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = "http_server_request_duration_seconds"


def _float(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value))


_LE_TEXT = [*(_float(b) for b in BOUNDS), "+Inf"]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _metric_name(name: str) -> str:
    clean = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    return clean if not clean[:1].isdigit() else "_" + clean


def render(series: Iterable[Series], gauges: Mapping[str, float] | None = None) -> str:
    """The exposition text of ``series`` (and ``gauges``: name -> value)."""
    lines = [
        f"# HELP {_NAME} Duration of HTTP server requests.",
        f"# TYPE {_NAME} histogram",
    ]
    errors: list[str] = []
    for s in sorted(series, key=lambda s: (s.route, s.method, s.status_class)):
        labels = (
            f'http_route="{_escape(s.route)}",http_request_method="{_escape(s.method)}",'
            f'http_response_status_class="{s.status_class}"'
        )
        running = 0
        buckets = s.buckets or [0] * len(_LE_TEXT)
        for le, count in zip(_LE_TEXT, buckets, strict=True):
            running += count
            lines.append(f'{_NAME}_bucket{{{labels},le="{le}"}} {running}')
        lines.append(f"{_NAME}_sum{{{labels}}} {s.micros / 1_000_000!r}")
        lines.append(f"{_NAME}_count{{{labels}}} {s.requests}")
        if s.errors:
            errors.append(
                f'http_server_errors_total{{http_route="{_escape(s.route)}",'
                f'http_request_method="{_escape(s.method)}"}} {s.errors}'
            )
    lines += ["# HELP http_server_errors_total HTTP 5xx responses.",
              "# TYPE http_server_errors_total counter", *errors]  # fmt: skip
    for name, value in sorted((gauges or {}).items()):
        metric = _metric_name(f"mediz_{name}")
        lines += [f"# TYPE {metric} gauge", f"{metric} {_float(value)}"]
    return "\n".join(lines) + "\n"
