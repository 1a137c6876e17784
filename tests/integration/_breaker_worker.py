"""One process of the shared-breaker tests.

Run as ``python -m tests.integration._breaker_worker <redis url> <breaker name>``.

Reads one command a line on stdin and answers one line on stdout:

- ``fail`` / ``ok``: one call that raises / returns; answers ``failed``, ``ok`` or ``refused``.
- ``burst N``: N concurrent calls of a function that waits 0.3 s; answers how many ran.
- ``state``: the breaker's state as this process sees it.

It answers ``ready`` once its breaker listens to the shared state.
"""

from __future__ import annotations

import asyncio
import sys

from mediz_infra.resilience import CircuitBreaker, CircuitOpen


class Failure(Exception):
    pass


async def main(url: str, name: str) -> None:
    breaker = CircuitBreaker(
        name, storage=url, minimum_calls=3, failure_rate=0.5, open_for=0.5, half_open_calls=2
    )
    ran = 0

    async def ok() -> str:
        return "ok"

    async def fail() -> str:
        raise Failure

    async def slow() -> str:
        nonlocal ran
        ran += 1
        await asyncio.sleep(0.3)
        return "ok"

    async def one(fn: object) -> str:
        try:
            return await breaker.call(fn)  # type: ignore[arg-type]
        except CircuitOpen:
            return "refused"
        except Failure:
            return "failed"

    await breaker.call(ok)  # the first call syncs and starts the listener
    assert breaker.shared is not None
    for _ in range(2000):  # poll with a deadline (10 s) until the listener has subscribed
        if breaker.shared.listening:
            break
        await asyncio.sleep(0.005)
    print("ready" if breaker.shared.listening else "not listening", flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if not line or line == "quit":
                break
            if line == "ok":
                answer = await one(ok)
            elif line == "fail":
                answer = await one(fail)
            elif line.startswith("burst"):
                ran = 0
                await asyncio.gather(*(one(slow) for _ in range(int(line.split()[1]))))
                answer = str(ran)
            elif line == "state":
                answer = breaker.state
            else:
                answer = f"unknown command {line!r}"
            print(answer, flush=True)
    finally:
        await breaker.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
