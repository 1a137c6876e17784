"""The workload the advisor reads: statements with how often they run and how long they take.

Three sources: the top statements by total time from ``pg_stat_statements`` (read by the
advisor over its connection), a file of SQL statements (:func:`load_sql_file`, pure), and the
statements a pool sampled (``PoolManager(sample_queries=...)``, :func:`sampled_workload`).
This module also reads which columns the workload's ``UPDATE`` statements write
(:func:`updated_columns`), since an index on such a column costs every one of those updates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ...backends.sampling import QuerySampler, read_sampled
from ...errors import ConfigError

__all__ = [
    "Statement",
    "load_sql_file",
    "plannable",
    "sampled_workload",
    "split_sql",
    "updated_columns",
]


@dataclass(frozen=True)
class Statement:
    """One statement of the workload.

    Attributes:
        sql: the statement's text; ``$1``, ``$2`` ... for parameters (as pg_stat_statements
            shows constants).
        calls: how many times it ran (1 for a statement from a file).
        total_ms: its total execution time in milliseconds, ``None`` when unknown (a file).
        source: ``"pg_stat_statements"``, the file's name with the statement's line, or
            ``"pool sample"``.
    """

    sql: str
    calls: int = 1
    total_ms: float | None = None
    source: str = ""

    @property
    def mean_ms(self) -> float | None:
        """Mean execution time per call, ``None`` when unknown."""
        return None if self.total_ms is None else self.total_ms / max(self.calls, 1)

    @property
    def short(self) -> str:
        """The statement on one line, at most 80 characters."""
        text = " ".join(self.sql.split())
        return text if len(text) <= 80 else text[:77] + "..."


def split_sql(text: str) -> list[tuple[int, str]]:
    """Split SQL text on ``;`` outside quotes, comments and dollar-quoted bodies.

    Returns ``(line, statement)`` pairs, the line (1-based) where each statement starts;
    empty statements and comment-only ones are dropped.
    """
    found: list[tuple[int, str]] = []
    start, i, n = 0, 0, len(text)
    while i < n:
        char = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif char in "'\"":
            end = text.find(char, i + 1)
            while end >= 0 and text.startswith(char * 2, end):
                end = text.find(char, end + 2)
            i = n if end < 0 else end + 1
        elif char == "$" and (tag := re.match(r"\$[A-Za-z_]*\$", text[i:])):
            end = text.find(tag.group(), i + len(tag.group()))
            i = n if end < 0 else end + len(tag.group())
        elif char == ";":
            found.append((start, text[start:i]))
            start = i = i + 1
        else:
            i += 1
    found.append((start, text[start:]))
    result: list[tuple[int, str]] = []
    for offset, chunk in found:
        lead = _LEADING.match(chunk)
        start = lead.end() if lead else 0
        body = chunk[start:].strip()
        if _strip_comments(body).strip():
            result.append((text.count("\n", 0, offset + start) + 1, body))
    return result


# Whitespace and comments before a statement: its line is where its first word is.
_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", sql, flags=re.DOTALL)


def load_sql_file(path: str | Path) -> list[Statement]:
    """Read a file of SQL statements separated by ``;``, each counted as one call.

    Raises:
        ConfigError: the file cannot be read (named as ``file``, with the reason).
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            "file",
            f"cannot read {str(source)!r}: {exc}; pass a readable UTF-8 file of SQL "
            "statements separated by ';'",
        ) from None
    return [Statement(sql, source=f"{source.name}:{line}") for line, sql in split_sql(text)]


def sampled_workload(source: QuerySampler | str | Path, top: int | None = None) -> list[Statement]:
    """The statements a pool sampled, most total time first: from the pool's
    :attr:`~mediz_infra.backends.PoolManager.query_sampler` itself, or from the file its
    :meth:`~mediz_infra.backends.QuerySampler.write` wrote.

    Raises:
        ConfigError: the file cannot be read or was not written by ``QuerySampler.write``.
    """
    sampled = source.statements() if isinstance(source, QuerySampler) else read_sampled(source)
    sampled = sorted(sampled, key=lambda s: s.total_ms, reverse=True)
    if top is not None:
        sampled = sampled[:top]
    return [Statement(s.sql, s.calls, s.total_ms, source="pool sample") for s in sampled]


_PLANNABLE = re.compile(r"^\s*(select|with|update|delete)\b", re.IGNORECASE)


def plannable(sql: str) -> bool:
    """Whether an index can serve the statement: a ``SELECT``, ``WITH``, ``UPDATE`` or
    ``DELETE`` (``INSERT``, DDL and session commands read no table through an index)."""
    return _PLANNABLE.match(_strip_comments(sql)) is not None


_IDENT = r'(?:"[^"]+"|\w+)'
_UPDATE = re.compile(
    rf"^\s*UPDATE\s+(?:ONLY\s+)?((?:{_IDENT}\.)?{_IDENT})\s+(?:(?:AS\s+)?(?!SET\b){_IDENT}\s+)?"
    r"SET\s+(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_SET_END = re.compile(r"\s(?:WHERE|FROM|RETURNING)\s", re.IGNORECASE)


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith('"') else name.lower()


def updated_columns(statements: Iterable[Statement]) -> dict[tuple[str, str], dict[str, int]]:
    """``(schema or "", table)`` -> column -> calls of the workload's UPDATEs that set it."""
    found: dict[tuple[str, str], dict[str, int]] = {}
    for statement in statements:
        match = _UPDATE.match(_strip_comments(statement.sql))
        if not match:
            continue
        names = re.findall(_IDENT, match[1])
        key = (_unquote(names[0]) if len(names) == 2 else "", _unquote(names[-1]))
        assignments = _SET_END.split(" " + match[2] + " ", maxsplit=1)[0]
        columns = found.setdefault(key, {})
        depth, part = 0, ""
        for char in assignments + ",":
            if char == "," and depth == 0:
                target = part.split("=", 1)[0].strip().strip("()")
                for name in re.findall(_IDENT, target):
                    column = _unquote(name)
                    columns[column] = columns.get(column, 0) + statement.calls
                part = ""
                continue
            depth += (char == "(") - (char == ")")
            part += char
    return found
