"""Health checks: what one check is, what it observed, and how its results are cached.

A check is a function returning what it saw (an :class:`Observation`, a mapping of details, or
``None``) and raising when the dependency is unhealthy. :class:`CheckRunner` runs it under its
own timeout, keeps the result for ``cache_ttl`` seconds (so a storm of probes reaches the
database once) and lets concurrent callers share one run in flight. A check must fail
``failure_threshold`` times in a row before it reports ``fail``; before that it reports ``warn``,
so one flapping check does not flip readiness.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .._urls import redact
from ..errors import ConfigError

__all__ = ["Check", "CheckFunc", "CheckResult", "CheckRunner", "Observation", "Status"]

log = logging.getLogger("mediz_infra.health")

Status = Literal["pass", "warn", "fail"]
_RANK: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True, slots=True)
class Observation:
    """What a check saw, when it has a figure to report.

    Args:
        status: ``"pass"`` or ``"warn"`` (raise to fail).
        observed_value: the figure (pool usage, latency, backlog, age).
        observed_unit: its unit (``"%"``, ``"ms"``, ``"jobs"``, ``"s"``).
        output: a short human explanation (shown to admins only).
        details: more values for admins (``?verbose``).
    """

    status: Literal["pass", "warn"] = "pass"
    observed_value: float | int | None = None
    observed_unit: str | None = None
    output: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


CheckFunc = Callable[[], "Awaitable[Observation | Mapping[str, Any] | None]"]
"""An async function checking one dependency; raises when it is unhealthy."""


@dataclass(frozen=True, slots=True)
class Check:
    """One named check.

    Args:
        name: the check's name (``postgres``, ``redis``); its path is ``/health/checks/<name>``.
        func: the :data:`CheckFunc`.
        critical: whether readiness depends on it; a failing non-critical check makes the
            status ``warn`` (degraded), not ``fail``.
        timeout: seconds before the check counts as failed.
        component_type: ``componentType`` in the health format (``datastore``, ``system``).
        failure_threshold: failures in a row before it reports ``fail`` (default: the
            router's).

    Raises:
        ConfigError: an empty or path-unsafe name, or a non-positive timeout.
    """

    name: str
    func: CheckFunc
    critical: bool = True
    timeout: float = 2.0
    component_type: str = "component"
    failure_threshold: int | None = None

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_.:" for c in self.name):
            raise ConfigError("name", f"{self.name!r}: use letters, digits and - _ . :")
        if self.timeout <= 0:
            raise ConfigError(f"checks[{self.name}].timeout", f"expected > 0, got {self.timeout}")
        if self.failure_threshold is not None and self.failure_threshold < 1:
            raise ConfigError(f"checks[{self.name}].failure_threshold", "expected at least 1")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One run of a check, as reported."""

    name: str
    status: Status
    critical: bool
    component_type: str
    time: str
    duration_ms: float
    observed_value: float | int | None = None
    observed_unit: str | None = None
    output: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self, *, verbose: bool) -> dict[str, Any]:
        """The health-format entry (``componentType``, ``status``, ``observedValue``...)."""
        out: dict[str, Any] = {
            "componentType": self.component_type,
            "status": self.status,
            "time": self.time,
        }
        if self.observed_value is not None:
            out["observedValue"] = self.observed_value
            if self.observed_unit:
                out["observedUnit"] = self.observed_unit
        if self.output:
            out["output"] = self.output
        if verbose:
            out["critical"] = self.critical
            out["durationMs"] = self.duration_ms
            if self.details:
                out["details"] = dict(self.details)
        return out


def worst(statuses: list[Status]) -> Status:
    """The worst of ``statuses`` (``pass`` when empty)."""
    return max(statuses, key=_RANK.__getitem__, default="pass")


class CheckRunner:
    """Runs checks with their timeouts, caches results, shares runs in flight.

    Args:
        cache_ttl: seconds a result is served again without running the check.
        failure_threshold: failures in a row before a check reports ``fail``.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        *,
        cache_ttl: float = 2.0,
        failure_threshold: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_ttl < 0:
            raise ConfigError("cache_ttl", f"expected seconds >= 0, got {cache_ttl!r}")
        if failure_threshold < 1:
            raise ConfigError("failure_threshold", f"expected at least 1, got {failure_threshold}")
        self.cache_ttl = cache_ttl
        self.failure_threshold = failure_threshold
        self.clock = clock
        self._cached: dict[str, tuple[float, CheckResult]] = {}
        self._running: dict[str, asyncio.Task[CheckResult]] = {}
        self._failures: dict[str, int] = {}
        #: runs per check (what reached the dependency), for tests and the dashboard
        self.runs: dict[str, int] = {}

    async def result(self, check: Check) -> CheckResult:
        """The check's current result: cached, shared with a run in flight, or run now."""
        cached = self._cached.get(check.name)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        task = self._running.get(check.name)
        if task is None:
            task = asyncio.ensure_future(self._run(check))
            self._running[check.name] = task
            task.add_done_callback(lambda _: self._running.pop(check.name, None))
        # shielded: a caller that gives up must not cancel the run the others wait for
        return await asyncio.shield(task)

    async def run_all(self, checks: list[Check]) -> list[CheckResult]:
        """Every check concurrently."""
        return list(await asyncio.gather(*(self.result(c) for c in checks)))

    async def _run(self, check: Check) -> CheckResult:
        self.runs[check.name] = self.runs.get(check.name, 0) + 1
        started = time.perf_counter()
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        try:
            async with asyncio.timeout(check.timeout):
                seen = await check.func()
        except Exception as exc:  # whatever a dependency raises is a failed check
            output = _describe(exc, check.timeout)
            failures = self._failures[check.name] = self._failures.get(check.name, 0) + 1
            threshold = check.failure_threshold or self.failure_threshold
            status: Status = "fail" if failures >= threshold else "warn"
            if status == "warn":
                output = f"failed {failures} of {threshold} times in a row: {output}"
            log.warning("health check %r failed: %s", check.name, output)
            result = CheckResult(
                check.name, status, check.critical, check.component_type, stamp,
                _ms(started), output=output,
            )  # fmt: skip
        else:
            self._failures.pop(check.name, None)
            obs = seen if isinstance(seen, Observation) else Observation(details=dict(seen or {}))
            result = CheckResult(
                check.name, obs.status, check.critical, check.component_type, stamp,
                _ms(started), obs.observed_value, obs.observed_unit, obs.output, obs.details,
            )  # fmt: skip
        self._cached[check.name] = (self.clock() + self.cache_ttl, result)
        return result


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"no answer within {timeout:g} s"
    return redact(f"{type(exc).__name__}: {exc}")[:300]
