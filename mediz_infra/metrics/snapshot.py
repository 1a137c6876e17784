"""Reading the store: requests per minute, error rate, p50/p95/p99, per-route table, charts.

:class:`MetricsReader` reads the per-second keys of the last ``live_window`` seconds, the
per-minute keys of the last ``history`` minutes and the running totals in one pipeline, and
:func:`summarize` turns those hashes into plain JSON-ready values (pure, tested without I/O).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .histogram import BOUNDS, quantile
from .keys import FIELD_SEP, SERIES_SEP
from .store import MetricsStore

__all__ = ["MetricsReader", "Series", "parse_series", "summarize"]

_NB = len(BOUNDS) + 1


@dataclass(slots=True)
class Series:
    """The counters of one (route, method, status class) series."""

    route: str
    method: str
    status_class: str
    requests: int = 0
    errors: int = 0
    micros: int = 0
    buckets: list[int] | None = None

    def add(self, name: str, amount: int) -> None:
        if name == "n":
            self.requests += amount
        elif name == "e":
            self.errors += amount
        elif name == "d":
            self.micros += amount
        elif name.startswith("b"):
            index = int(name[1:])
            if 0 <= index < _NB:
                if self.buckets is None:
                    self.buckets = [0] * _NB
                self.buckets[index] += amount


def parse_series(hashes: Sequence[Mapping[str, int]]) -> dict[tuple[str, str, str], Series]:
    """Sum per-series hashes (per-minute keys or the totals) into :class:`Series` values."""
    out: dict[tuple[str, str, str], Series] = {}
    for fields in hashes:
        for field, amount in fields.items():
            series, _, name = field.rpartition(FIELD_SEP)
            parts = series.split(SERIES_SEP)
            if len(parts) != 3:
                continue
            key = (parts[0], parts[1], parts[2])
            found = out.get(key)
            if found is None:
                found = out[key] = Series(*key)
            found.add(name, amount)
    return out


def _buckets(fields: Mapping[str, int]) -> list[int]:
    return [int(fields.get(f"b{i}", 0)) for i in range(_NB)]


def _quantiles(buckets: Sequence[int]) -> dict[str, float | None]:
    return {
        "p50": _ms(quantile(0.5, buckets)),
        "p95": _ms(quantile(0.95, buckets)),
        "p99": _ms(quantile(0.99, buckets)),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def summarize(
    now: float,
    seconds: Sequence[Mapping[str, int]],
    minutes: Sequence[Mapping[str, int]],
    *,
    live_window: int,
    table_minutes: int,
) -> dict[str, Any]:
    """The dashboard's data from raw hashes (pure).

    Args:
        now: the wall-clock second the reading was taken at.
        seconds: the per-second hashes, oldest first, the last one being ``int(now)``.
        minutes: the per-minute hashes, oldest first, the last one being this minute.
        live_window: how many of the last seconds the headline figures cover.
        table_minutes: how many of the last minutes the route table covers.
    """
    start = int(now) - len(seconds) + 1
    per_second = []
    live = [0] * _NB
    live_requests = live_errors = 0
    for offset, fields in enumerate(seconds):
        buckets = _buckets(fields)
        requests, errors = int(fields.get("n", 0)), int(fields.get("e", 0))
        per_second.append(
            {"t": start + offset, "requests": requests, "errors": errors, **_quantiles(buckets)}
        )
        if offset >= len(seconds) - live_window:
            live_requests += requests
            live_errors += errors
            live = [a + b for a, b in zip(live, buckets, strict=True)]
    minute0 = int(now) // 60 - len(minutes) + 1
    per_minute = []
    for offset, fields in enumerate(minutes):
        series = parse_series([fields])
        buckets = [0] * _NB
        requests = errors = 0
        for s in series.values():
            requests += s.requests
            errors += s.errors
            if s.buckets:
                buckets = [a + b for a, b in zip(buckets, s.buckets, strict=True)]
        per_minute.append(
            {"t": (minute0 + offset) * 60, "requests": requests, "errors": errors,
             **_quantiles(buckets)}
        )  # fmt: skip
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for s in parse_series(minutes[-table_minutes:]).values():
        row = table.setdefault(
            (s.route, s.method),
            {"route": s.route, "method": s.method, "requests": 0, "errors": 0, "micros": 0,
             "buckets": [0] * _NB, "statuses": {}},
        )  # fmt: skip
        row["requests"] += s.requests
        row["errors"] += s.errors
        row["micros"] += s.micros
        row["statuses"][s.status_class] = row["statuses"].get(s.status_class, 0) + s.requests
        if s.buckets:
            row["buckets"] = [a + b for a, b in zip(row["buckets"], s.buckets, strict=True)]
    routes = []
    for row in sorted(table.values(), key=lambda r: (-r["requests"], r["route"], r["method"])):
        buckets, micros = row.pop("buckets"), row.pop("micros")
        requests = row["requests"]
        row["per_minute"] = round(requests / table_minutes, 2)
        row["error_rate"] = round(row["errors"] / requests, 4) if requests else 0.0
        row["mean_ms"] = round(micros / requests / 1000, 3) if requests else None
        row.update(_quantiles(buckets))
        routes.append(row)
    return {
        "time": now,
        "window_seconds": live_window,
        "requests_per_minute": round(live_requests * 60 / live_window, 2),
        "requests": live_requests,
        "errors": live_errors,
        "error_rate": round(live_errors / live_requests, 4) if live_requests else 0.0,
        "latency_ms": _quantiles(live),
        "per_second": per_second,
        "per_minute": per_minute,
        "routes": routes,
        "route_window_minutes": table_minutes,
    }


class MetricsReader:
    """Reads the dashboard's data from a store.

    Args:
        store: the store the recorders flush to.
        live_window: seconds the headline figures cover (requests per minute, error rate,
            quantiles); the per-second chart shows twice as many.
        history: minutes of the per-minute chart.
        table_minutes: minutes the per-route table covers.
        clock: wall-clock seconds; injectable for tests.
    """

    def __init__(
        self,
        store: MetricsStore,
        *,
        live_window: int = 60,
        history: int = 60,
        table_minutes: int = 15,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.live_window = live_window
        self.history = history
        self.table_minutes = min(table_minutes, history)
        self.clock = clock

    async def snapshot(self) -> dict[str, Any]:
        """The dashboard's data now (see :func:`summarize`).

        Raises:
            One of :data:`~mediz_infra.backends.BACKEND_ERRORS` when the store fails.
        """
        now = self.clock()
        second, minute = int(now), int(now) // 60
        schema = self.store.schema
        seconds = [schema.second(s) for s in range(second - 2 * self.live_window + 1, second + 1)]
        minutes = [schema.minute(m) for m in range(minute - self.history + 1, minute + 1)]
        hashes = await self.store.read([*seconds, *minutes])
        return summarize(
            now,
            hashes[: len(seconds)],
            hashes[len(seconds) :],
            live_window=self.live_window,
            table_minutes=self.table_minutes,
        )

    async def totals(self) -> dict[tuple[str, str, str], Series]:
        """The running totals of every series (for ``/metrics``)."""
        (fields,) = await self.store.read([self.store.schema.total])
        return parse_series([fields])
