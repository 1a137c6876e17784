"""Fail-open: when Redis errors or times out, the cache steps aside for a short back-off.

After a failure every call skips Redis (the function runs directly, so a call costs what the
function costs, not a connection attempt or a timeout each). When the back-off ends, no caller
is sent to find out whether Redis is back: a background probe (one ``PING``, bounded by the
cache's timeout) asks while callers keep skipping, and only its answer ends the outage (or
starts the next back-off). So a hung Redis costs callers nothing after the first failure, not
one timeout per back-off. Failures are logged at most once per ``log_every`` seconds, with the
number suppressed in between, so an outage does not flood the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisClusterException, RedisError

from ..errors import InfraError

__all__ = ["BACKEND_ERRORS", "Outage"]

BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    RedisClusterException,  # not a RedisError: raised when no Cluster node answers
    OSError,
    TimeoutError,
    InfraError,
)
"""What counts as "Redis is down": the cache fails open on these."""

logger = logging.getLogger("mediz_infra.cache")


class Outage:
    """The back-off state shared by every function of one cache.

    Args:
        backoff: seconds Redis is skipped after a failure.
        log_every: at most one log line per this many seconds.
        name: shown in log lines (the cache's prefix and redacted URL).
        prober: starts a background check of the backend when a back-off ends (it must call
            :meth:`reset` on success, or :meth:`trip`, and :meth:`probed` either way). Without
            one, the first call after the back-off tries the backend itself.
    """

    __slots__ = (
        "_last_log", "_suppressed", "backoff", "log_every", "name", "prober", "probing", "until"
    )

    def __init__(
        self,
        backoff: float,
        *,
        log_every: float = 30.0,
        name: str = "cache",
        prober: Callable[[], None] | None = None,
    ) -> None:
        self.backoff = backoff
        self.log_every = log_every
        self.name = name
        self.prober = prober
        self.probing = False
        #: ``0.0`` while the backend is healthy (one falsy check on the hot path), else the
        #: monotonic time the current back-off ends
        self.until = 0.0
        self._last_log = -1e18
        self._suppressed = 0

    def down(self) -> bool:
        """Whether Redis is being skipped right now."""
        return self.until > time.monotonic()

    def skip(self) -> bool:
        """Whether a call should skip the backend now (call only while :attr:`until` is set).

        When the back-off is over, starts the probe and keeps skipping until it answers.
        """
        now = time.monotonic()
        if now < self.until:
            return True
        if self.prober is None:
            return False
        self.until = now + self.backoff
        if not self.probing:
            self.probing = True
            self.prober()
        return True

    async def probe(
        self, ping: Callable[[], Awaitable[object]], failed: Callable[[BaseException, str], None]
    ) -> None:
        """The probe itself: ``ping`` the backend; end the outage, or report the failure."""
        try:
            await ping()
        except BACKEND_ERRORS as exc:
            failed(exc, "probe")
        else:
            self.reset()
            logger.info("%s: Redis answers again; caching resumed", self.name)

    def probed(self) -> None:
        """The probe finished (either way): the next lapse of the back-off may start another."""
        self.probing = False

    def trip(self, error: BaseException, doing: str) -> None:
        """Record a failure: start the back-off and log (rate-limited)."""
        now = time.monotonic()
        self.until = now + self.backoff
        if now - self._last_log < self.log_every:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
        logger.warning(
            "%s: Redis failed during %s: %s: %s; serving uncached for %g s%s",
            self.name, doing, type(error).__name__, error or "(no message)", self.backoff, more,
        )
        self._last_log = now
        self._suppressed = 0

    def reset(self) -> None:
        """Forget the back-off (after a successful call, or in tests)."""
        self.until = 0.0
