"""The rate limiter: a store and a rule decide a request; backend trouble meets the rule's policy.

:class:`RateLimiter` is what the middleware and the decorator share, and what internal callers
use directly: :meth:`RateLimiter.hit` for one decision, :meth:`RateLimiter.acquire` to wait (a
bounded time) for capacity instead of failing.

A store failure starts an outage (:class:`~mediz_infra.backends.Outage`, the policy the cache
follows too): from then on every decision is made by the rule's ``on_backend_error`` at once,
without touching the store, until a background probe sees Redis answer again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable

import limits.aio.storage

from .._deadlines import Deadlines
from ..backends import BACKEND_ERRORS, Outage, redis_probe
from ..backends.redis import RedisClient
from ..errors import BackendUnavailable, ConfigError
from ..telemetry import (
    RATELIMIT_ACQUIRE_WAIT,
    RATELIMIT_BACKEND_ERRORS,
    RATELIMIT_DECISIONS,
    get_meter,
)
from ..types import Scope
from .decision import Decision, RateLimitExceeded
from .headers import HeaderBuilder
from .identity import ClientIdentifier, by_ip
from .memory_store import MemoryStore
from .redis_store import RedisStore
from .rules import Rule
from .store import LimiterStore, store_for

__all__ = ["RateLimiter"]

log = logging.getLogger("mediz_infra.ratelimit")

_MAX_IDENTITY = 160
_BRACES = str.maketrans({"{": "%7B", "}": "%7D"})
_KEY_TAGS = {"f": "f", "m": "ml", "s": "s", "g": "gn"}


class _Plan:
    """Everything about a rule that does not change per request."""

    __slots__ = ("args", "attrs", "head", "headers", "limits", "suffixes")

    def __init__(self, rule: Rule, prefix: str, legacy: bool) -> None:
        # one hash tag for the rule and client: every key of a decision lands in one slot
        self.head = f"{prefix}:ratelimit:{{{rule.name}:"
        # Keys whose value changed form were renamed, so a process of an older release never
        # reads the new form (nor fails on it): GCRA is "gn" (a TAT as "seconds ticks", was a
        # float µs), the moving window "ml" (a list of hit times, was a sorted set)
        tag = _KEY_TAGS[rule.code]
        self.suffixes = tuple(f"}}:{tag}{lim.amount}/{lim.window}" for lim in rule.parsed)
        # (amount, window µs, burst) per limit, (interval, tick ns, burst) for GCRA: parsed
        # for the memory store, flat for the script
        self.limits: tuple[tuple[int, int, int], ...] = (
            rule.emissions
            if rule.code == "g"
            else tuple((lim.amount, lim.window * 1_000_000, 0) for lim in rule.parsed)
        )
        self.args: tuple[int, ...] = tuple(x for limit in self.limits for x in limit)
        self.headers = HeaderBuilder(rule, legacy=legacy)
        self.attrs = {
            outcome: {"rule": rule.name, "outcome": outcome}
            for outcome in ("allowed", "limited", "dry_run")
        }


def _check_cost_fits(rule: Rule, cost: int) -> None:
    """Refuse a cost no wait can satisfy: it exceeds a limit's whole capacity."""
    if cost < 1:
        raise ConfigError("cost", f"expected units >= 1, got {cost!r}")
    for limit in rule.parsed:
        capacity = (rule.burst or limit.amount) if rule.code == "g" else limit.amount
        if cost > capacity:
            held = f"a burst of {capacity}" if capacity != limit.amount else f"{capacity}"
            raise ConfigError(
                "cost",
                f"{cost} units exceed the limit {limit.text!r} of rule {rule.name!r}, which "
                f"never holds more than {held}; split the work or raise the limit",
            )


class RateLimiter:
    """Decides requests against rules, on one store.

    Args:
        storage: a URL (``memory://``, ``redis://``, ``redis+sentinel://``,
            ``redis+cluster://``...), a client from :func:`~mediz_infra.backends.create_redis`
            (preferred: one pool for the whole app), or a :class:`LimiterStore`.
        prefix: first part of every key (``{prefix}:ratelimit:{rule:client}:...``).
        timeout: seconds a decision may take before the rule's ``on_backend_error`` policy
            applies. Checked every quarter of it, so a request waits on a sick store for at
            most about 1.25 times this (plus the moment the client takes to drop the call).
        key: how requests are identified when a rule has no ``key`` (default: client IP,
            trusting no proxy header).
        legacy_headers: also send ``X-RateLimit-*``.
        log_every: seconds between two log lines about the store failing, per rule (the rest
            are counted, and the next line says how many).
        backoff: seconds between two background probes of the store while it is down (a
            ``PING`` on a fresh connection for a Redis store; a store that cannot be pinged is
            tried again by the first decision after this long).
        clock: monotonic seconds for the log throttles (``log_every``); tests pass a fake one
            to cross a throttle period without sleeping.

    Raises:
        ConfigError: a malformed URL or a non-positive timeout.
    """

    def __init__(
        self,
        storage: str | RedisClient | LimiterStore | limits.aio.storage.Storage = "memory://",
        *,
        prefix: str = "mediz",
        timeout: float = 0.25,
        key: ClientIdentifier | None = None,
        legacy_headers: bool = False,
        log_every: float = 10.0,
        backoff: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ConfigError("timeout", f"expected seconds > 0, got {timeout!r}")
        if backoff <= 0:
            raise ConfigError("backoff", f"expected seconds > 0, got {backoff!r}")
        self.store, self._owned = store_for(storage)
        client = self.store.client if isinstance(self.store, RedisStore) else None
        # failures are logged per rule by _failed (with its own throttle), not by the tracker
        self.outage = Outage(
            f"rate limiter {prefix!r}",
            probe=redis_probe(client, timeout) if client is not None else None,
            backoff=backoff,
            timeout=timeout,
            logger=log,
            log_every=None,
        )
        self._sync = self.store.decide_parsed if isinstance(self.store, MemoryStore) else None
        self.prefix = prefix
        self.timeout = timeout
        self._deadlines = Deadlines(timeout, tick=timeout / 4)
        self.key: ClientIdentifier = key or by_ip()
        self.legacy_headers = legacy_headers
        self._log_every = log_every
        self._clock = clock
        self._plans: dict[Rule, _Plan] = {}
        self._adhoc: dict[tuple[str, str], Rule] = {}
        self._quiet: dict[str, tuple[float, int]] = {}
        self._dry_quiet: dict[str, tuple[float, int]] = {}
        meter = get_meter("ratelimit")
        self._decisions = meter.create_counter(
            RATELIMIT_DECISIONS, unit="{request}", description="Rate-limit decisions by outcome"
        )
        self._errors = meter.create_counter(
            RATELIMIT_BACKEND_ERRORS, unit="{error}", description="Store failures by policy"
        )
        self._waits = meter.create_histogram(
            RATELIMIT_ACQUIRE_WAIT, unit="s", description="Time acquire() waited for capacity"
        )

    def plan(self, rule: Rule) -> _Plan:
        """The precomputed keys, arguments and headers of ``rule`` (built on first use)."""
        plan = self._plans.get(rule)
        if plan is None:
            supported = getattr(self.store, "strategies", None)
            if supported is not None and rule.code not in supported:
                raise ConfigError(
                    f"rule {rule.name!r}",
                    f"strategy {rule.strategy!r} is not available on "
                    f"{type(self.store).__name__}; use Redis or memory, or another strategy",
                )
            plan = self._plans[rule] = _Plan(rule, self.prefix, self.legacy_headers)
        return plan

    def identify(self, rule: Rule, scope: Scope) -> str:
        """Who ``scope`` is counted as under ``rule`` (``-`` when nothing identifies it)."""
        return (rule.key or self.key)(scope) or "-"

    async def check(self, rule: Rule, scope: Scope) -> Decision:
        """Decide an ASGI request under ``rule`` (identity and cost taken from the scope)."""
        return await self.hit(rule, self.identify(rule, scope), rule.cost_of(scope))

    async def hit(self, rule: Rule, identity: str, cost: int = 1) -> Decision:
        """Count ``cost`` units for ``identity`` under ``rule`` and decide.

        Never raises for a store failure: the rule's ``on_backend_error`` policy decides
        (``allowed`` with ``error`` set). Takes at most ``timeout`` seconds; while the store is
        known to be down (:attr:`outage`), no time at all: the store is not asked.
        """
        plan = self._plans.get(rule) or self.plan(rule)
        if len(identity) > _MAX_IDENTITY:  # a client-chosen header must not make huge keys
            identity = "sha256:" + hashlib.sha256(identity.encode()).hexdigest()
        elif "{" in identity or "}" in identity:
            identity = identity.translate(_BRACES)
        keys = [plan.head + identity + suffix for suffix in plan.suffixes]
        if self._sync is not None:
            reply = self._sync(keys, rule.code, cost, plan.limits)
        else:
            outage = self.outage
            if outage.until:
                if outage.down():
                    return self._failed(rule, outage.error or TimeoutError(), outage.reason)
                outage.reset()  # lapsed with no probe to end it: this decision tries the store
            args: tuple[str | int, ...] = (rule.code, cost, *plan.args)
            task = self._deadlines.enter()
            try:
                reply = await self.store.decide(keys, args)
            except asyncio.CancelledError as cancelled:
                if not self._deadlines.expired(task):
                    raise
                late = TimeoutError(f"no answer within {self.timeout:g} s")
                # what redis-py was retrying when the deadline struck (a refused connection,
                # typically) is the cancellation's context: keep it for describe_failure
                late.__context__ = cancelled
                return self._tripped(rule, late)
            except BACKEND_ERRORS as exc:
                return self._tripped(rule, exc)
            finally:
                self._deadlines.leave(task)
        if reply[0]:
            self._decisions.add(1, plan.attrs["allowed"])
            return Decision(True, rule, reply)
        if rule.dry_run:
            self._decisions.add(1, plan.attrs["dry_run"])
            self._dry_run_log(rule, identity)
            return Decision(True, rule, reply, limited=True)
        self._decisions.add(1, plan.attrs["limited"])
        return Decision(False, rule, reply, limited=True)

    def _dry_run_log(self, rule: Rule, identity: str) -> None:
        """One INFO line per rule per ``log_every`` seconds; the counter has every one."""
        now = self._clock()
        last, skipped = self._dry_quiet.get(rule.name, (float("-inf"), 0))
        if now - last < self._log_every:
            self._dry_quiet[rule.name] = (last, skipped + 1)
            return
        self._dry_quiet[rule.name] = (now, 0)
        log.info(
            "dry run: rule %r would limit %s%s",
            rule.name,
            identity,
            f" ({skipped} more since the last message)" if skipped else "",
        )

    def _tripped(self, rule: Rule, exc: BaseException) -> Decision:
        """The store failed on this decision: start (or extend) the outage, then the policy."""
        self.outage.trip(exc, "a decision")
        return self._failed(rule, exc, self.outage.reason)

    def _failed(self, rule: Rule, exc: BaseException, reason: str) -> Decision:
        policy = rule.on_backend_error
        kind = self.outage.kind
        self._errors.add(1, {"rule": rule.name, "policy": policy, "kind": kind})
        now = self._clock()
        last, skipped = self._quiet.get(rule.name, (float("-inf"), 0))
        if now - last >= self._log_every:
            self._quiet[rule.name] = (now, 0)
            log.warning(
                "rate limit %r: store failed (%s); failing %s%s",
                rule.name,
                reason,
                policy,
                f" ({skipped} more since the last message)" if skipped else "",
            )
        else:
            self._quiet[rule.name] = (last, skipped + 1)
        return Decision(policy == "open", rule, [], error=exc)

    async def acquire(
        self,
        limits: str | Rule,
        key: str,
        *,
        cost: int = 1,
        max_wait: float = 5.0,
        name: str = "acquire",
    ) -> Decision:
        """Wait until ``cost`` units fit under ``limits`` for ``key``, at most ``max_wait`` s.

        For internal callers (queue producers, webhook fan-out) that should slow down rather
        than fail. When the store is down the rule's policy applies at once.

        Args:
            limits: a :class:`Rule`, or a limit string (``"50/second"``) made into a GCRA rule
                called ``name`` (built once, then reused).
            key: what is counted (``"webhooks:tenant-42"``).
            cost: units to take.
            max_wait: the longest this call waits, in seconds.
            name: the rule name for a limit string.

        Raises:
            RateLimitExceeded: no capacity within ``max_wait`` (waits no longer than that).
            BackendUnavailable: the store is down and the rule fails closed.
            ConfigError: a malformed limit string, or a ``cost`` above what a limit can ever
                hold (its amount; its burst for GCRA), raised at once without waiting.
        """
        rule = limits if isinstance(limits, Rule) else self._adhoc_rule(limits, name)
        _check_cost_fits(rule, cost)
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + max_wait
        try:
            while True:
                decision = await self.hit(rule, key, cost)
                if decision.error is not None and not decision.allowed:
                    raise BackendUnavailable(
                        f"rate limit {rule.name!r}: store unavailable and the rule fails closed"
                    ) from decision.error
                if decision.allowed:
                    return decision
                # at least 1 ms: a store that reports 0 after losing a race (limits' own
                # strategies can) must not turn this loop into a busy one
                wait = max(max(decision.reply[3::3]) / 1000, 0.001)
                if loop.time() + wait > deadline:
                    raise RateLimitExceeded(rule.name, wait, max_wait)
                await asyncio.sleep(wait)
        finally:
            self._waits.record(loop.time() - start, {"rule": rule.name})

    def _adhoc_rule(self, limits: str, name: str) -> Rule:
        rule = self._adhoc.get((limits, name))
        if rule is None:
            rule = self._adhoc[(limits, name)] = Rule(name=name, limits=limits)
        return rule

    def headers(self, decision: Decision) -> list[tuple[bytes, bytes]]:
        """The response header lines for ``decision`` (see :mod:`.headers`)."""
        return self.plan(decision.rule).headers.headers(decision)

    async def aclose(self) -> None:
        """Stop the outage probe, and close the store's connections if this limiter built them."""
        await self.outage.aclose()
        if self._owned:
            await self.store.aclose()

    def __repr__(self) -> str:
        return f"<RateLimiter store={type(self.store).__name__} prefix={self.prefix!r}>"
