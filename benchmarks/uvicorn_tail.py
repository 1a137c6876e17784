"""``python -m benchmarks.uvicorn_tail``: tail latency of a rate-limited route under uvicorn.

The server is a child interpreter running uvicorn on loopback with a one-route Starlette app
behind ``RateLimitMiddleware`` (in-memory store, a limit never reached); it imports only
``mediz_infra.ratelimit``, as such an app would. This process is the client: raw asyncio
sockets, ``--connections`` keep-alive HTTP/1.1 connections (50) each sending requests one after
the other. The first ``--warmup`` responses are not counted; the run stops after ``--requests``
(20,000) or ``--seconds`` (60), whichever comes first. It prints p50/p99/p99.9/max of the
request latency and what the server's garbage collector did while it was being measured.

``--gc-freeze`` makes the server call ``gc.collect()`` then ``gc.freeze()`` once start-up is
done, to see whether keeping the start-up heap out of collections shortens the tail (it did not
measurably: the server hardly collects at all while serving; see ``benchmarks/README.md``).
``--root`` serves mediz_infra from another checkout (say an older commit unpacked with
``git archive``) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

# The server. gc.callbacks time every collection; the totals are reset when the client says the
# warm-up is over (GET /reset) and printed as JSON on shutdown.
_SERVER = """
import gc, json, sys, time
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from mediz_infra.ratelimit import RateLimitMiddleware, Rule
import uvicorn

stats = {{"collections": [0, 0, 0], "pause_ms": [0.0, 0.0, 0.0], "max_pause_ms": 0.0}}
_start = [0.0]

def _timer(phase, info):
    if phase == "start":
        _start[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _start[0]) * 1000
    g = info["generation"]
    stats["collections"][g] += 1
    stats["pause_ms"][g] += ms
    stats["max_pause_ms"] = max(stats["max_pause_ms"], ms)

async def limited(request):
    return PlainTextResponse("ok")

async def reset(request):
    stats.update(collections=[0, 0, 0], pause_ms=[0.0, 0.0, 0.0], max_pause_ms=0.0)
    return PlainTextResponse("reset")

from contextlib import asynccontextmanager

@asynccontextmanager
async def lifespan(app):
    if {freeze}:
        gc.collect()
        gc.freeze()
    gc.callbacks.append(_timer)
    print(json.dumps({{"ready": True, "frozen": gc.get_freeze_count(),
                      "modules": len(sys.modules)}}), flush=True)
    yield
    print(json.dumps(stats), flush=True)

app = Starlette(routes=[Route("/limited", limited), Route("/reset", reset)], lifespan=lifespan)
app = RateLimitMiddleware(
    app, rules=[Rule(name="bench", limits="1000000000/hour", paths=["/limited"])]
)
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""

_REQUEST = b"GET /limited HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: bytes) -> None:
    writer.write(path)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    status = head.split(b" ", 2)[1]
    if status != b"200":
        raise RuntimeError(f"unexpected status {status!r}")
    await reader.readexactly(length)


async def _connect(port: int, deadline: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    # The lifespan reports ready just before uvicorn binds its socket: retry briefly.
    while True:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _phase(
    streams: Sequence[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    count: int,
    deadline: float,
    latencies: list[float] | None,
) -> None:
    """Send ``count`` requests over every connection at once; record their latencies if asked."""
    remaining = count

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal remaining
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1
            start = time.perf_counter()
            await _one(reader, writer, _REQUEST)
            if latencies is not None:
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker(r, w) for r, w in streams))


async def _load(
    port: int, connections: int, warmup: int, total: int, seconds: float
) -> list[float]:
    deadline = time.monotonic() + seconds
    streams = [await _connect(port, deadline) for _ in range(connections)]
    await _phase(streams, warmup, deadline, None)
    # The server's GC totals then cover the measured requests only.
    await _one(*streams[0], b"GET /reset HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    latencies: list[float] = []
    await _phase(streams, total, deadline, latencies)
    for _, writer in streams:
        writer.close()
    return latencies


def _percentile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: Sequence[str] | None = None) -> int:
    """Start the server, load it, print the latency and GC figures; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.uvicorn_tail", description=__doc__)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20_000, help="measured requests (max)")
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget of the run")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after start-up")
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parent.parent, metavar="DIR"
    )
    args = parser.parse_args(argv)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER.format(port=port, freeze=args.gc_freeze)],
        cwd=args.root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        latencies = asyncio.run(
            _load(port, args.connections, args.warmup, args.requests, args.seconds)
        )
    finally:
        server.terminate()  # SIGTERM: uvicorn runs the lifespan shutdown, which prints the GC
        out, _ = server.communicate(timeout=30)
    gc_stats = json.loads(out.strip().splitlines()[-1])
    ordered = sorted(latencies)
    ms = [x * 1000 for x in ordered]
    print(
        f"root {args.root}; gc.freeze {'on' if args.gc_freeze else 'off'} "
        f"(frozen objects {ready['frozen']}); sys.modules {ready['modules']}; "
        f"{len(ms)} requests on {args.connections} connections"
    )
    print(
        f"p50 {statistics.median(ms):.2f} ms  p99 {_percentile(ms, 0.99):.2f} ms  "
        f"p99.9 {_percentile(ms, 0.999):.2f} ms  max {ms[-1]:.2f} ms"
    )
    print(
        f"server GC while measured: collections per generation {gc_stats['collections']}, "
        f"pause ms per generation {[round(p, 1) for p in gc_stats['pause_ms']]}, "
        f"longest pause {gc_stats['max_pause_ms']:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
