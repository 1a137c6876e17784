"""The options of a Redis URL: one parser per query option, and the same rules for keywords.

:data:`OPTIONS` maps each ``?name=`` of a Redis URL to the parser that casts its text (a bad value
is a :class:`~mediz_infra.errors.ConfigError` naming the option); :func:`check_keywords` holds the
keywords of :func:`~mediz_infra.backends.redis.create_redis` to the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..._urls import parse_bool, parse_seconds
from ...errors import ConfigError

__all__ = ["OPTIONS", "SSL_OPTIONS", "check_keywords"]


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}") from None
        if number < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        return number

    return parse


def _positive_seconds(value: str) -> float:
    seconds = parse_seconds(value)
    if seconds == 0:
        raise ValueError(f"expected seconds > 0, got {value!r}")
    return seconds


def _cert_reqs(value: str) -> str:
    if value.lower() not in ("none", "optional", "required"):
        raise ValueError(f"expected none, optional or required, got {value!r}")
    return value.lower()


# One parser per query option; the keyword of create_redis() of the same name is the default.
OPTIONS: Mapping[str, Callable[[str], Any]] = MappingProxyType(
    {
        "max_connections": _int_at_least(1),
        "timeout": _positive_seconds,
        "socket_timeout": _positive_seconds,
        "connect_timeout": _positive_seconds,
        "health_check_interval": parse_seconds,
        "retries": _int_at_least(0),
        "backoff_base": parse_seconds,
        "backoff_cap": parse_seconds,
        "decode_responses": parse_bool,
        "client_name": str,
        # credentials in the query (as libpq allows): shown as *** like the userinfo's
        "username": str,
        "password": str,
        "db": _int_at_least(0),
        "ssl_cert_reqs": _cert_reqs,
        "ssl_ca_certs": str,
        "ssl_certfile": str,
        "ssl_keyfile": str,
        "ssl_check_hostname": parse_bool,
    }
)
SSL_OPTIONS = frozenset(k for k in OPTIONS if k.startswith("ssl_"))


def check_keywords(options: Mapping[str, Any]) -> None:
    """Validate options passed in code with the rules the URL options follow."""
    for name in ("max_connections", "retries"):
        value, minimum = options[name], 1 if name == "max_connections" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(name, f"expected an integer >= {minimum}, got {value!r}")
    for name in ("timeout", "connect_timeout", "socket_timeout", "health_check_interval"):
        value = options[name]
        if value is None and name in ("connect_timeout", "socket_timeout"):
            continue  # follows timeout
        sign = ">=" if name == "health_check_interval" else ">"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or value < 0 or (value == 0 and sign == ">"):
            raise ConfigError(name, f"expected a number of seconds {sign} 0, got {value!r}")
