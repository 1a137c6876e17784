"""The backup benchmark's quick mode runs end to end, so the benchmark cannot rot.

``python -m benchmarks backup --quick --rounds 1``: a small seeded database, moto's server as its
own process, every contender once (awscli only if the benchmark's venv for it already exists),
nothing written. It times nothing here: it only has to finish and print its tables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_quick_backup_benchmark_runs_every_case(database_url: str) -> None:
    env = dict(os.environ, TEST_DATABASE_URL=database_url, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "backup", "--quick", "--rounds", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for row in ("backup to local disk", "backup to S3 (moto)", "restore from local disk"):
        assert f"| {row} |" in out
    assert "| peak RSS, backup to s3:// |" in out
    assert "wrote" not in done.stderr  # --quick leaves results/ and the README alone
