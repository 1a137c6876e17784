"""Settings: the environment variables mediz-infra reads, validated by pydantic.

Nothing is read at import time: the environment is read when ``Settings()`` is called.
Every value can also be passed in code: ``Settings(database_url="postgresql://...")``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from ._urls import parse_url, redact
from .errors import ConfigError

__all__ = ["Settings", "load_settings"]

_PG_SCHEMES = ("postgresql", "postgres")
_REDIS_SCHEMES = ("redis", "rediss", "redis+sentinel", "redis+cluster", "unix", "memory")
_S3_SCHEMES = ("s3", "file", "memory")


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """What mediz-infra reads from the environment.

    URLs are kept as :class:`~pydantic.SecretStr`, so a password never shows in a repr, a log
    line or a validation error; use :meth:`database_dsn` and friends to get the real value.

    Raises:
        ConfigError: from :func:`load_settings`, naming the variable that was wrong.
    """

    # hide_input_in_errors: a validation error must not echo a URL (or its password) back
    model_config = SettingsConfigDict(
        env_prefix="MEDIZ_",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
        hide_input_in_errors=True,
    )

    database_url: SecretStr | None = Field(default=None, validation_alias=_env("DATABASE_URL"))
    """Primary Postgres URL. Unset: the reference app starts an embedded Postgres."""
    database_replica_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias=_env("DATABASE_REPLICA_URLS")
    )
    """Read replicas, comma-separated; ``pool.read()`` round-robins over the healthy ones."""
    database_pool_min: int = Field(default=1, ge=0, validation_alias=_env("DATABASE_POOL_MIN"))
    database_pool_max: int = Field(default=10, ge=1, validation_alias=_env("DATABASE_POOL_MAX"))
    database_pgbouncer: Literal["auto", "true", "false"] = Field(
        default="auto", validation_alias=_env("DATABASE_PGBOUNCER")
    )
    redis_url: SecretStr | None = Field(default=None, validation_alias=_env("REDIS_URL"))
    """Redis URL. Unset or ``memory://``: components keep in-process stores (one process only)."""
    s3_url: SecretStr | None = Field(default=None, validation_alias=_env("S3_URL"))

    # MEDIZ_* settings
    prefix: str = "mediz"
    """Prefix of every Redis key the library writes."""
    acquire_timeout: float = Field(default=5.0, gt=0)
    command_timeout: float | None = Field(default=5.0, gt=0)
    statement_timeout: float | None = Field(default=None, gt=0)
    application_name: str = "mediz-infra"
    redis_max_connections: int = Field(default=50, ge=1)
    redis_timeout: float = Field(default=5.0, gt=0)
    admin_token: SecretStr | None = None
    """``MEDIZ_ADMIN_TOKEN``: the bearer token :class:`~mediz_infra.guard.AdminGuard` requires."""
    chat_webhook_url: SecretStr | None = None
    """``MEDIZ_CHAT_WEBHOOK_URL``: where the reference app's ``POST /api/chat`` forwards (an n8n
    webhook, say; a secret, since such URLs often carry a token)."""

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _split_replicas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_pgbouncer", mode="before")
    @classmethod
    def _lower_pgbouncer(cls, value: object) -> object:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.database_pool_min > self.database_pool_max:
            raise ConfigError(
                "DATABASE_POOL_MIN",
                f"DATABASE_POOL_MIN ({self.database_pool_min}) is larger than "
                f"DATABASE_POOL_MAX ({self.database_pool_max}); lower the first or raise the second"
            )
        for name, value, schemes in (
            ("DATABASE_URL", self.database_url, _PG_SCHEMES),
            ("REDIS_URL", self.redis_url, _REDIS_SCHEMES),
            ("S3_URL", self.s3_url, _S3_SCHEMES),
        ):
            if value is not None:
                parse_url(value.get_secret_value(), field_name=name, schemes=schemes)
        for value in self.database_replica_urls:
            parse_url(
                value.get_secret_value(), field_name="DATABASE_REPLICA_URLS", schemes=_PG_SCHEMES
            )
        return self

    def database_dsn(self) -> str | None:
        """The primary Postgres URL with its password, for a driver."""
        return self.database_url.get_secret_value() if self.database_url else None

    def replica_dsns(self) -> list[str]:
        """The replica URLs with their passwords, for a driver."""
        return [url.get_secret_value() for url in self.database_replica_urls]

    def redis_dsn(self) -> str | None:
        """The Redis URL with its password, for a driver."""
        return self.redis_url.get_secret_value() if self.redis_url else None

    def s3_dsn(self) -> str | None:
        """The S3 URL with its credentials, for a client."""
        return self.s3_url.get_secret_value() if self.s3_url else None

    def describe(self) -> dict[str, object]:
        """The settings as a dict safe to log or show: every URL has its password redacted.

        A secret that is not a URL (the admin token) shows as ``***`` when set.
        """
        out: dict[str, object] = {}
        for name, value in self:
            if isinstance(value, SecretStr):
                text = value.get_secret_value()
                out[name] = redact(text) if "://" in text else "***"
            elif isinstance(value, list):
                out[name] = [
                    redact(v.get_secret_value()) if isinstance(v, SecretStr) else v for v in value
                ]
            else:
                out[name] = value
        return out


_FIELD_ENV = {
    "database_url": "DATABASE_URL",
    "database_replica_urls": "DATABASE_REPLICA_URLS",
    "database_pool_min": "DATABASE_POOL_MIN",
    "database_pool_max": "DATABASE_POOL_MAX",
    "database_pgbouncer": "DATABASE_PGBOUNCER",
    "redis_url": "REDIS_URL",
    "s3_url": "S3_URL",
}


def load_settings(**overrides: object) -> Settings:
    """Read :class:`Settings` from the environment (and ``overrides``), with clear errors.

    Raises:
        ConfigError: a variable is invalid; the error names it and never shows a password.
    """
    unknown = sorted(set(overrides) - set(Settings.model_fields) - set(_FIELD_ENV.values()))
    if unknown:
        raise ConfigError(
            unknown[0], f"is not a setting; known: {', '.join(sorted(Settings.model_fields))}"
        )
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ConfigError:
        raise
    except SettingsError as exc:  # a variable the source could not even decode
        raise ConfigError("settings", str(exc)) from None
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        loc = str(err["loc"][0]) if err["loc"] else "settings"
        field_name = _FIELD_ENV.get(loc, loc if loc.isupper() else f"MEDIZ_{loc.upper()}")
        ctx = err.get("ctx") or {}
        cause = ctx.get("error")
        if isinstance(cause, ConfigError):
            raise ConfigError(cause.field, str(cause).partition(": ")[2]) from None
        raise ConfigError(field_name, err["msg"]) from None
