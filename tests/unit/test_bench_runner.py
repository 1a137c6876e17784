"""The benchmark runner's pure parts: medians, speed-ups, round order, results JSON, README section.

No timing is asserted anywhere here: measurements are the benchmark's business, not the tests'.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random

import pytest

from benchmarks import REGISTRY
from benchmarks.__main__ import main
from benchmarks._runner import (
    MICROSECONDS,
    QUERIES_PER_SECOND,
    Budget,
    CaseResult,
    Check,
    ContenderResult,
    Options,
    RunResult,
    Sample,
    drive,
    evaluate_checks,
    median,
    render_markdown,
    replace_section,
    round_orders,
    speedup,
    to_json,
)


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError, match="no values"):
        median([])


def test_speedup_above_one_means_ours_is_faster_for_both_directions() -> None:
    assert speedup(6000, 3000, higher_is_better=True) == 2.0  # q/s: ours / peer
    assert speedup(20.0, 200.0, higher_is_better=False) == 10.0  # µs: peer / ours
    assert speedup(3000, 6000, higher_is_better=True) == 0.5
    with pytest.raises(ValueError, match="positive"):
        speedup(0, 1, higher_is_better=True)


def test_metric_reads_rate_or_cost_per_operation() -> None:
    sample = Sample(ops=2000, seconds=0.5)
    assert QUERIES_PER_SECOND.value(sample) == 4000
    assert MICROSECONDS.value(sample) == 250
    with pytest.raises(ValueError, match="empty sample"):
        QUERIES_PER_SECOND.value(Sample(ops=0, seconds=0.5))


def test_round_orders_start_declared_then_shuffle_without_back_to_back_runs() -> None:
    names = ["ours", "a", "b", "c"]
    orders = round_orders(names, 30, random.Random(3))
    assert len(orders) == 30
    assert orders[0] == names
    assert all(sorted(order) == sorted(names) for order in orders)
    assert any(order != names for order in orders[1:])
    assert all(prev[-1] != nxt[0] for prev, nxt in itertools.pairwise(orders))
    assert round_orders(names, 30, random.Random(3)) == orders  # a seed replays a run
    with pytest.raises(ValueError, match="at least 1"):
        round_orders(names, 0, random.Random(0))


def _case(name: str, ours: list[float], peer: list[float], unit: str = "q/s") -> CaseResult:
    metric = QUERIES_PER_SECOND if unit == "q/s" else MICROSECONDS
    return CaseResult(
        name=name,
        labels={"query": "SELECT 1", "c": "10"},
        metric=metric,
        contenders=[
            ContenderResult("Ours", True, ours, [100] * len(ours)),
            ContenderResult("peer", False, peer, [100] * len(peer)),
        ],
    )


def test_speedups_and_checks_use_medians() -> None:
    case = _case("direct/c10", [6000, 9000, 5800], [3000, 3250, 100])
    assert case.speedups() == [("Ours", "peer", 2.0)]
    slower = _case("bouncer/c10", [4000, 4200, 4100], [1, 1, 1])
    checks = [
        Check("ours vs peer", ("direct/c10", "Ours"), ("direct/c10", "peer"), 1.3),
        Check("bouncer vs direct", ("bouncer/c10", "Ours"), ("direct/c10", "Ours"), 0.8),
        Check("not run", ("missing", "Ours"), ("direct/c10", "peer"), 1.0),
    ]
    rows = evaluate_checks(checks, [case, slower])
    assert [(r["label"], r["speedup"], r["met"]) for r in rows] == [
        ("ours vs peer", 2.0, True),
        ("bouncer vs direct", round(4100 / 6000, 4), False),
    ]


def test_a_relative_check_scales_its_target_by_the_reference_pair() -> None:
    # ours keeps 4100/6000 = 0.68 through the hop; the reference tool keeps 1/4 = 0.25 of it
    direct = _case("direct/c10", [6000, 6000, 6000], [4, 4, 4])
    bouncer = _case("bouncer/c10", [4100, 4100, 4100], [1, 1, 1])
    pair = (("bouncer/c10", "peer"), ("direct/c10", "peer"))
    checks = [
        Check("kept", ("bouncer/c10", "Ours"), ("direct/c10", "Ours"), 1.0, relative_to=pair),
        Check("strict", ("bouncer/c10", "Ours"), ("direct/c10", "Ours"), 3.0, relative_to=pair),
        Check(
            "no reference",
            ("bouncer/c10", "Ours"),
            ("direct/c10", "Ours"),
            1.0,
            relative_to=(("missing", "peer"), ("direct/c10", "peer")),
        ),
    ]
    rows = evaluate_checks(checks, [direct, bouncer])
    assert [(r["label"], r["target"], r["met"]) for r in rows] == [
        ("kept", 0.25, True),
        ("strict", 0.75, False),
    ]


def _run(cases: list[CaseResult], checks: list[Check]) -> RunResult:
    return RunResult(
        benchmark="demo",
        title="demo: a test",
        command="python -m benchmarks demo",
        created=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        options=Options(rounds=3),
        machine={"cpu_count": 2, "python": "3.11.7", "git_commit": "abc", "git_dirty": []},
        packages={"asyncpg": "0.32.0"},
        cases=cases,
        checks=checks,
    )


def test_results_json_shape() -> None:
    cases = [
        _case("c10", [6000, 9000, 6500], [3000, 3250, 3100]),
        _case("acq", [20, 22, 21], [200, 210, 190], unit="µs"),
    ]
    run = _run(cases, [Check("x", ("c10", "Ours"), ("c10", "peer"), 1.3)])
    document = json.loads(json.dumps(to_json(run)))  # JSON-serialisable as is
    assert {
        "schema",
        "benchmark",
        "created",
        "command",
        "speedup_definition",
        "options",
        "machine",
        "packages",
        "cases",
        "checks",
    } <= document.keys()
    assert document["created"] == "2025-01-02T03:04:05+00:00"
    assert document["options"]["rounds"] == 3
    assert document["options"]["budget"] == {"seconds": 0.25, "max_ops": 50_000}
    first, latency = document["cases"]
    assert first["unit"] == "q/s" and first["higher_is_better"] is True
    ours = first["contenders"][0]
    assert (ours["name"], ours["ours"], ours["median"]) == ("Ours", True, 6500)
    assert ours["rounds"] == [6000, 9000, 6500] and ours["ops"] == [100, 100, 100]
    assert first["speedups"] == [{"ours": "Ours", "peer": "peer", "speedup": round(6500 / 3100, 4)}]
    assert latency["unit"] == "µs" and latency["speedups"][0]["speedup"] == round(200 / 21, 4)
    assert document["checks"][0]["met"] is True


def test_markdown_has_one_table_per_unit_with_ours_in_bold_and_the_checks() -> None:
    cases = [
        _case("c10", [6000, 6500, 6400], [3000, 3250, 3100]),
        _case("acq", [20, 22, 21], [200, 210, 190], unit="µs"),
    ]
    text = render_markdown(
        _run(cases, [Check("ours vs peer", ("c10", "Ours"), ("c10", "peer"), 3.0)])
    )
    assert "`python -m benchmarks demo`" in text
    assert "| query | c | Ours | peer | \u00d7peer |" in text
    assert "| SELECT 1 | 10 | **6,400** | 3,100 | 2.06 |" in text
    assert "| SELECT 1 | 10 | **21.0** | 200 | 9.52 |" in text
    assert "| ours vs peer | 2.06 | \u2265 3 | **no** |" in text


def test_replace_section_replaces_between_markers_or_appends() -> None:
    readme = "# Benchmarks\n\nintro\n\n<!-- pool:begin -->\nold table\n<!-- pool:end -->\n\nafter\n"
    replaced = replace_section(readme, "pool", "new table\n")
    assert replaced == (
        "# Benchmarks\n\nintro\n\n<!-- pool:begin -->\nnew table\n<!-- pool:end -->\n\nafter\n"
    )
    assert replace_section(replaced, "pool", "new table") == replaced  # idempotent
    appended = replace_section("# Benchmarks\n", "cache", "cache table")
    assert appended == "# Benchmarks\n\n<!-- cache:begin -->\ncache table\n<!-- cache:end -->\n"
    # A body with regex specials is inserted literally.
    assert "\\1 $x" in replace_section(readme, "pool", "\\1 $x")


async def test_drive_is_bounded_by_operation_count() -> None:
    calls = 0

    async def op() -> None:
        nonlocal calls
        calls += 1

    sample = await drive(op, concurrency=7, budget=Budget(seconds=60.0, max_ops=250))
    assert sample.ops == calls == 250


async def test_drive_propagates_a_failing_operation() -> None:
    async def op() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await drive(op, concurrency=3, budget=Budget(seconds=60.0, max_ops=10))


def test_cli_lists_benchmarks_and_rejects_unknown_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--list"]) == 0
    assert "pool" in capsys.readouterr().out
    assert "pool" in REGISTRY
    with pytest.raises(SystemExit):
        main(["no-such-benchmark"])
    assert "unknown benchmark no-such-benchmark" in capsys.readouterr().err
