"""PoolManager's arguments: the URL's own options, the checks that name a bad one, from Settings.

:func:`settings_options` maps :class:`~mediz_infra.config.Settings` (``DATABASE_*`` variables)
to PoolManager arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ..._urls import BackendURL, parse_bool, parse_url
from ...errors import ConfigError

if TYPE_CHECKING:
    from ...config import Settings

__all__ = [
    "PGBOUNCER_PORTS",
    "check_arguments",
    "check_replica_arguments",
    "parse_pool_url",
    "settings_options",
]

_SCHEMES = ("postgresql", "postgres")
PGBOUNCER_PORTS = frozenset({6432, 6543})


def parse_pool_url(
    url: str, pgbouncer: Literal["auto"] | bool
) -> tuple[BackendURL, dict[str, str], Literal["auto"] | bool]:
    """Parse ``url``; a ``pgbouncer=`` query option overrides ``pgbouncer``.

    Returns the parsed URL, its query options without ``pgbouncer`` (they go to asyncpg), and
    the ``pgbouncer`` argument as overridden.

    Raises:
        ConfigError: a malformed URL, an unknown scheme or a bad ``pgbouncer`` option.
    """
    parsed = parse_url(url, field_name="DATABASE_URL", schemes=_SCHEMES)
    query = dict(parsed.query)
    if "pgbouncer" in query:
        try:
            pgbouncer = parse_bool(query.pop("pgbouncer"))
        except ValueError as exc:
            raise ConfigError(
                "DATABASE_URL?pgbouncer", f"{exc} in {parsed.redacted()}"
            ) from None
    return parsed, query, pgbouncer


def check_arguments(
    *,
    min_size: int,
    max_size: int,
    acquire_timeout: float,
    command_timeout: float | None,
    statement_timeout: float | None,
    max_lifetime: float,
    max_idle: float,
    ping_after: float,
    max_waiting: int | None,
    pgbouncer: Literal["auto"] | bool,
    reset: Literal["auto", "always"],
    connect_timeout: float,
) -> None:
    """Check :class:`~mediz_infra.backends.postgres.PoolManager`'s sizes, timeouts and modes.

    Raises:
        ConfigError: the first bad argument, named, with the value given.
    """
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
        raise ConfigError("min_size", f"must be an integer >= 0, got {min_size!r}")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise ConfigError("max_size", f"must be an integer >= 1, got {max_size!r}")
    if min_size > max_size:
        raise ConfigError(
            "min_size", f"min_size ({min_size}) is larger than max_size ({max_size})"
        )
    if max_waiting is not None and max_waiting < 0:
        raise ConfigError("max_waiting", f"must be >= 0 or None, got {max_waiting!r}")
    _check_positive("acquire_timeout", acquire_timeout)
    _check_positive("command_timeout", command_timeout, allow_none=True)
    _check_positive("statement_timeout", statement_timeout, allow_none=True)
    _check_positive("max_lifetime", max_lifetime)
    _check_positive("max_idle", max_idle)
    _check_positive("ping_after", ping_after)
    _check_positive("connect_timeout", connect_timeout)
    if pgbouncer not in ("auto", True, False):
        raise ConfigError("pgbouncer", f"must be 'auto', True or False, got {pgbouncer!r}")
    if reset not in ("auto", "always"):
        raise ConfigError("reset", f"must be 'auto' or 'always', got {reset!r}")


def check_replica_arguments(
    *,
    max_lag: float | None,
    lag_fallback: Literal["primary", "fail"],
    replica_check_interval: float,
    replica_check_timeout: float,
) -> None:
    """Check the read replicas' options.

    Raises:
        ConfigError: the first bad argument, named, with the value given.
    """
    _check_positive("max_lag", max_lag, allow_none=True)
    if lag_fallback not in ("primary", "fail"):
        raise ConfigError(
            "lag_fallback", f"must be 'primary' or 'fail', got {lag_fallback!r}"
        )
    _check_positive("replica_check_interval", replica_check_interval)
    _check_positive("replica_check_timeout", replica_check_timeout)


def _check_positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value <= 0:
        raise ConfigError(name, f"must be a number of seconds > 0, got {value!r}")


def settings_options(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The primary's URL and the PoolManager arguments that ``settings`` give.

    Raises:
        ConfigError: ``DATABASE_URL`` is unset.
    """
    dsn = settings.database_dsn()
    if dsn is None:
        raise ConfigError("DATABASE_URL", "is not set; set it to postgresql://user@host/db")
    pgb = settings.database_pgbouncer
    options: dict[str, Any] = {
        "min_size": settings.database_pool_min,
        "max_size": settings.database_pool_max,
        "pgbouncer": "auto" if pgb == "auto" else pgb == "true",
        "replicas": settings.replica_dsns(),
        "acquire_timeout": settings.acquire_timeout,
        "command_timeout": settings.command_timeout,
        "statement_timeout": settings.statement_timeout,
        "application_name": settings.application_name,
    }
    return dsn, options
