"""``mediz-infra``: the command line. Today: ``check`` and ``settings``; workers and backups follow.

Every failure prints its cause and the fix and exits non-zero; nothing prints a password.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence

from .config import load_settings
from .errors import InfraError

__all__ = ["main"]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _check(as_json: bool) -> int:
    from .infra import Infra

    settings = load_settings()
    infra = Infra.from_settings(settings)
    _progress(f"connecting: {infra!r}")
    started = time.perf_counter()
    try:
        async with infra:
            _progress(f"connected in {time.perf_counter() - started:.2f} s; checking backends ...")
            detail = await infra.check()
    except InfraError as exc:
        _progress(f"error: {exc}")
        return 2
    if as_json:
        print(json.dumps(detail, indent=2, default=str))
    else:
        for name, part in detail.items():
            extra = part.get("error") or part.get("detail") or f"{part.get('latency_ms', '?')} ms"
            print(f"{name:8} {part['status']:5} {extra}")
    # "off" is a backend left unconfigured on purpose, not a failed check
    return 0 if all(part["status"] in ("ok", "off") for part in detail.values()) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mediz-infra`` command."""
    parser = argparse.ArgumentParser(prog="mediz-infra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="connect to every configured backend and report health")
    check.add_argument("--json", action="store_true", help="print the full detail as JSON")
    sub.add_parser("settings", help="print the settings read from the environment (redacted)")
    args = parser.parse_args(argv)
    try:
        if args.command == "settings":
            print(json.dumps(load_settings().describe(), indent=2, default=str))
            return 0
        return asyncio.run(_check(args.json))
    except InfraError as exc:
        _progress(f"error: {exc}")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
