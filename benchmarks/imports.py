"""``python -m benchmarks.imports [--runs N] [--root DIR]``: what importing mediz-infra costs.

For each of ``mediz_infra``, ``mediz_infra.ratelimit`` and ``mediz_infra.cache``, start N fresh
interpreters (``sys.executable -c ...``, 7 by default) that each import the module once, and
print the median import time, the number of modules it added to ``sys.modules`` and which heavy
dependencies came along. Not part of ``python -m benchmarks``: that runner interleaves contenders
inside one process, and an import can only be measured once per process.

``--root`` points at another checkout (say, ``git archive`` of an older commit unpacked into a
temporary directory) to measure it with the same interpreter and installed dependencies: the
children run with that directory as their working directory and first ``sys.path`` entry.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MODULES", "WATCHED", "Row", "main", "measure"]

MODULES = ("mediz_infra", "mediz_infra.ratelimit", "mediz_infra.cache")

#: Modules worth naming when an import drags them in.
WATCHED = (
    "asyncpg",
    "pydantic_settings",
    "opentelemetry",
    "redis",
    "mediz_infra.config",
    "mediz_infra.backends.postgres",
    "mediz_infra.cache",
    "mediz_infra.ratelimit",
    "mediz_infra.infra",
)

# Runs in the child: time the one import, count what it added. ``-S`` is not used: the installed
# dependencies live in site-packages, as they do for an application.
_CHILD = """
import json, sys, time
before = len(sys.modules)
start = time.perf_counter()
import {module}
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "added": len(sys.modules) - before,
                  "total": len(sys.modules),
                  "loaded": [m for m in {watched!r} if m in sys.modules]}}))
"""


@dataclass(frozen=True)
class Row:
    """One module's figures over its runs."""

    module: str
    median_ms: float
    modules: float  # median count of modules the import added to sys.modules
    total: float  # median len(sys.modules) after it, interpreter start-up included
    loaded: list[str]  # the WATCHED modules present after the import (last run)


def measure(module: str, runs: int, root: Path) -> Row:
    """Import ``module`` in ``runs`` fresh interpreters; return the median and the counts."""
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD.format(module=module, watched=WATCHED)],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(json.loads(out.stdout))
    return Row(
        module=module,
        median_ms=statistics.median(s["seconds"] for s in samples) * 1000,
        modules=statistics.median(s["added"] for s in samples),
        total=statistics.median(s["total"] for s in samples),
        loaded=samples[-1]["loaded"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, measure every module, print a Markdown table; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.imports", description=__doc__)
    parser.add_argument("--runs", type=int, default=7, metavar="N", help="interpreters per module")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        metavar="DIR",
        help="checkout to import mediz_infra from (default: this one)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    print(f"root {args.root}, {args.runs} fresh interpreters per module, {sys.version.split()[0]}")
    print()
    print("| import | median ms | modules added | sys.modules after | heavy modules loaded |")
    print("|---|---:|---:|---:|---|")
    for module in MODULES:
        row = measure(module, args.runs, args.root)
        figures = f"{row.median_ms:.0f} | {row.modules:.0f} | {row.total:.0f}"
        print(f"| `{module}` | {figures} | {', '.join(row.loaded) or 'none'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
