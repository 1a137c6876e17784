"""Smoke run of ``benchmarks/queue.py`` (``python -m benchmarks queue``) so it cannot rot.

Every case and contender (ours, arq, saq, bullmq) runs once on a handful of jobs against the
test Redis: the drains verify their counts inside the benchmark, which raises on a mismatch. No
timing is asserted. The first run on a machine creates the peers' venv (pip, some seconds).
"""

from __future__ import annotations

import io

import pytest

from benchmarks import queue as queue_bench
from benchmarks._runner import Budget, Options, run_benchmark

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# bullmq is the in-process peer, from the `bench` extra (arq and saq get a venv of their own);
# the README's test command installs `.[test]` only, so without the extra this smoke run says
# so and steps aside: `pip install -e '.[bench]'` to run it.
pytest.importorskip("bullmq", reason="the queue benchmark's peer: pip install -e '.[bench]'")


def test_queue_benchmark_quick_mode_runs_every_case_and_contender(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_bench, "REDIS_URL", redis_url)
    options = Options(rounds=1, budget=Budget(0.1, 100), warmup=Budget(0.01, 10), quick=True)
    out = io.StringIO()
    run = run_benchmark(
        queue_bench.BENCHMARK,
        options,
        command="python -m benchmarks queue (smoke)",
        write=False,
        progress=io.StringIO(),
        out=out,
    )
    names = {case.name: case for case in run.cases}
    assert set(names) == {"enqueue", "drain/c10", "drain/c100", "pickup/p50", "pickup/p99"}
    for case in run.cases:
        for contender in ("mediz-infra", "arq", "saq", "bullmq"):
            result = case.contender(contender)
            assert result is not None and len(result.values) == 1, (case.name, contender)
    assert names["drain/c10"].contender("mediz-infra").ops == [100]  # type: ignore[union-attr]
    assert "| required ratio |" in out.getvalue()
