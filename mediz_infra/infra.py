"""Infra: builds the backends from Settings, owns their lifecycle, and plugs into Starlette.

Nothing connects when an :class:`Infra` is built: connections open in :meth:`Infra.start`
(or the Starlette lifespan), so importing and constructing stay cheap for serverless cold starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

from ._urls import redact
from .backends.postgres import PoolManager
from .backends.redis import check_redis, close_redis, create_redis_from_settings
from .config import Settings, load_settings
from .errors import InfraError
from .health import Check, pool_check, redis_check
from .problems import problem_handlers

if TYPE_CHECKING:
    from .backends.embedded import EmbeddedPostgres
    from .backends.redis import RedisClient

__all__ = ["Infra"]

log = logging.getLogger("mediz_infra")


class Infra:
    """The app's connections: a Postgres pool and a Redis client, started and closed together.

    Use ``async with Infra.from_settings() as infra:`` in scripts and workers, or
    ``Starlette(lifespan=infra.lifespan)`` in an app. Starting twice is harmless; closing
    closes everything that was started, in reverse order.

    Attributes:
        settings: the settings the backends were built from.
        db: the Postgres pool, or ``None`` when no database is configured.
        redis: the Redis client, or ``None`` when ``REDIS_URL`` is unset (or ``memory://``).
            Hand components ``infra.redis or "memory://app"``: without Redis each keeps its
            own in-process store, which serves one process only.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        db: PoolManager | None = None,
        redis: RedisClient | None = None,
        embedded_postgres: bool = False,
        require_redis: bool = False,
        check_timeout: float = 3.0,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.require_redis = require_redis
        self.check_timeout = check_timeout
        self._embedded_wanted = embedded_postgres and db is None and not self.settings.database_url
        self._embedded: EmbeddedPostgres | None = None
        if db is None and self.settings.database_url is not None:
            db = PoolManager.from_settings(self.settings)
        self.db: PoolManager | None = db
        self.redis: RedisClient | None = (
            redis if redis is not None else create_redis_from_settings(self.settings)
        )
        self._started = False
        self._lock: asyncio.Lock | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        embedded_postgres: bool = False,
        require_redis: bool = False,
    ) -> Infra:
        """Build from ``settings`` (default: read the environment now).

        Args:
            settings: the settings; ``None`` reads them from the environment.
            embedded_postgres: when ``DATABASE_URL`` is unset, start an embedded Postgres
                (needs the ``pg`` extra) instead of running without a database.
            require_redis: refuse to start while Redis is unreachable. By default the app
                starts degraded: each component follows its declared failure policy (the cache
                calls through, the rate limiter decides by ``on_backend_error``) and
                :meth:`check` reports Redis down until it answers.

        Raises:
            ConfigError: a setting is invalid; names the variable.
        """
        return cls(settings, embedded_postgres=embedded_postgres, require_redis=require_redis)

    def __repr__(self) -> str:
        db = self.db.url if self.db else "none"
        redis = type(self.redis).__name__ if self.redis is not None else "none"
        return f"<Infra db={db} redis={redis} started={self._started}>"

    async def start(self) -> Infra:
        """Connect every backend and run start-up self-checks. Calling it twice is harmless.

        Raises:
            BackendUnavailable: a backend cannot be reached; whatever was started is closed.
        """
        if self._started:
            return self
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._started:
                return self  # type: ignore[unreachable]
            started = time.perf_counter()
            try:
                if self._embedded_wanted and self.db is None:
                    from .backends.embedded import start_embedded_postgres

                    self._embedded = await start_embedded_postgres()
                    self.db = PoolManager(
                        self._embedded.url,
                        min_size=self.settings.database_pool_min,
                        max_size=self.settings.database_pool_max,
                        application_name=self.settings.application_name,
                        name="embedded",
                    )
                if self.db is not None:
                    await self.db.start()
                if self.redis is not None:
                    await self._check_redis_at_start(self.redis)
            except BaseException:
                await self._close_started()
                raise
            self._started = True
            log.info("infra started in %.2f s: %r", time.perf_counter() - started, self)
        return self

    @staticmethod
    def problem_handlers(**options: Any) -> dict[Any, Any]:
        """:func:`mediz_infra.problems.problem_handlers` that also answer 503 for a Postgres
        connection lost mid-query, a server shutting down or a statement cancelled by its
        timeout (asyncpg's own errors), besides the library's errors.

        Use as ``Starlette(exception_handlers=Infra.problem_handlers())``.
        """
        unavailable = (
            asyncpg.PostgresConnectionError,  # lost or never made (08xxx)
            asyncpg.exceptions.OperatorInterventionError,  # shutdown, statement timeout (57xxx)
            asyncpg.exceptions.ConnectionDoesNotExistError,
        )
        return problem_handlers(unavailable=unavailable, **options)

    async def _check_redis_at_start(self, redis: RedisClient) -> None:
        try:
            await check_redis(redis)  # logs a maxmemory-policy that evicts keys
        except InfraError as exc:
            if self.require_redis:
                raise
            log.warning(
                "Redis is not answering at start-up (%s); starting degraded: the cache calls "
                "through and the rate limiter follows each rule's on_backend_error until Redis "
                "answers (pass require_redis=True to refuse to start instead)",
                exc,
            )

    async def close(self) -> None:
        """Close every backend; safe to call when not started or twice."""
        self._started = False
        await self._close_started()

    async def _close_started(self) -> None:
        errors: list[BaseException] = []
        if self.db is not None:
            try:
                await self.db.close()
            except Exception as exc:  # keep closing the rest
                errors.append(exc)
        if self.redis is not None:
            try:
                await close_redis(self.redis)
            except Exception as exc:
                errors.append(exc)
        if self._embedded is not None:
            embedded, self._embedded = self._embedded, None
            self.db = None  # its URL dies with the embedded server; start() makes a new one
            await embedded.aclose()
        for error in errors:
            log.warning("error while closing infra: %s", error)

    async def __aenter__(self) -> Infra:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[dict[str, Any]]:
        """Starlette lifespan: ``Starlette(lifespan=infra.lifespan)``.

        Yields ``{"infra": self}`` as lifespan state, so handlers read ``request.state.infra``.
        """
        await self.start()
        try:
            yield {"infra": self}
        finally:
            await self.close()

    async def check(self) -> dict[str, Any]:
        """Health detail of every backend: ``{"db": {...}, "redis": {...}}``; no passwords.

        Never raises and never takes much longer than ``check_timeout``: a backend that fails or
        does not answer in time reports ``{"status": "down", "error": "..."}``. A backend left
        unconfigured on purpose reports ``{"status": "off", "detail": "..."}``.
        """
        out: dict[str, Any] = {}
        if self.db is None:
            out["db"] = {"status": "off", "detail": "DATABASE_URL is unset: no database"}
        else:
            out["db"] = await self._probe("db", self.db.check(timeout=self.check_timeout))
        if self.redis is None:
            out["redis"] = {
                "status": "off",
                "detail": "REDIS_URL is unset: components keep in-process stores (one process)",
            }
        else:
            out["redis"] = await self._probe("redis", check_redis(self.redis, log_warnings=False))
        return out

    def metrics_gauges(self) -> dict[str, Callable[[], dict[str, float]]]:
        """Gauges of this infra's backends for :func:`~mediz_infra.metrics.metrics_routes`.

        ``db.pool``: the pool's ``size``, ``idle``, ``in_use``, ``waiting``, ``max_size`` and
        ``usage_percent``. The dashboard reads them through these functions, so the metrics
        component never imports the pool.
        """
        gauges: dict[str, Callable[[], dict[str, float]]] = {}

        def pool() -> dict[str, float]:
            db = self.db  # read on each call: an embedded Postgres appears at start()
            if db is None:
                return {}
            stats = db.stats()
            usage = 100.0 * stats.in_use / stats.max_size if stats.max_size else 0.0
            return {
                "size": stats.size,
                "idle": stats.idle,
                "in_use": stats.in_use,
                "waiting": stats.waiting,
                "max_size": stats.max_size,
                "usage_percent": round(usage, 1),
            }

        if self.db is not None or self._embedded_wanted:
            gauges["db.pool"] = pool
        return gauges

    def health_checks(
        self, *, redis_critical: bool = False, pool_warn_percent: float = 80.0
    ) -> list[Check]:
        """Checks of this infra's backends for a :class:`~mediz_infra.health.HealthRouter`.

        ``postgres`` (critical: readiness needs the database; ``warn`` past
        ``pool_warn_percent`` of the pool in use) and ``redis`` (not critical by default: every
        component has a declared fallback while Redis is down, so the app is degraded, not
        down; ``warn`` past 50 ms a ``PING``). Each is bounded by ``check_timeout``.
        """
        checks: list[Check] = []
        timeout = self.check_timeout
        if self.db is not None:
            probe = pool_check(self.db, timeout=timeout, warn_percent=pool_warn_percent)
            checks.append(Check("postgres", probe, timeout=timeout, component_type="datastore"))
        if self.redis is not None:
            checks.append(
                Check(
                    "redis",
                    redis_check(self.redis),
                    critical=redis_critical,
                    timeout=timeout,
                    component_type="datastore",
                )
            )
        return checks

    async def _probe(self, name: str, check: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.check_timeout + 1.0):
                return {"status": "ok", **await check}
        except TimeoutError:
            return {"status": "down", "error": f"{name} did not answer within the check's time"}
        except Exception as exc:  # whatever a driver raises, a health check reports it
            return {"status": "down", "error": redact(str(exc)) or type(exc).__name__}
