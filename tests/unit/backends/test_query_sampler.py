"""The pool's statement sampler, without a server: normalisation, sampling, bounds and files."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from mediz_infra.backends import QuerySampler
from mediz_infra.backends.sampling import normalize_statement, read_sampled
from mediz_infra.db.advisor import sampled_workload
from mediz_infra.errors import ConfigError


def logged(query: str, elapsed: float = 0.002) -> SimpleNamespace:
    """What asyncpg hands a query logger (a LoggedQuery), with the fields the sampler reads."""
    return SimpleNamespace(query=query, args=("secret",), elapsed=elapsed)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = $1"),
        (
            "select a from t1 where b = 'it''s' and c > 3.5e2 limit 10;",
            "select a from t1 where b = $1 and c > $2 limit $3",
        ),
        ("SELECT x FROM t WHERE a = $1 AND b = 7", "SELECT x FROM t WHERE a = $1 AND b = $2"),
        ("SELECT\n  col2\n FROM   t3", "SELECT col2 FROM t3"),  # names with digits stay
        ("SELECT x::numeric(10,2) FROM t", "SELECT x::numeric($1,$2) FROM t"),
    ],
)
def test_constants_become_parameters_and_names_stay(sql: str, expected: str) -> None:
    assert normalize_statement(sql) == expected


def test_one_statement_with_many_values_is_one_entry_scaled_by_the_rate() -> None:
    sampler = QuerySampler(0.5)
    draws = iter([0.1, 0.9] * 50)  # every other statement is kept
    sampler._random = lambda: next(draws)
    for i in range(100):
        sampler(logged(f"SELECT * FROM orders WHERE customer_id = {i}", elapsed=0.004))
    [entry] = sampler.statements()
    assert entry.sql == "SELECT * FROM orders WHERE customer_id = $1"
    assert entry.calls == 100  # 50 kept, scaled by 1 / 0.5
    assert entry.total_ms == pytest.approx(400.0)


def test_the_table_is_bounded_and_arguments_are_never_kept(tmp_path: Path) -> None:
    sampler = QuerySampler(1.0, max_statements=2)
    sampler(logged("SELECT 1 FROM a", elapsed=0.001))
    sampler(logged("SELECT 1 FROM b", elapsed=0.003))
    sampler(logged("SELECT 1 FROM c"))
    sampler(logged("   "))  # nothing to keep
    assert [s.sql for s in sampler.statements()] == ["SELECT $1 FROM b", "SELECT $1 FROM a"]
    assert sampler.dropped == 1
    path = tmp_path / "workload.json"
    assert sampler.write(path, top=1) == 1
    assert "secret" not in path.read_text()
    [statement] = sampled_workload(path)
    assert (statement.sql, statement.calls, statement.source) == (
        "SELECT $1 FROM b",
        1,
        "pool sample",
    )
    assert [s.sql for s in sampled_workload(sampler)] == ["SELECT $1 FROM b", "SELECT $1 FROM a"]
    sampler.clear()
    assert sampler.statements() == [] and sampler.dropped == 0


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, float("nan")])
def test_a_bad_rate_names_the_setting(rate: float) -> None:
    with pytest.raises(ConfigError, match="sample_queries"):
        QuerySampler(rate)


def test_a_bad_file_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_sampled(tmp_path / "missing.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff{")
    with pytest.raises(ConfigError, match="not a JSON file"):
        read_sampled(garbage)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"statements": []}))
    with pytest.raises(ConfigError, match="not written by QuerySampler"):
        read_sampled(other)
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps({"format": "mediz-infra/sampled-statements/1", "statements": [{"sql": "x"}]})
    )
    with pytest.raises(ConfigError, match="statement 0 lacks"):
        read_sampled(broken)
