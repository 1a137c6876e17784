"""Response header fields and the 429 / 503 bodies.

The IETF fields (draft-ietf-httpapi-ratelimit-headers) are structured-field lists:
``RateLimit-Policy`` names each limit of the rule with its quota ``q`` and window ``w``
(seconds) and never changes, so it is built once per rule; ``RateLimit`` gives each limit's
remaining units ``r`` and the seconds ``t`` until it is fully available again. The legacy
``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (seconds from now) describe the tightest
limit, for clients that only know those. A 429 carries ``Retry-After`` (whole seconds, at least
1) and an RFC 9457 ``application/problem+json`` body.
"""

from __future__ import annotations

import json
import math

from .decision import Decision
from .rules import Rule

__all__ = ["HeaderBuilder", "problem_body"]

Headers = list[tuple[bytes, bytes]]


def _policy_name(rule: Rule, index: int) -> str:
    if len(rule.parsed) == 1:
        return rule.name
    return f"{rule.name}-{rule.parsed[index].window}s"


class HeaderBuilder:
    """Builds the header lines for one rule's decisions (the static parts once).

    Args:
        rule: the rule.
        legacy: add ``X-RateLimit-*`` besides the IETF fields.
    """

    def __init__(self, rule: Rule, *, legacy: bool = False) -> None:
        self.rule = rule
        self.legacy = legacy
        self._names = [_policy_name(rule, i) for i in range(len(rule.parsed))]
        policy = ", ".join(
            f'"{name}";q={limit.amount};w={limit.window}'
            for name, limit in zip(self._names, rule.parsed, strict=True)
        )
        self._policy = (b"ratelimit-policy", policy.encode())
        self._heads = [f'"{name}";r=' for name in self._names]
        self._single = len(self._names) == 1

    def headers(self, decision: Decision) -> Headers:
        """``RateLimit-Policy`` and ``RateLimit`` (+ legacy) for this decision; ``Retry-After``
        when limited. Empty when the store could not decide."""
        reply = decision.reply
        if len(reply) < 4:
            return []
        if self._single:  # the common case, without the loop
            value = f"{self._heads[0]}{reply[1]};t={-(-reply[2] // 1000)}"
            tightest = 0
        else:
            parts = []
            tightest = 0
            for i, head in enumerate(self._heads):
                remaining = reply[1 + 3 * i]
                parts.append(f"{head}{remaining};t={-(-reply[2 + 3 * i] // 1000)}")
                if remaining < reply[1 + 3 * tightest]:
                    tightest = i
            value = ", ".join(parts)
        out: Headers = [self._policy, (b"ratelimit", value.encode())]
        if self.legacy:
            limit = self.rule.parsed[tightest]
            out += [
                (b"x-ratelimit-limit", str(limit.amount).encode()),
                (b"x-ratelimit-remaining", str(reply[1 + 3 * tightest]).encode()),
                (b"x-ratelimit-reset", str(math.ceil(reply[2 + 3 * tightest] / 1000)).encode()),
            ]
        if decision.limited:
            out.append((b"retry-after", str(decision.retry_after).encode()))
        return out


def problem_body(decision: Decision) -> tuple[int, bytes]:
    """The status and RFC 9457 body for a refused request (429 limited, 503 store down)."""
    rule = decision.rule
    if decision.limited:
        limits = "; ".join(s.limit.text for s in decision.states if s.retry_after > 0) or "; ".join(
            limit.text for limit in rule.parsed
        )
        problem = {
            "type": "about:blank",
            "title": "Too Many Requests",
            "status": 429,
            "detail": f"rate limit {rule.name!r} ({limits}) exceeded; "
            f"retry in {decision.retry_after} s",
            "rule": rule.name,
            "retry_after": decision.retry_after,
        }
        return 429, json.dumps(problem).encode()
    problem = {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": f"the rate limiter's store is unavailable and rule {rule.name!r} fails "
        "closed; retry shortly",
        "rule": rule.name,
    }
    return 503, json.dumps(problem).encode()
