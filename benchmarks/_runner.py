"""The generic benchmark runner: interleaved rounds, medians, ratios, JSON results, README tables.

A benchmark module describes *cases*; each case has several *contenders* (ours and the peers) that
measure the same thing. The runner runs every contender of a case once per round, round after
round, in a different order each round (round 1 in declared order, later rounds shuffled), all in
one process, so slow drift of the machine (CPU frequency, a neighbour's load, the server's caches)
hits every contender alike instead of whichever happened to run last. It reports the median of the
rounds and, for every contender of ours, a *speed-up* against every peer: how many times faster
ours is, so that a number above 1 always means we are faster, whatever the unit.

The pure parts (scheduling, medians, speed-ups, the JSON document, the README section) are plain
functions over plain values and are unit-tested without a network; the only I/O here is
:func:`drive`, which runs one bounded measurement, :func:`run_benchmark`'s file writes and the
server version look-ups a benchmark's environment note makes (:func:`redis_version`,
:func:`postgres_version`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
import importlib
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import asyncpg
import redis.asyncio

__all__ = [
    "MICROSECONDS",
    "QUERIES_PER_SECOND",
    "Benchmark",
    "Budget",
    "Case",
    "CaseResult",
    "Check",
    "Contender",
    "ContenderResult",
    "Group",
    "Metric",
    "Options",
    "RunResult",
    "Sample",
    "drive",
    "driven",
    "event_loop",
    "overhead",
    "overhead_sync",
    "evaluate_checks",
    "median",
    "postgres_version",
    "redis_version",
    "render_markdown",
    "replace_section",
    "round_orders",
    "run_benchmark",
    "speedup",
    "to_json",
]

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"
SCHEMA_VERSION = 1
TIMES, DASH = "\u00d7", "\u2013"  # table glyphs, spelled as escapes for the linter


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Budget:
    """How long one measurement may run: whichever of ``seconds`` or ``max_ops`` comes first."""

    seconds: float
    max_ops: int


@dataclass(frozen=True)
class Sample:
    """What one measurement did: ``ops`` operations completed in ``seconds`` of wall time."""

    ops: int
    seconds: float


@dataclass(frozen=True)
class Metric:
    """What a case reports and which way is better.

    Attributes:
        unit: shown in table headers ("q/s", "µs").
        higher_is_better: True for throughput, False for a cost per operation.
        per_op_micros: the value is microseconds per operation instead of operations per second.
    """

    unit: str
    higher_is_better: bool
    per_op_micros: bool = False

    def value(self, sample: Sample) -> float:
        """The number this metric reads from one sample."""
        if sample.ops <= 0 or sample.seconds <= 0:
            raise ValueError(f"empty sample: {sample.ops} ops in {sample.seconds} s")
        if self.per_op_micros:
            return sample.seconds / sample.ops * 1e6
        return sample.ops / sample.seconds


QUERIES_PER_SECOND = Metric("q/s", higher_is_better=True)
MICROSECONDS = Metric("µs", higher_is_better=False, per_op_micros=True)

Measure = Callable[[Budget], Awaitable[Sample]]


@dataclass(frozen=True)
class Contender:
    """One side of a comparison: ``measure(budget)`` runs one bounded measurement."""

    name: str
    measure: Measure
    ours: bool = False


@dataclass(frozen=True)
class Case:
    """One thing measured by several contenders.

    Attributes:
        name: unique within the benchmark; checks refer to it.
        labels: the leading columns of its table row, e.g. ``{"query": "SELECT 1", "c": "10"}``.
        metric: what the contenders report.
        contenders: ours and the peers, in the order of round 1 and of the table's columns.
    """

    name: str
    labels: Mapping[str, str]
    metric: Metric
    contenders: Sequence[Contender]


@dataclass(frozen=True)
class Group:
    """Cases that share a setup (servers, pools): ``open()`` yields them and tears down after."""

    name: str
    open: Callable[[Options], AbstractAsyncContextManager[Sequence[Case]]]


@dataclass(frozen=True)
class Check:
    """A required ratio: ``ours`` in one case against ``peer`` in another (or the same) case.

    The value is a speed-up as in :func:`speedup` (above 1 = ``ours`` is faster).
    """

    label: str
    ours: tuple[str, str]
    peer: tuple[str, str]
    target: float
    #: Optional (ours, peer) pair of a reference tool measured in the same run: the required
    #: ratio is then ``target`` times that pair's speed-up (e.g. "lose no more through a proxy
    #: than pgbench itself loses through it"), since some floors are set by the machine.
    relative_to: tuple[tuple[str, str], tuple[str, str]] | None = None


@dataclass(frozen=True)
class Benchmark:
    """What a benchmark module exposes as ``BENCHMARK``.

    Attributes:
        name: the command-line name and the results file prefix.
        title: a heading for its README section.
        groups: its cases, by shared setup, in run order.
        peers: distributions whose installed versions go in the results.
        checks: required ratios shown under the table.
        environment: an optional coroutine adding facts (server versions) to the results.
        notes: markdown printed under the generated table (what each contender runs).
        code: the paths whose uncommitted changes the results must mention.
    """

    name: str
    title: str
    groups: Sequence[Group]
    peers: Sequence[str] = ()
    checks: Sequence[Check] = ()
    environment: Callable[[], Awaitable[Mapping[str, str]]] | None = None
    notes: str = ""
    code: Sequence[str] = ("mediz_infra",)


@dataclass(frozen=True)
class Options:
    """How hard to run: rounds per case, the budget of each measurement and of each warm-up."""

    rounds: int = 9
    budget: Budget = Budget(seconds=0.25, max_ops=50_000)
    warmup: Budget = Budget(seconds=0.1, max_ops=2_000)
    quick: bool = False
    seed: int = 1

    @classmethod
    def quick_run(cls, rounds: int | None = None) -> Options:
        """A smoke run: every case and contender once or twice, each for a moment."""
        return cls(
            rounds=rounds or 2, budget=Budget(0.1, 1_000), warmup=Budget(0.02, 100), quick=True
        )


# --------------------------------------------------------------------------- pure maths


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (the mean of the middle two for an even count)."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> float:
    """Round-to-round spread: (max - min) / median, 0.0 for a single value."""
    mid = median(values)
    return (max(values) - min(values)) / mid if mid else 0.0


def speedup(ours: float, peer: float, *, higher_is_better: bool) -> float:
    """How many times faster ``ours`` is than ``peer``: above 1 means ours is faster.

    For a throughput (higher is better) that is ``ours / peer``; for a cost per operation
    (lower is better) it is ``peer / ours``.
    """
    if ours <= 0 or peer <= 0:
        raise ValueError(f"speed-up needs positive values, got {ours} and {peer}")
    return ours / peer if higher_is_better else peer / ours


def round_orders(names: Sequence[str], rounds: int, rng: random.Random) -> list[list[str]]:
    """The order contenders run in, round by round.

    Round 1 keeps the declared order; every later round is a fresh shuffle. A shuffle that would
    put the previous round's last contender first again (running it twice back to back) is
    rotated by one, so no contender gets the warm machine of two consecutive runs.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    orders = [list(names)]
    for _ in range(rounds - 1):
        order = list(names)
        rng.shuffle(order)
        if len(order) > 1 and order[0] == orders[-1][-1]:
            order = order[1:] + order[:1]
        orders.append(order)
    return orders


# --------------------------------------------------------------------------- results


@dataclass
class ContenderResult:
    """Every round's value for one contender in one case."""

    name: str
    ours: bool
    values: list[float] = field(default_factory=list)
    ops: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        """The median over rounds."""
        return median(self.values)


@dataclass
class CaseResult:
    """One case's results, in the contenders' declared order."""

    name: str
    labels: Mapping[str, str]
    metric: Metric
    contenders: list[ContenderResult]

    def contender(self, name: str) -> ContenderResult | None:
        """The named contender's result, or None if it did not run in this case."""
        return next((c for c in self.contenders if c.name == name), None)

    def speedups(self) -> list[tuple[str, str, float]]:
        """``(ours, peer, speed-up of ours over peer)`` for every pair, on the medians."""
        pairs = []
        for mine in self.contenders:
            if not mine.ours:
                continue
            for peer in self.contenders:
                if peer.ours:
                    continue
                value = speedup(
                    mine.median, peer.median, higher_is_better=self.metric.higher_is_better
                )
                pairs.append((mine.name, peer.name, value))
        return pairs


@dataclass
class RunResult:
    """A whole benchmark run, ready to be written out."""

    benchmark: str
    title: str
    command: str
    created: dt.datetime
    options: Options
    machine: Mapping[str, Any]
    packages: Mapping[str, str]
    cases: list[CaseResult]
    checks: Sequence[Check] = ()
    notes: str = ""


def evaluate_checks(checks: Sequence[Check], cases: Sequence[CaseResult]) -> list[dict[str, Any]]:
    """Each check's speed-up and whether it met its target; checks on missing cases are skipped."""
    by_name = {case.name: case for case in cases}
    rows: list[dict[str, Any]] = []
    for check in checks:
        ours_case, peer_case = by_name.get(check.ours[0]), by_name.get(check.peer[0])
        if ours_case is None or peer_case is None:
            continue
        ours, peer = ours_case.contender(check.ours[1]), peer_case.contender(check.peer[1])
        if ours is None or peer is None or not ours.values or not peer.values:
            continue
        value = speedup(
            ours.median, peer.median, higher_is_better=ours_case.metric.higher_is_better
        )
        target = check.target
        if check.relative_to is not None:
            reference = _pair_speedup(check.relative_to, by_name)
            if reference is None:
                continue
            target = round(check.target * reference, 4)
        rows.append(
            {
                "label": check.label,
                "ours": {"case": check.ours[0], "contender": check.ours[1]},
                "peer": {"case": check.peer[0], "contender": check.peer[1]},
                "speedup": round(value, 4),
                "target": target,
                "met": value >= target,
            }
        )
    return rows


def _pair_speedup(
    pair: tuple[tuple[str, str], tuple[str, str]], by_name: Mapping[str, CaseResult]
) -> float | None:
    """The speed-up of ``pair[0]`` over ``pair[1]`` ((case, contender) each), if both ran."""
    (a_case, a_name), (b_case, b_name) = pair
    first, second = by_name.get(a_case), by_name.get(b_case)
    if first is None or second is None:
        return None
    a, b = first.contender(a_name), second.contender(b_name)
    if a is None or b is None or not a.values or not b.values:
        return None
    return speedup(a.median, b.median, higher_is_better=first.metric.higher_is_better)


def to_json(run: RunResult) -> dict[str, Any]:
    """The results document written under ``benchmarks/results/``."""
    return {
        "schema": SCHEMA_VERSION,
        "benchmark": run.benchmark,
        "title": run.title,
        "created": run.created.isoformat(timespec="seconds"),
        "command": run.command,
        "speedup_definition": (
            "speedup = how many times faster ours is than the peer, on the medians over rounds: "
            "ours/peer for q/s, peer/ours for µs; above 1 means ours is faster"
        ),
        "options": {
            "rounds": run.options.rounds,
            "quick": run.options.quick,
            "seed": run.options.seed,
            "budget": dataclasses.asdict(run.options.budget),
            "warmup": dataclasses.asdict(run.options.warmup),
        },
        "machine": dict(run.machine),
        "packages": dict(run.packages),
        "cases": [
            {
                "name": case.name,
                "labels": dict(case.labels),
                "unit": case.metric.unit,
                "higher_is_better": case.metric.higher_is_better,
                "contenders": [
                    {
                        "name": c.name,
                        "ours": c.ours,
                        "median": round(c.median, 3),
                        "min": round(min(c.values), 3),
                        "max": round(max(c.values), 3),
                        "spread": round(spread(c.values), 4),
                        "rounds": [round(v, 3) for v in c.values],
                        "ops": list(c.ops),
                    }
                    for c in case.contenders
                    if c.values
                ],
                "speedups": [
                    {"ours": ours, "peer": peer, "speedup": round(value, 4)}
                    for ours, peer, value in case.speedups()
                ],
            }
            for case in run.cases
        ],
        "checks": evaluate_checks(run.checks, run.cases),
    }


# --------------------------------------------------------------------------- markdown


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _table(cases: Sequence[CaseResult]) -> list[str]:
    label_keys: list[str] = []
    names: list[str] = []
    pairs: list[tuple[str, str]] = []
    for case in cases:
        label_keys += [k for k in case.labels if k not in label_keys]
        names += [c.name for c in case.contenders if c.name not in names]
        pairs += [(o, p) for o, p, _ in case.speedups() if (o, p) not in pairs]
    several_ours = len({o for o, _ in pairs}) > 1
    header = [
        *label_keys,
        *names,
        *[(f"{o} {TIMES}{p}" if several_ours else f"{TIMES}{p}") for o, p in pairs],
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|"
        + "|".join(["---"] * len(label_keys) + ["---:"] * (len(header) - len(label_keys)))
        + "|",
    ]
    for case in cases:
        cells = [case.labels.get(k, "") for k in label_keys]
        for name in names:
            result = case.contender(name)
            text = _fmt(result.median) if result and result.values else DASH
            cells.append(f"**{text}**" if result is not None and result.ours else text)
        got = {(o, p): v for o, p, v in case.speedups()}
        cells += [f"{got[pair]:.2f}" if pair in got else DASH for pair in pairs]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(run: RunResult) -> str:
    """The generated README section: how it was produced, one table per metric, the checks."""
    machine = run.machine
    packages = ", ".join(f"{k} {v}" for k, v in run.packages.items())
    out = [
        f"Produced by `{run.command}` on {run.created:%Y-%m-%d %H:%M} UTC, "
        f"commit `{machine.get('git_commit', '?')}`"
        + (
            f" with uncommitted changes in {', '.join(machine['git_dirty'])}"
            if machine.get("git_dirty")
            else ""
        )
        + ".",
        f"Machine: {machine.get('cpu_count')} CPUs, {machine.get('platform')}, "
        f"Python {machine.get('python')}"
        + "".join(f", {k} {v}" for k, v in machine.get("environment", {}).items())
        + ".",
        f"Packages: {packages}.",
        f"Each cell is the median of {run.options.rounds} interleaved rounds of "
        f"{run.options.budget.seconds:g} s (or {run.options.budget.max_ops:,} operations) each.",
        "",
    ]
    by_unit: dict[str, list[CaseResult]] = {}
    for case in run.cases:
        by_unit.setdefault(case.metric.unit, []).append(case)
    for unit, cases in by_unit.items():
        better = "higher" if cases[0].metric.higher_is_better else "lower"
        out += [
            f"**{unit}** ({better} is better; ours in bold; "
            f"{TIMES}peer = how many times faster ours is than that peer, "
            "above 1 = ours faster)",
            "",
            *_table(cases),
            "",
        ]
    spreads = [spread(c.values) for case in run.cases for c in case.contenders if c.values]
    if spreads:
        out += [
            f"Round-to-round spread (max - min) / median: typically "
            f"{median(spreads):.0%}, at worst {max(spreads):.0%}.",
            "",
        ]
    checks = evaluate_checks(run.checks, run.cases)
    if checks:
        out += ["| required ratio | measured | target | met |", "|---|---:|---:|:---:|"]
        out += [
            f"| {c['label']} | {c['speedup']:.2f} | ≥ {c['target']:g} | "
            f"{'yes' if c['met'] else '**no**'} |"
            for c in checks
        ]
        out.append("")
    if run.notes:
        out += [run.notes.strip(), ""]
    return "\n".join(out).rstrip() + "\n"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the part between ``<!-- name:begin -->`` and ``<!-- name:end -->`` replaced.

    Without the markers the section is appended at the end, markers included.
    """
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return text.rstrip() + "\n\n" + block + "\n"


# --------------------------------------------------------------------------- measuring


def driven(op: Callable[[], Awaitable[object]], concurrency: int) -> Measure:
    """A :data:`Measure` that runs ``op`` from ``concurrency`` workers with :func:`drive`."""

    async def measure(budget: Budget) -> Sample:
        return await drive(op, concurrency=concurrency, budget=budget)

    return measure


OVERHEAD_BATCH = 200


def overhead(
    through: Callable[[], Awaitable[object]],
    plain: Callable[[], Awaitable[object]],
    *,
    batch: int = OVERHEAD_BATCH,
) -> Measure:
    """A :data:`Measure` of what ``through()`` costs beyond ``plain()``, per call.

    The two run in alternating batches of ``batch`` calls (``plain`` first), so both see the
    same machine state; the sample's time is the sum of the differences (never below 1 ns).
    """

    async def measure(budget: Budget) -> Sample:
        clock = time.perf_counter
        deadline = clock() + budget.seconds
        ops, extra = 0, 0.0
        while ops < budget.max_ops and clock() < deadline:
            n = min(batch, budget.max_ops - ops)
            t0 = clock()
            for _ in range(n):
                await plain()
            t1 = clock()
            for _ in range(n):
                await through()
            extra += (clock() - t1) - (t1 - t0)
            ops += n
        return Sample(ops, max(extra, 1e-9))

    return measure


def overhead_sync(
    through: Callable[[], object], plain: Callable[[], object], *, batch: int = OVERHEAD_BATCH
) -> Measure:
    """:func:`overhead` for synchronous calls (a peer with no asyncio path)."""

    async def measure(budget: Budget) -> Sample:
        clock = time.perf_counter
        deadline = clock() + budget.seconds
        ops, extra = 0, 0.0
        while ops < budget.max_ops and clock() < deadline:
            n = min(batch, budget.max_ops - ops)
            t0 = clock()
            for _ in range(n):
                plain()
            t1 = clock()
            for _ in range(n):
                through()
            extra += (clock() - t1) - (t1 - t0)
            ops += n
        return Sample(ops, max(extra, 1e-9))

    return measure


async def drive(op: Callable[[], Awaitable[object]], *, concurrency: int, budget: Budget) -> Sample:
    """Run ``op`` from ``concurrency`` workers until the budget's time or operation count is spent.

    Every worker claims an operation before starting it, so exactly ``max_ops`` run at most; the
    wall time is taken when the last worker has finished. An exception in ``op`` cancels the other
    workers and propagates (a benchmark that errors must fail loudly, not report a rate).
    """
    clock = time.perf_counter
    claimed = 0
    deadline = 0.0

    async def worker() -> None:
        nonlocal claimed
        while claimed < budget.max_ops and clock() < deadline:
            claimed += 1
            await op()

    start = clock()
    deadline = start + budget.seconds
    try:
        async with asyncio.TaskGroup() as tasks:
            for _ in range(concurrency):
                tasks.create_task(worker())
    except ExceptionGroup as failed:  # the first failure is the story; the rest were cancelled
        raise failed.exceptions[0] from None
    return Sample(ops=claimed, seconds=clock() - start)


async def _run_case(
    case: Case, options: Options, rng: random.Random, progress: TextIO, prefix: str
) -> CaseResult:
    results = {c.name: ContenderResult(c.name, c.ours) for c in case.contenders}
    by_name = {c.name: c for c in case.contenders}
    for contender in case.contenders:  # untimed: fills statement caches, wakes the server
        await contender.measure(options.warmup)
    orders = round_orders([c.name for c in case.contenders], options.rounds, rng)
    for number, order in enumerate(orders, 1):
        shown = []
        for name in order:
            gc.collect()
            sample = await by_name[name].measure(options.budget)
            value = case.metric.value(sample)
            results[name].values.append(value)
            results[name].ops.append(sample.ops)
            shown.append(f"{name} {_fmt(value)}")
        print(
            f"{prefix} round {number}/{options.rounds} [{case.metric.unit}]: " + ", ".join(shown),
            file=progress,
            flush=True,
        )
    return CaseResult(
        case.name, case.labels, case.metric, [results[c.name] for c in case.contenders]
    )


async def collect(bench: Benchmark, options: Options, progress: TextIO) -> list[CaseResult]:
    """Run every case of every group, interleaving contenders within each case."""
    rng = random.Random(options.seed)
    results: list[CaseResult] = []
    for g_number, group in enumerate(bench.groups, 1):
        print(
            f"[{bench.name}] group {g_number}/{len(bench.groups)}: {group.name}: setting up",
            file=progress,
            flush=True,
        )
        async with group.open(options) as cases:
            for c_number, case in enumerate(cases, 1):
                prefix = f"[{bench.name} {group.name} {c_number}/{len(cases)}] " + " · ".join(
                    case.labels.values()
                )
                results.append(await _run_case(case, options, rng, progress, prefix))
    return results


# --------------------------------------------------------------------------- environment


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout


def machine_info(code: Sequence[str] = ("mediz_infra",)) -> dict[str, Any]:
    """CPU count, platform, Python, the git commit, and uncommitted changes in ``code`` paths."""
    status = _git(
        "status",
        "--porcelain",
        "--untracked-files=all",
        "--",
        *code,
        "benchmarks",
        ":(exclude)benchmarks/results",
        ":(exclude)benchmarks/README.md",
    )
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "git_commit": _git("rev-parse", "--short=12", "HEAD").strip() or "unknown",
        # Only the code measured counts: files that differ from the commit above.
        "git_dirty": sorted(line[3:] for line in status.splitlines() if line.strip()),
    }


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``names``; a source checkout's ``__version__``, else "missing"."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = _source_version(name.replace("-", "_")) or "missing"
    return versions


def _source_version(module: str) -> str | None:
    """``module.__version__`` when it is importable but not pip-installed (a source checkout)."""
    try:
        version = getattr(importlib.import_module(module), "__version__", None)
    except ImportError:
        return None
    return f"{version} (source tree)" if version else None


# --------------------------------------------------------------------------- environment notes


def event_loop() -> str:
    """The running event loop as the environment notes name it: ``asyncio (<loop class>)``."""
    return f"asyncio ({type(asyncio.get_running_loop()).__name__})"


async def redis_version(url: str) -> str:
    """The version the Redis server at ``url`` reports (``?`` if it does not say)."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return str(info.get("redis_version", "?"))


async def postgres_version(url: str) -> str:
    """The PostgreSQL server's ``server_version`` at ``url``."""
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


# --------------------------------------------------------------------------- entry point


async def _measure_all(
    bench: Benchmark, options: Options, progress: TextIO
) -> tuple[list[CaseResult], dict[str, str]]:
    environment = dict(await bench.environment()) if bench.environment else {}
    return await collect(bench, options, progress), environment


def run_benchmark(
    bench: Benchmark,
    options: Options,
    *,
    command: str,
    write: bool,
    progress: TextIO = sys.stderr,
    out: TextIO = sys.stdout,
    results_dir: Path = RESULTS_DIR,
    readme: Path = README,
) -> RunResult:
    """Run one benchmark, print its tables and, with ``write``, save JSON and the README section."""
    started = time.perf_counter()
    cases, environment = asyncio.run(_measure_all(bench, options, progress))
    machine = machine_info(bench.code) | {"environment": environment}
    run = RunResult(
        benchmark=bench.name,
        title=bench.title,
        command=command,
        created=dt.datetime.now(dt.UTC).replace(microsecond=0),
        options=options,
        machine=machine,
        packages=package_versions(bench.peers),
        cases=cases,
        checks=bench.checks,
        notes=bench.notes,
    )
    body = render_markdown(run)
    print(f"\n## {bench.title}\n\n{body}", file=out, flush=True)
    if write:
        results_dir.mkdir(parents=True, exist_ok=True)
        document = json.dumps(to_json(run), indent=2, ensure_ascii=False) + "\n"
        # One file per benchmark, overwritten: git keeps the history (the run's time and commit
        # are inside the document).
        (results_dir / f"{bench.name}.json").write_text(document, encoding="utf-8")
        text = readme.read_text(encoding="utf-8") if readme.exists() else ""
        readme.write_text(replace_section(text, bench.name, body), encoding="utf-8")
        print(
            f"[{bench.name}] wrote {results_dir.name}/{bench.name}.json "
            f"and the table in {readme.name}",
            file=progress,
            flush=True,
        )
    print(
        f"[{bench.name}] done in {time.perf_counter() - started:.0f} s", file=progress, flush=True
    )
    return run
