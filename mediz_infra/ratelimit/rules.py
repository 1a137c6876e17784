"""Rules: which requests a set of limits applies to, and how those limits are spelled.

A limit string is ``limits``' notation: ``"20/minute"``, ``"20 per minute"``, ``"100/5 minutes"``,
several joined by ``;`` (``"20/minute;200/day"``). Everything is checked when the rule is built,
so a typo fails at start-up with a :class:`~mediz_infra.errors.ConfigError` naming the rule,
never on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import limits

from ..errors import ConfigError
from ..types import Scope
from .gcra import Emission, emission
from .identity import ClientIdentifier

__all__ = ["STRATEGIES", "Cost", "Limit", "Rule", "Strategy", "parse_limits"]

Strategy: TypeAlias = Literal["fixed-window", "moving-window", "sliding-window-counter", "gcra"]
STRATEGIES: dict[str, str] = {
    "fixed-window": "f",
    "moving-window": "m",
    "sliding-window-counter": "s",
    "gcra": "g",
}
"""Strategy name -> the code the Lua script and the memory store dispatch on."""

Cost: TypeAlias = "int | Callable[[Scope], int]"

# limits reads a zero multiple ("10 per 0 minutes") as 1; we refuse it instead.
_ZERO_MULTIPLE = re.compile(r"(?:/|\bper\b)\s*0+\s*[a-z]", re.IGNORECASE)
_SEPARATORS = re.compile(r"[;,|]")


@dataclass(frozen=True)
class Limit:
    """One limit: ``amount`` units per ``window`` seconds.

    Attributes:
        amount: units allowed per window (> 0).
        window: the window in whole seconds (> 0).
        text: the limit as written, normalised (``"20/1 minute"``).
    """

    amount: int
    window: int
    text: str

    @property
    def item(self) -> limits.RateLimitItem:
        """The same limit as a ``limits`` item (for the ``limits`` storage adapter)."""
        return limits.parse(self.text)


def parse_limits(text: str, *, rule: str = "limit") -> tuple[Limit, ...]:
    """Parse ``"20/minute;200/day"`` into limits, rejecting anything that is not clearly meant.

    Args:
        text: one or more limits in ``limits``' notation, joined by ``;``, ``,`` or ``|``.
        rule: the rule's name, for the error message.

    Raises:
        ConfigError: a part does not parse, or has a zero amount or a zero window.
    """
    # limits' own grammar (limits.parse_many), one part at a time so an error names the part,
    # plus the two refusals limits does not make: a zero amount and a zero window.
    parsed: list[Limit] = []
    for part in _SEPARATORS.split(text):
        try:
            (item,) = limits.parse_many(part)
        except ValueError:
            raise ConfigError(
                f"rule {rule!r}",
                f"cannot parse the limit {part.strip()!r} in {text!r}; write it as "
                "'<amount>/<unit>' or '<amount> per <n> <unit>s', e.g. '20/minute;200/day'",
            ) from None
        if item.amount <= 0 or _ZERO_MULTIPLE.search(part):
            raise ConfigError(
                f"rule {rule!r}",
                f"the limit {part.strip()!r} allows nothing; amount and window must be above 0 "
                "(to block a route, do not route it)",
            )
        unit = item.GRANULARITY.name
        window = item.multiples * item.GRANULARITY.seconds
        parsed.append(Limit(item.amount, window, f"{item.amount}/{item.multiples} {unit}"))
    return tuple(parsed)


def _compile_paths(patterns: Sequence[str], rule: str) -> re.Pattern[str] | None:
    """``/api/admin/*`` (any suffix), ``/items/{id}`` (one segment), exact paths; None = all."""
    if not patterns:
        return None
    parts = []
    for pattern in patterns:
        if not pattern.startswith("/"):
            raise ConfigError(f"rule {rule!r}", f"path pattern {pattern!r} must start with '/'")
        regex = re.escape(pattern).replace(r"\*", ".*")
        regex = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", regex)
        parts.append(regex)
    return re.compile("(?:" + "|".join(parts) + ")$")


@dataclass(frozen=True, eq=False)
class Rule:
    """A named set of limits, the requests it applies to, and how it behaves.

    Every route a rule matches shares its counters: a rule over ``/api/admin/*`` is one budget
    for the whole admin area, per client. Give each route its own rule (or use
    :func:`~mediz_infra.ratelimit.rate_limit`) for separate budgets.

    Args:
        name: names the rule in keys, headers, telemetry, logs and errors.
        limits: ``"20/minute;200/day"`` or parsed :class:`Limit` values; all must pass.
        paths: path patterns (``"/api/chat"``, ``"/api/admin/*"``, ``"/items/{id}"``); empty
            matches every path.
        methods: HTTP methods (``("POST",)``); None matches every method.
        strategy: ``"gcra"`` (default: one key per limit, exact retry-after, smooth refill),
            ``"moving-window"`` (exact log; memory grows with the amount),
            ``"fixed-window"`` (cheapest; allows up to twice the amount across a window edge) or
            ``"sliding-window-counter"`` (approximate, two counters).
        key: who is counted; None uses the middleware's or limiter's default (the client IP).
        cost: units a request takes: a number, or a function of the ASGI scope (a result
            below 1 counts as 1).
        burst: GCRA only: units that may be sent back to back (default: the amount).
        on_backend_error: ``"open"`` (default: let the request through) or ``"closed"`` (answer
            503) when the store cannot be reached in time. Either way it is logged and counted.
        dry_run: decide and count, but never limit and send no headers: for rolling out a limit.

    Raises:
        ConfigError: a malformed limit, path pattern, strategy, cost or policy, naming the rule;
            for GCRA, a rate too fast to count exactly in whole nanoseconds (more than about
            one unit per nanosecond, or an interval whose rounding would gain or lose a unit
            per window), naming the limit.
    """

    name: str
    limits: str | Sequence[Limit]
    paths: Sequence[str] = ()
    methods: Sequence[str] | None = None
    strategy: Strategy = "gcra"
    key: ClientIdentifier | None = None
    cost: Cost = 1
    burst: int | None = None
    on_backend_error: Literal["open", "closed"] = "open"
    dry_run: bool = False
    parsed: tuple[Limit, ...] = field(init=False, repr=False)
    code: str = field(init=False, repr=False)
    path_regex: re.Pattern[str] | None = field(init=False, repr=False)
    method_set: frozenset[str] | None = field(init=False, repr=False)
    emissions: tuple[Emission, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"rule {self.name!r}"
        if not self.name or any(c in self.name for c in '{}"\\ '):
            raise ConfigError(where, "a rule needs a name without spaces, quotes or braces")
        parsed = (
            parse_limits(self.limits, rule=self.name)
            if isinstance(self.limits, str)
            else tuple(self.limits)
        )
        if not parsed:
            raise ConfigError(where, "give at least one limit, e.g. '20/minute'")
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                where, f"unknown strategy {self.strategy!r}; known: {', '.join(STRATEGIES)}"
            )
        if self.on_backend_error not in ("open", "closed"):
            raise ConfigError(where, "on_backend_error must be 'open' or 'closed'")
        if not callable(self.cost) and (not isinstance(self.cost, int) or self.cost < 1):
            raise ConfigError(
                where, f"cost must be an integer >= 1 or a function, got {self.cost!r}"
            )
        if self.burst is not None and (self.strategy != "gcra" or self.burst < 1):
            raise ConfigError(where, "burst is an integer >= 1 and applies to the gcra strategy")
        emissions: list[Emission] = []
        if self.strategy == "gcra":
            for lim in parsed:
                try:
                    emissions.append(emission(lim.amount, lim.window, self.burst or lim.amount))
                except ValueError as exc:
                    raise ConfigError(where, f"the limit {lim.text!r}: {exc}") from None
        object.__setattr__(self, "emissions", tuple(emissions))
        object.__setattr__(self, "parsed", parsed)
        object.__setattr__(self, "code", STRATEGIES[self.strategy])
        object.__setattr__(self, "path_regex", _compile_paths(self.paths, self.name))
        methods = None if self.methods is None else frozenset(m.upper() for m in self.methods)
        if methods is not None and "GET" in methods:
            methods |= {"HEAD"}  # Starlette runs a GET endpoint for HEAD too
        object.__setattr__(self, "method_set", methods)

    def matches(self, path: str, method: str) -> bool:
        """Whether this rule applies to a request for ``path`` with ``method``."""
        if self.method_set is not None and method not in self.method_set:
            return False
        return self.path_regex is None or self.path_regex.match(path) is not None

    def cost_of(self, scope: Scope) -> int:
        """The units this request takes."""
        cost = self.cost
        return cost if isinstance(cost, int) else max(1, int(cost(scope)))
