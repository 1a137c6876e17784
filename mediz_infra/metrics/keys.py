"""The store's key and field schema, shared by the recorder, both stores and the reader.

Every key carries one hash tag, ``{<prefix>:metrics}``, so a flush is one ``MULTI`` pipeline
even on Redis Cluster. Three kinds of hash, each with a TTL:

=======================================  ==========================================  =========
key                                      fields                                      TTL
=======================================  ==========================================  =========
``{mediz:metrics}:s:<epoch second>``     ``n`` requests, ``e`` 5xx, ``d`` µs, ``b<i>``  seconds_ttl
``{mediz:metrics}:m:<epoch minute>``     per series: ``<series>\\x1fn|e|d|b<i>``       minutes_ttl
``{mediz:metrics}:total``                per series, as above, since the first flush  total_ttl
=======================================  ==========================================  =========

A series is ``route \\x1e method \\x1e status class`` (``2xx``..``5xx``); ``b<i>`` counts the
requests in latency bucket ``i`` of :data:`~.histogram.BOUNDS`; ``d`` is the summed duration
in microseconds (integers, so ``HINCRBY`` adds them exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIELD_SEP", "SERIES_SEP", "KeySchema"]

SERIES_SEP = "\x1e"
"""Between a series' route, method and status class."""
FIELD_SEP = "\x1f"
"""Between a series and the name of one of its counters."""


@dataclass(frozen=True, slots=True)
class KeySchema:
    """Key names under one prefix (default ``mediz``)."""

    prefix: str = "mediz"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + ":metrics}"

    def second(self, epoch_second: int) -> str:
        return f"{self.tag}:s:{epoch_second}"

    def minute(self, epoch_minute: int) -> str:
        return f"{self.tag}:m:{epoch_minute}"

    @property
    def total(self) -> str:
        return f"{self.tag}:total"

    @property
    def errors(self) -> str:
        return f"{self.tag}:errors"

    def error(self, fingerprint: str) -> str:
        return f"{self.tag}:error:{fingerprint}"
