"""The advisor's pure parts: reading plans, choosing candidates, ranking, the catalog checks."""

from __future__ import annotations

from typing import Any

import pytest

from mediz_infra.db.advisor import Candidate, Gain, Statement, Thresholds
from mediz_infra.db.advisor.candidates import candidates_for, penalty, unverified_cost
from mediz_infra.db.advisor.catalog import (
    ForeignKey,
    IndexInfo,
    TableStats,
    duplicate_indexes,
    unindexed_foreign_keys,
)
from mediz_infra.db.advisor.plans import Predicate, parse_conjuncts, parse_sort_key, scans
from mediz_infra.db.advisor.workload import load_sql_file, plannable, updated_columns


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("(o.customer_id = $1)", [Predicate("customer_id", "=", "$1", 1)]),
        ("((email)::text = ($2)::text)", [Predicate("email", "=", "$2", 2)]),
        (
            "((deleted_at IS NULL) AND (customer_id = $1) AND (created_at > $2))",
            [
                Predicate("deleted_at", "IS NULL"),
                Predicate("customer_id", "=", "$1", 1),
                Predicate("created_at", ">", "$2", 2),
            ],
        ),
        (
            "(created_at >= '2026-12-05 00:00:00+00'::timestamp with time zone)",
            [Predicate("created_at", ">=", "'2026-12-05 00:00:00+00'")],
        ),
        ("($1 < total)", [Predicate("total", ">", "$1", 1)]),
        ("(NOT archived)", [Predicate("archived", "IS FALSE")]),
        ("(kind = ANY ($1))", [Predicate("kind", "=", "$1", 1)]),
        ('("Order Date" < 5)', [Predicate("Order Date", "<", "5")]),
        ("((a = $1) OR (b = $2))", []),  # an OR: nothing an index key serves
        ("(lower(email) = $1)", []),  # an expression
        ("(o.customer_id = c.id)", []),  # a join
        ("((status)::text ~~ 'ab%'::text)", []),
    ],
)
def test_conditions_are_read_into_predicates(condition: str, expected: list[Predicate]) -> None:
    assert parse_conjuncts(condition) == expected


def test_sort_keys() -> None:
    assert parse_sort_key("o.created_at DESC") == ("created_at", True)
    assert parse_sort_key("created_at NULLS FIRST") == ("created_at", False)
    assert parse_sort_key("(lower(email))") is None


def _seq(rows: float, condition: str, sort: list[str] | None = None) -> Any:
    scan = {
        "Node Type": "Seq Scan", "Relation Name": "orders", "Schema": "public", "Alias": "o",
        "Total Cost": 4000.0, "Plan Rows": rows, "Filter": condition,
    }
    if sort is None:
        return [{"Plan": scan}]
    node = {"Node Type": "Sort", "Total Cost": 4100.0, "Plan Rows": rows, "Sort Key": sort,
            "Plans": [scan]}
    return [{"Plan": {"Node Type": "Limit", "Total Cost": 4100.0, "Plan Rows": 20,
                      "Plans": [node]}}]


TABLES = {("public", "orders"): TableStats("public", "orders", 200_000.0)}


def test_equality_then_range_then_sort_and_a_partial_predicate() -> None:
    plan = _seq(40, "((deleted_at IS NULL) AND (created_at > $2) AND (customer_id = $1))",
                ["o.total DESC"])
    [scan] = scans(plan)
    assert scan.sort == (("total", True),) and scan.sort_cost == pytest.approx(100.0)
    [(candidate, finding)] = candidates_for(scan, TABLES, [], [], Thresholds())
    assert candidate.columns == ("customer_id", "created_at", "total")
    assert candidate.where == "deleted_at IS NULL"
    assert finding.kind == "seq_scan"
    assert candidate.definition(concurrently=True) == (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_created_at_total_part_idx "
        "ON public.orders (customer_id, created_at, total) WHERE deleted_at IS NULL"
    )


def test_no_candidate_for_a_small_table_an_unselective_scan_or_an_existing_index() -> None:
    [scan] = scans(_seq(40, "(customer_id = $1)"))
    small = {("public", "orders"): TableStats("public", "orders", 5_000.0)}
    assert candidates_for(scan, small, [], [], Thresholds()) == []
    [wide] = scans(_seq(150_000, "(status = $1)"))
    assert candidates_for(wide, TABLES, [], [], Thresholds()) == []
    existing = IndexInfo("public", "orders", "orders_c", ("customer_id", "x"), "", key=("c",))
    assert candidates_for(scan, TABLES, [existing], [], Thresholds()) == []


def test_a_big_sort_alone_is_a_finding() -> None:
    [scan] = scans(_seq(200_000, "", ["created_at DESC"]))
    [(candidate, finding)] = candidates_for(scan, TABLES, [], [], Thresholds())
    assert candidate.columns == ("created_at",) and finding.kind == "sort"


def test_a_join_on_an_unindexed_foreign_key() -> None:
    plan = [{"Plan": {
        "Node Type": "Hash Join", "Total Cost": 9000.0, "Plan Rows": 10,
        "Hash Cond": "(o.customer_id = c.id)",
        "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "orders", "Schema": "public",
             "Alias": "o", "Total Cost": 4000.0, "Plan Rows": 200_000},
            {"Node Type": "Hash", "Total Cost": 10.0, "Plan Rows": 1, "Plans": [
                {"Node Type": "Index Scan", "Relation Name": "customers", "Schema": "public",
                 "Alias": "c", "Index Name": "customers_email_key", "Total Cost": 8.0,
                 "Plan Rows": 1, "Index Cond": "(email = $1)"}]},
        ],
    }}]
    orders = scans(plan)[0]
    assert orders.join_columns == ("customer_id",)
    [(candidate, finding)] = candidates_for(orders, TABLES, [], [("customer_id",)], Thresholds())
    assert candidate.columns == ("customer_id",) and finding.kind == "fk_join"


def test_savings_rank_by_workload_time_and_writes_cost() -> None:
    hot = Statement("SELECT 1", calls=1000, total_ms=5000.0)  # 5 ms a call
    rare = Statement("SELECT 2", calls=2, total_ms=2000.0)  # 1 s a call
    assert Gain(hot, 100.0, 10.0).saved_ms == pytest.approx(4500.0)
    assert Gain(rare, 100.0, 1.0).saved_ms == pytest.approx(1980.0)  # a bigger % saves less
    assert Gain(hot, 100.0, 10.0, used=False).saved_ms == 0.0
    assert Gain(Statement("SELECT 3", calls=3), 100.0, 40.0).weight == pytest.approx(180.0)

    candidate = Candidate("public", "orders", ("status", "created_at"))
    calm = TableStats("public", "orders", 1e6, rows_read=900, writes=100)
    assert penalty(candidate, calm, {}).factor == pytest.approx(0.95)
    busy = TableStats("public", "orders", 1e6, rows_read=100, writes=900)
    hit = penalty(candidate, busy, {("", "orders"): {"status": 40}})
    assert hit.factor == pytest.approx(0.55 * 0.5)
    assert any("write-heavy" in n for n in hit.notes)
    assert any("status" in n and "HOT" in n for n in hit.notes)


def test_unverified_cost_replaces_the_scan_and_sort() -> None:
    [scan] = scans(_seq(10, "(customer_id = $1)", ["created_at"]))
    assert unverified_cost(4100.0, scan) == pytest.approx(4100.0 - 4100.0 + 4.0 + 40.0)


def _index(name: str, columns: tuple[str, ...], **kw: Any) -> IndexInfo:
    return IndexInfo("public", "orders", name, columns, "", key=columns, size=8192, **kw)


def test_duplicate_and_prefix_indexes() -> None:
    found = duplicate_indexes([
        _index("a_status", ("status",)),
        _index("b_status_again", ("status",)),
        _index("c_status_created", ("status", "created_at")),
        _index("d_pkey", ("id",), unique=True),
        _index("e_id_total", ("id", "total")),
        _index("f_partial", ("customer_id",), predicate="(deleted_at IS NULL)"),
        _index("g_customer_created", ("customer_id", "created_at")),
    ])
    assert {(d.index.name, d.kept.name, d.reason) for d in found} == {
        ("b_status_again", "a_status", "duplicate"),
        ("a_status", "c_status_created", "prefix"),
    }  # a unique index is never reported; a partial one is not a prefix of a full one


def test_foreign_keys_covered_by_a_leading_index_in_any_order() -> None:
    keys = [
        ForeignKey("public", "orders", "fk_customer", ("customer_id",), "customers"),
        ForeignKey("public", "orders", "fk_pair", ("a", "b"), "pairs"),
        ForeignKey("public", "orders", "fk_trailing", ("z",), "zs"),
    ]
    indexes = [_index("i_ba", ("b", "a", "c")), _index("i_yz", ("y", "z"))]
    missing = unindexed_foreign_keys(keys, indexes, TABLES)
    assert [m.foreign_key.name for m in missing] == ["fk_customer", "fk_trailing"]
    assert missing[0].suggestion == "CREATE INDEX CONCURRENTLY ON public.orders (customer_id);"


def test_updated_columns_and_plannable_statements() -> None:
    statements = [
        Statement("UPDATE orders SET status = $1, total = total + $2 WHERE id = $3", calls=7),
        Statement("update public.orders o set (a, b) = ($1, f($2, $3)) where o.id = $4", 2),
        Statement('UPDATE "Items" SET "Name" = $1', 1),
    ]
    assert updated_columns(statements) == {
        ("", "orders"): {"status": 7, "total": 7},
        ("public", "orders"): {"a": 2, "b": 2},
        ("", "Items"): {"Name": 1},
    }
    assert plannable("  -- note\nWITH x AS (SELECT 1) SELECT * FROM x")
    assert not plannable("INSERT INTO t VALUES (1)") and not plannable("VACUUM t")


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Any) -> None:
    from mediz_infra.errors import ConfigError

    with pytest.raises(ConfigError, match=r"file: cannot read .*nope\.sql"):
        load_sql_file(tmp_path / "nope.sql")


def test_an_index_read_whole_for_its_order_wants_the_filter_column_first() -> None:
    plan = [{"Plan": {"Node Type": "Limit", "Total Cost": 29.0, "Plan Rows": 10, "Plans": [
        {"Node Type": "Index Scan", "Relation Name": "orders", "Schema": "public", "Alias": "o",
         "Index Name": "orders_recent", "Scan Direction": "Backward", "Total Cost": 2131.0,
         "Plan Rows": 700, "Index Cond": "(customer_id = 20)"},
    ]}}]
    [scan] = scans(plan)
    recent = _index("orders_recent", ("created_at", "customer_id"))
    [(candidate, finding)] = candidates_for(scan, TABLES, [recent], [], Thresholds())
    assert candidate.columns == ("customer_id", "created_at") and finding.kind == "index_order"
    # led by the filtered column already: nothing to say
    leading = _index("orders_recent", ("customer_id", "created_at"))
    assert candidates_for(scan, TABLES, [leading], [], Thresholds()) == []


def test_a_longer_candidate_extends_its_prefix() -> None:
    from mediz_infra.db.advisor.candidates import extends

    short = Candidate("public", "orders", ("customer_id",))
    long = Candidate("public", "orders", ("customer_id", "created_at DESC"))
    assert extends(long, short) and not extends(short, long) and not extends(long, long)
    assert not extends(Candidate("public", "orders", ("customer_id", "x"), "a IS NULL"), short)
    assert not extends(Candidate("public", "items", ("customer_id", "x")), short)
