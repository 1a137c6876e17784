"""A property-based test: the breaker against a model that keeps every outcome in a list.

The model is the specification written the slow, obvious way: the window is the list of the
last N outcomes (or of those younger than the window's seconds, by slice), the state changes
exactly as docs/resilience.md says. Hypothesis drives both with the same steps (successes,
failures, slow calls, ignored errors, time passing, trial calls started and finished
concurrently) and the two must agree on the state and on every admission.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mediz_infra.resilience import CircuitBreaker, CircuitOpen, CountWindow, TimeWindow

from ._clock import FakeClock

SIZE, MINIMUM, RATE, SLOW_RATE, OPEN_FOR, TRIALS, SLOW_AFTER = 5, 3, 0.5, 0.6, 10.0, 2, 1.0
WINDOW_SECONDS, SLICES = 8.0, 4


@dataclass
class Model:
    """The breaker, the slow and obvious way."""

    timed: bool
    state: str = "closed"
    outcomes: list[tuple[float, bool, bool]] = field(default_factory=list)  # (time, failed, slow)
    open_until: float = 0.0
    trials_in_flight: int = 0
    trials_ok: int = 0

    def window(self, now: float) -> list[tuple[float, bool, bool]]:
        if not self.timed:
            return self.outcomes[-SIZE:]
        width = WINDOW_SECONDS / SLICES
        newest = int(now // width)
        return [o for o in self.outcomes if int(o[0] // width) > newest - SLICES]

    def admit(self, now: float) -> bool:
        if self.state == "open":
            if now < self.open_until:
                return False
            self.state, self.trials_in_flight, self.trials_ok = "half_open", 0, 0
        if self.state == "half_open":
            if self.trials_in_flight + self.trials_ok >= TRIALS:
                return False
            self.trials_in_flight += 1
        return True

    def record(self, now: float, failed: bool, slow: bool) -> None:
        if self.state == "half_open":
            self.trials_in_flight -= 1
            if failed or slow:
                self.state, self.open_until = "open", now + OPEN_FOR
                return
            self.trials_ok += 1
            if self.trials_ok >= TRIALS:
                self.state, self.outcomes = "closed", []
            return
        self.outcomes.append((now, failed, slow))
        window = self.window(now)
        calls = len(window)
        failures = sum(1 for o in window if o[1])
        slows = sum(1 for o in window if o[2])
        if (
            (failed or slow)
            and calls >= MINIMUM
            and (failures >= RATE * calls or slows >= SLOW_RATE * calls)
        ):
            self.state, self.open_until = "open", now + OPEN_FOR

    def give_back(self) -> None:
        if self.state == "half_open":
            self.trials_in_flight -= 1


class Ignored(Exception):
    pass


class Failed(Exception):
    pass


class BreakerMachine(RuleBasedStateMachine):
    """Steps applied to the real breaker and to the model alike."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.loop = asyncio.new_event_loop()
        self.timed = False
        self.model = Model(timed=False)
        self.breaker = self._build()
        # (gate, task, generation after admission, start time)
        self.pending: list[tuple[asyncio.Future[None], asyncio.Task[None], int, float]] = []

    def _build(self) -> CircuitBreaker:
        window = TimeWindow(WINDOW_SECONDS, SLICES) if self.timed else CountWindow(SIZE)
        return CircuitBreaker(
            "model",
            failure_rate=RATE,
            minimum_calls=MINIMUM,
            window=window,
            slow_call_duration=SLOW_AFTER,
            slow_call_rate=SLOW_RATE,
            open_for=OPEN_FOR,
            half_open_calls=TRIALS,
            ignore=[Ignored],
            clock=self.clock,
        )

    def teardown(self) -> None:
        tasks = [task for _, task, _, _ in self.pending]
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()

    @precondition(lambda self: not self.pending and not self.model.outcomes)
    @rule(timed=st.booleans())
    def choose_window(self, timed: bool) -> None:
        self.timed = timed
        self.model = Model(timed=timed)
        self.breaker = self._build()

    def _call(self, kind: str, took: float) -> None:
        now = self.clock.now
        admitted = self.model.admit(now)

        async def work() -> None:
            self.clock.advance(took)
            if kind == "fail":
                raise Failed
            if kind == "ignored":
                raise Ignored

        async def run() -> bool:
            try:
                await self.breaker.call(work)
            except CircuitOpen:
                return False
            except (Failed, Ignored):
                return True
            return True

        assert self.loop.run_until_complete(run()) == admitted
        if admitted:
            if kind == "ignored":
                self.model.give_back()
            else:
                self.model.record(self.clock.now, kind == "fail", took > SLOW_AFTER)

    @rule(kind=st.sampled_from(["ok", "fail", "ignored"]), slow=st.booleans())
    def call(self, kind: str, slow: bool) -> None:
        self._call(kind, 2.0 if slow else 0.0)

    @rule(seconds=st.floats(min_value=0.0, max_value=12.0))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: len(self.pending) < 3)
    @rule()
    def start_concurrent_call(self) -> None:
        """A call that stays in flight until a later step finishes it."""
        start = self.clock.now
        admitted = self.model.admit(start)
        gate: asyncio.Future[None] = self.loop.create_future()
        outcome: list[bool] = []

        async def held() -> None:
            await gate

        async def run() -> None:
            try:
                await self.breaker.call(held)
            except CircuitOpen:
                outcome.append(False)
            except Failed:
                pass

        task = self.loop.create_task(run())
        self.loop.run_until_complete(asyncio.sleep(0))
        refused = bool(outcome) and not outcome[0]
        assert (not refused) == admitted
        if admitted:
            self.pending.append((gate, task, self.breaker.generation, start))
        else:
            self.loop.run_until_complete(task)

    @precondition(lambda self: bool(self.pending))
    @rule(failed=st.booleans())
    def finish_oldest_call(self, failed: bool) -> None:
        gate, task, generation, start = self.pending.pop(0)
        if failed:
            gate.set_exception(Failed())
        else:
            gate.set_result(None)
        current = self.breaker.generation == generation
        self.loop.run_until_complete(task)
        if current:  # outcomes of an older state are dropped by the breaker; so by the model
            self.model.record(self.clock.now, failed, self.clock.now - start > SLOW_AFTER)

    @invariant()
    def same_state(self) -> None:
        assert self.breaker.state == self.model.state


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_breaker_matches_the_model = BreakerMachine.TestCase
