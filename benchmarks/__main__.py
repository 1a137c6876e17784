"""``python -m benchmarks [names] [--quick] [--rounds N]``: run, print and save the tables."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from benchmarks import REGISTRY, load
from benchmarks._runner import Budget, Options, run_benchmark


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run mediz-infra benchmarks against their peers, interleaved in one process. "
        "Progress goes to stderr, the tables to stdout.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="name",
        help=f"benchmarks to run (default: all): {', '.join(REGISTRY)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 short rounds; writes nothing unless --write",
    )
    parser.add_argument(
        "--rounds", type=int, metavar="N", help="rounds per case (default 9, or 2 with --quick)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        metavar="S",
        help="time budget of one measurement (default 0.25, or 0.1 with --quick)",
    )
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write results/*.json and the README table (default: on, off with --quick)",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the named benchmarks, return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        for name, (_, about) in REGISTRY.items():
            print(f"{name:10} {about}")
        return 0
    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.seconds is not None and args.seconds <= 0:
        parser.error("--seconds must be positive")
    options = (
        Options.quick_run(args.rounds)
        if args.quick
        else Options(rounds=args.rounds or Options.rounds)
    )
    if args.seconds is not None:
        options = dataclasses.replace(options, budget=Budget(args.seconds, options.budget.max_ops))
    write = (not args.quick) if args.write is None else args.write
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    for name in args.names or list(REGISTRY):
        run_benchmark(load(name), options, command=command, write=write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
