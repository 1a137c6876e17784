"""Reading Postgres plans (``EXPLAIN (FORMAT JSON, VERBOSE)``): pure functions, no I/O.

A plan is the JSON Postgres returns, as nested dicts. What the advisor needs from it: the scans
of each table with the predicates on their columns (:func:`scans`), the sorts directly above a
scan, the join conditions, which parameter (``$n``) is compared with which column (for
representative values), and which indexes a plan uses.

Predicates are read from the filter text Postgres prints, which is regular enough for the forms
an index can serve: ``col = $1``, ``col > 'x'::timestamptz``, ``col = ANY ($1)``,
``col IS NULL``, ``NOT col``. Anything else (an ``OR``, an expression on the column, a
comparison of two columns) is left alone: the advisor suggests nothing it cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .names import quote_ident

__all__ = [
    "Predicate",
    "Scan",
    "index_names",
    "parse_conjuncts",
    "parse_sort_key",
    "scans",
    "split_and",
    "total_cost",
]

Plan = Mapping[str, Any]
Kind = Literal["equality", "range", "constant"]

_IDENT = r'(?:(?:"[^"]+"|\w+)\.)?(?:"[^"]+"|\w+)'
# Casts as Postgres prints them: ::text, ::character varying, ::timestamp with time zone,
# ::numeric(10,2), ::integer[]
_CAST = re.compile(
    r'::(?:"[^"]+"|[a-z_]\w*(?: (?:with|without|time|zone|varying|precision)\b)*)'
    r"(?:\(\d+(?:,\d+)?\))?(?:\[\])?",
    re.IGNORECASE,
)
# "(email)" -> "email", but not "lower(email)": a function call stays, and is not indexable
_PAREN_IDENT = re.compile(rf"(?<![\w\"])\(({_IDENT}|\$\d+)\)")
_LITERAL = re.compile(r"^(?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false)$", re.IGNORECASE)
_PARAM = re.compile(r"^\$(\d+)$")
_COMPARE = re.compile(rf"^({_IDENT}|\$\d+|'(?:[^']|'')*'|-?\d+(?:\.\d+)?) (=|<|<=|>|>=) (.+)$")
_ANY = re.compile(rf"^({_IDENT}) = ANY \(?(.+?)\)?$")
_NULL_TEST = re.compile(rf"^({_IDENT}) IS (NOT )?NULL$")
_BOOL_TEST = re.compile(rf"^(NOT )?({_IDENT})$")
_FLIP = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SORT_KEY = re.compile(rf"^({_IDENT})( DESC)?(?: NULLS (?:FIRST|LAST))?$")


def _column(ident: str) -> str:
    """``o."Order Date"`` -> ``Order Date``: the column without its table alias or quotes."""
    last: str = re.findall(r'"[^"]+"|\w+', ident)[-1]
    return last[1:-1] if last.startswith('"') else last


def _is_ident(text: str) -> bool:
    return re.fullmatch(_IDENT, text) is not None and not _LITERAL.match(text)


@dataclass(frozen=True)
class Predicate:
    """One indexable condition on a column.

    Attributes:
        column: the column's name.
        op: ``=``, ``<``, ``<=``, ``>``, ``>=``, ``IS NULL``, ``IS NOT NULL``, ``IS TRUE`` or
            ``IS FALSE`` (a boolean column tested alone).
        value: the compared value as printed (``$1``, ``'open'::text``), ``None`` for tests.
        param: the parameter number when the value is one (``$2`` -> 2).
    """

    column: str
    op: str
    value: str | None = None
    param: int | None = None

    @property
    def kind(self) -> Kind:
        """``equality`` and ``range`` make index keys; ``constant`` (a NULL or boolean test,
        the same in every execution) makes a partial index's ``WHERE``."""
        if self.op == "=":
            return "equality"
        if self.op in ("<", "<=", ">", ">="):
            return "range"
        return "constant"

    def sql(self) -> str:
        """The predicate as a partial index's condition (constant predicates only)."""
        name = quote_ident(self.column)
        if self.op == "IS TRUE":
            return name
        if self.op == "IS FALSE":
            return f"NOT {name}"
        return f"{name} {self.op}"


def _strip_parens(text: str) -> str:
    """Remove parentheses that wrap the whole text, as often as they do."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, char in enumerate(text):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and i < len(text) - 1:
                return text  # "(a) AND (b)": the first "(" closes early
        text = text[1:-1].strip()
    return text


def split_and(condition: str) -> list[str] | None:
    """The top-level ``AND`` operands of a filter; ``None`` if it has a top-level ``OR``."""
    text = _strip_parens(condition)
    parts: list[str] = []
    depth, start, quoted, i = 0, 0, False, 0
    while i < len(text):
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted:
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            elif depth == 0 and text.startswith(" AND ", i):
                parts.append(text[start:i])
                start = i = i + 5
                continue
            elif depth == 0 and text.startswith(" OR ", i):
                return None
        i += 1
    parts.append(text[start:])
    return [_strip_parens(part) for part in parts]


def _normalise(conjunct: str) -> str:
    text = _CAST.sub("", conjunct)
    previous = None
    while previous != text:
        previous, text = text, _PAREN_IDENT.sub(r"\1", text)
    return _strip_parens(text)


def _value(text: str) -> tuple[str, int | None] | None:
    """A comparison's other side if it is a parameter or a literal; else ``None``."""
    text = _strip_parens(text)
    param = _PARAM.match(text)
    if param:
        return text, int(param.group(1))
    return (text, None) if _LITERAL.match(text) else None


def parse_conjuncts(condition: str | None) -> list[Predicate]:
    """The indexable predicates of a plan node's condition (``Filter``, ``Index Cond`` ...).

    Unreadable parts are skipped; a condition with a top-level ``OR`` yields nothing.
    """
    if not condition:
        return []
    parts = split_and(condition)
    if parts is None:
        return []
    found: list[Predicate] = []
    for raw in parts:
        part = _normalise(raw)
        if match := _NULL_TEST.match(part):
            found.append(Predicate(_column(match[1]), "IS NOT NULL" if match[2] else "IS NULL"))
        elif (match := _BOOL_TEST.match(part)) and _is_ident(match[2]):
            found.append(Predicate(_column(match[2]), "IS FALSE" if match[1] else "IS TRUE"))
        elif match := _ANY.match(part):
            other = _value(match[2])
            if other is not None:
                found.append(Predicate(_column(match[1]), "=", other[0], other[1]))
        elif match := _COMPARE.match(part):
            left, op, right = match[1], match[2], match[3]
            if _is_ident(left) and (other := _value(right)) is not None:
                found.append(Predicate(_column(left), op, other[0], other[1]))
            elif _is_ident(_strip_parens(right)) and (other := _value(left)) is not None:
                found.append(Predicate(_column(right), _FLIP[op], other[0], other[1]))
    return found


def parse_sort_key(key: str) -> tuple[str, bool] | None:
    """``"o.created_at DESC"`` -> ``("created_at", True)``; ``None`` for an expression."""
    match = _SORT_KEY.match(_normalise(key))
    return (_column(match[1]), bool(match[2])) if match else None


@dataclass(frozen=True)
class Scan:
    """One scan of a table in a plan, with what an index could serve.

    Attributes:
        schema: the table's schema.
        table: the table's name.
        alias: the name the statement gives it.
        node_type: ``Seq Scan``, ``Index Scan``, ``Bitmap Heap Scan`` ...
        rows: the rows the planner expects the scan to return.
        cost: the scan node's total cost.
        predicates: indexable predicates on the table's columns.
        sort: the keys of a ``Sort`` directly above this scan, as ``(column, descending)``,
            when every key is a plain column.
        sort_cost: that sort's own cost (its total minus the scan's), 0 without one.
        join_columns: this table's columns compared with another table's in a join condition.
        index: the index an ``Index Scan`` or ``Index Only Scan`` reads, ``None`` otherwise.
    """

    schema: str
    table: str
    alias: str
    node_type: str
    rows: float
    cost: float
    predicates: tuple[Predicate, ...] = ()
    sort: tuple[tuple[str, bool], ...] = ()
    sort_cost: float = 0.0
    join_columns: tuple[str, ...] = field(default=())
    index: str | None = None


_CONDITIONS = ("Filter", "Index Cond", "Recheck Cond")
_JOIN_CONDITIONS = ("Hash Cond", "Merge Cond", "Join Filter")


def _walk(node: Plan, parent: Plan | None = None) -> Iterator[tuple[Plan, Plan | None]]:
    yield node, parent
    for child in node.get("Plans", ()):
        yield from _walk(child, node)


def _root(plan: Any) -> Plan:
    """The top node of what ``EXPLAIN (FORMAT JSON)`` returned (a list of one ``{"Plan": ...}``)."""
    if isinstance(plan, list):
        plan = plan[0]
    top: Plan = plan.get("Plan", plan)
    return top


def total_cost(plan: Any) -> float:
    """The plan's estimated total cost."""
    return float(_root(plan)["Total Cost"])


def index_names(plan: Any) -> set[str]:
    """Every index a plan reads."""
    return {node["Index Name"] for node, _ in _walk(_root(plan)) if "Index Name" in node}


def _join_columns(root: Plan) -> dict[str, set[str]]:
    """Alias -> its columns that a join condition compares with another alias's column."""
    found: dict[str, set[str]] = {}
    pair = re.compile(rf"^({_IDENT}) = ({_IDENT})$")
    for node, _ in _walk(root):
        for key in _JOIN_CONDITIONS:
            parts = split_and(node.get(key) or "") or []
            for part in parts:
                match = pair.match(_normalise(part))
                if not match:
                    continue
                for ident in (match[1], match[2]):
                    names = re.findall(r'"[^"]+"|\w+', ident)
                    if len(names) == 2:
                        alias = names[0].strip('"')
                        found.setdefault(alias, set()).add(_column(ident))
    return found


def scans(plan: Any) -> list[Scan]:
    """Every scan of a table in ``plan``, in plan order."""
    root = _root(plan)
    joins = _join_columns(root)
    found: list[Scan] = []
    for node, parent in _walk(root):
        if "Relation Name" not in node or node["Node Type"] == "Bitmap Index Scan":
            continue
        predicates: list[Predicate] = []
        for key in _CONDITIONS:
            for predicate in parse_conjuncts(node.get(key)):
                if predicate not in predicates:
                    predicates.append(predicate)
        sort: tuple[tuple[str, bool], ...] = ()
        sort_cost = 0.0
        if parent is not None and parent.get("Node Type") in ("Sort", "Incremental Sort"):
            keys = [parse_sort_key(k) for k in parent.get("Sort Key", ())]
            if keys and all(k is not None for k in keys):
                sort = tuple(k for k in keys if k is not None)
                sort_cost = float(parent["Total Cost"]) - float(node["Total Cost"])
        alias = node.get("Alias", node["Relation Name"])
        found.append(
            Scan(
                schema=node.get("Schema", "public"),
                table=node["Relation Name"],
                alias=alias,
                node_type=node["Node Type"],
                rows=float(node["Plan Rows"]),
                cost=float(node["Total Cost"]),
                predicates=tuple(predicates),
                sort=sort,
                sort_cost=sort_cost,
                join_columns=tuple(sorted(joins.get(alias, ()))),
                index=node.get("Index Name"),
            )
        )
    return found
