"""Statements sampled from a Postgres pool's connections: a workload for the index advisor.

This module imports no driver (the advisor reads it without loading asyncpg).

:class:`QuerySampler` is registered on each connection a :class:`~.postgres.PoolManager` opens
(asyncpg's public ``Connection.add_query_logger``) when the pool is built with
``sample_queries=RATE``. A share ``RATE`` of the statements is kept: its text with literal
constants replaced by ``$n`` (as ``pg_stat_statements`` shows it, so one statement run with
different values is one entry), how many times it ran and how long it took, both scaled back up
by the rate. The table is bounded: past ``max_statements`` distinct texts, new ones are dropped
and counted in :attr:`QuerySampler.dropped`. Arguments are never kept (they may hold personal
data), only the statement's text.

The cost when on: asyncpg times every statement of a connection that has a logger and hands
the sampler a record through the event loop (``call_soon``: a record reaches the sampler one
loop iteration after its statement returns), a few microseconds per statement; a sampled one is
also normalised with two regular expressions. Off (the default), nothing is registered and
nothing is paid. Failed statements are sampled too: they are part of the workload.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["QuerySampler", "SampledStatement", "normalize_statement", "read_sampled"]

# A quoted string ('it''s' included), or a number standing alone (not part of a name like t1
# or a parameter like $1).
_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
_PARAM = re.compile(r"\$(\d+)")
_SPACE = re.compile(r"\s+")


def normalize_statement(sql: str) -> str:
    """``sql`` on one line with its literal constants replaced by ``$n`` parameters.

    Parameters already in the text keep their numbers; literals take the numbers after them.
    """
    text = _SPACE.sub(" ", sql).strip().rstrip(";").rstrip()
    numbers = [int(n) for n in _PARAM.findall(text)]
    next_number = max(numbers, default=0)

    def replace(_match: re.Match[str]) -> str:
        nonlocal next_number
        next_number += 1
        return f"${next_number}"

    return _LITERAL.sub(replace, text)


@dataclass(frozen=True)
class SampledStatement:
    """One statement of a sampled workload (counts and times scaled up by the sample rate).

    Attributes:
        sql: the normalised text, ``$n`` for every parameter and constant.
        calls: estimated executions.
        total_ms: estimated total execution time, in milliseconds.
    """

    sql: str
    calls: int
    total_ms: float


class QuerySampler:
    """Keeps a share of the statements a pool runs. See the module's docstring.

    Args:
        rate: the share of statements kept, in (0, 1].
        max_statements: the most distinct statement texts kept.
    """

    def __init__(self, rate: float, *, max_statements: int = 1000) -> None:
        if not 0 < rate <= 1:
            raise ConfigError("sample_queries", f"must be a share in (0, 1], got {rate!r}")
        if max_statements < 1:
            raise ConfigError("max_statements", f"must be >= 1, got {max_statements!r}")
        self.rate = rate
        self.max_statements = max_statements
        self.dropped = 0
        """Sampled statements not kept because the table was full."""
        self._table: dict[str, list[float]] = {}  # text -> [sampled calls, sampled seconds]
        self._random = random.Random().random

    def __call__(self, record: Any) -> None:
        """asyncpg's query-logger callback: one executed statement (a ``LoggedQuery``)."""
        if self.rate < 1 and self._random() >= self.rate:
            return
        text = record.query
        if not isinstance(text, str) or not text.strip():
            return
        key = normalize_statement(text)
        entry = self._table.get(key)
        if entry is None:
            if len(self._table) >= self.max_statements:
                self.dropped += 1
                return
            entry = self._table[key] = [0.0, 0.0]
        entry[0] += 1
        entry[1] += float(record.elapsed or 0.0)

    def statements(self, top: int | None = None) -> list[SampledStatement]:
        """The sampled statements, most total time first (at most ``top`` of them)."""
        scale = 1 / self.rate
        out = [
            SampledStatement(sql, max(1, round(calls * scale)), seconds * scale * 1000)
            for sql, (calls, seconds) in self._table.items()
        ]
        out.sort(key=lambda s: s.total_ms, reverse=True)
        return out if top is None else out[:top]

    def clear(self) -> None:
        """Forget everything sampled so far."""
        self._table.clear()
        self.dropped = 0

    def write(self, path: str | Path, top: int | None = None) -> int:
        """Write the sampled workload as JSON for ``mediz-infra db advise --sampled PATH``;
        returns how many statements were written."""
        statements = self.statements(top)
        document = {
            "format": "mediz-infra/sampled-statements/1",
            "rate": self.rate,
            "dropped": self.dropped,
            "statements": [
                {"sql": s.sql, "calls": s.calls, "total_ms": round(s.total_ms, 3)}
                for s in statements
            ],
        }
        Path(path).write_text(json.dumps(document, indent=1), encoding="utf-8")
        return len(statements)


def read_sampled(path: str | Path) -> list[SampledStatement]:
    """Read a file written by :meth:`QuerySampler.write`.

    Raises:
        ConfigError: the file is missing, not JSON, or not in that format (naming what is wrong).
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("sampled", f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError("sampled", f"{path} is not a JSON file") from None
    if not isinstance(document, dict) or document.get("format") != (
        "mediz-infra/sampled-statements/1"
    ):
        raise ConfigError("sampled", f"{path} was not written by QuerySampler.write()")
    out = []
    for i, item in enumerate(document.get("statements") or []):
        try:
            out.append(
                SampledStatement(str(item["sql"]), int(item["calls"]), float(item["total_ms"]))
            )
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                "sampled", f"{path}: statement {i} lacks sql, calls or total_ms"
            ) from None
    return out
