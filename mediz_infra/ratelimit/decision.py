"""What a rate-limit check answers: :class:`Decision`, and :class:`RateLimitExceeded`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import RateLimitExceeded
from .rules import Limit, Rule

__all__ = ["Decision", "LimitState", "RateLimitExceeded"]


@dataclass(frozen=True, slots=True)
class LimitState:
    """One limit after a decision.

    Attributes:
        limit: the limit.
        remaining: units still available in it (after this request when it was allowed).
        reset: seconds until it is fully available again.
        retry_after: seconds until this request would have fit (0 when it did).
    """

    limit: Limit
    remaining: int
    reset: float
    retry_after: float


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a microsecond per request
class Decision:
    """The verdict on one request.

    Attributes:
        allowed: let it through (also True for a dry-run rule that would have limited, and for
            a fail-open rule whose store was down).
        rule: the rule that decided.
        reply: the store's raw reply ``[allowed, remaining, reset_ms, retry_ms, ...]``; empty
            when the store failed.
        limited: the limits said no (even if a dry run let the request through).
        error: the store's error when it could not decide (the rule's policy then applied).
    """

    allowed: bool
    rule: Rule
    reply: list[int]
    limited: bool = False
    error: BaseException | None = None

    @property
    def states(self) -> tuple[LimitState, ...]:
        """Each limit's state, in the rule's order (empty when the store failed)."""
        r = self.reply
        return tuple(
            LimitState(limit, r[1 + 3 * i], r[2 + 3 * i] / 1000, r[3 + 3 * i] / 1000)
            for i, limit in enumerate(self.rule.parsed)
            if len(r) > 3 + 3 * i
        )

    @property
    def retry_after(self) -> int:
        """Whole seconds until the request would fit: at least 1 when limited, else 0."""
        if not self.limited:
            return 0
        worst = max(self.reply[3::3], default=0)
        return max(1, math.ceil(worst / 1000))
