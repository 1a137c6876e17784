"""Backend URLs: parse once into a small value, cast query options by a table, redact passwords.

Every backend is named by a URL (``postgresql://``, ``redis://``, ``memory://``...). This module
turns one into a :class:`BackendURL` and never lets the password reach a repr, log line or error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ConfigError

__all__ = ["BackendURL", "parse_url", "redact", "redact_text", "parse_bool", "parse_seconds"]

_REDACTED = "***"


@dataclass(frozen=True, slots=True)
class BackendURL:
    """A parsed backend URL. ``str()`` and ``repr()`` never show the password."""

    scheme: str
    host: str | None
    port: int | None
    username: str | None
    password: str | None = field(repr=False)
    path: str
    query: Mapping[str, str] = field(repr=False)  # may hold ?password=
    raw: str = field(repr=False)

    @property
    def database(self) -> str | None:
        """The path without its leading slash (a Postgres database, a Redis db number)."""
        name = self.path.lstrip("/")
        return unquote(name) if name else None

    @property
    def hosts(self) -> list[tuple[str, int | None]]:
        """Every ``host[:port]`` of a comma-separated netloc (Sentinel and Cluster seeds)."""
        netloc = urlsplit(self.raw).netloc.rpartition("@")[2]
        out: list[tuple[str, int | None]] = []
        for part in netloc.split(","):
            host, _, port = part.rpartition(":") if _has_port(part) else (part, "", "")
            out.append((host.strip("[]"), int(port) if port else None))
        return out

    def redacted(self) -> str:
        """The URL with its password replaced by ``***``."""
        return redact(self.raw)

    def __str__(self) -> str:
        return self.redacted()


def _has_port(part: str) -> bool:
    if part.startswith("["):
        return "]:" in part
    return ":" in part


# Query options that carry a secret (libpq's password/sslpassword, tokens, keys): their values
# are replaced like a password.
_SECRET_OPTION = re.compile(
    r"([?&;](?:[a-z0-9_]*password|passwd|pwd|secret|[a-z0-9_]*token|[a-z0-9_]*secret_key"
    r"|access_key|sslkey)=)[^&;#]*",
    re.IGNORECASE,
)


def _authority_end(rest: str) -> int:
    return min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))


def _ambiguous_userinfo(rest: str) -> bool:
    """Whether an ``@`` sits past where the authority ends: a password with ``#``, ``/``, ``?``.

    ``rest`` is what follows ``scheme://``. There, the authority ends at the first ``/``, ``?``
    or ``#``; an ``@`` beyond it, with no ``=`` in between (so not inside a query option such as
    ``?client_name=a@b``), means an unencoded reserved character in the user or password.
    """
    end = _authority_end(rest)
    if "@" in rest[:end]:
        return False
    at = rest.find("@", end)
    return at >= 0 and "=" not in rest[end:at]


def _odd_port(netloc: str) -> bool:
    """A ``host:port`` whose port is not digits: perhaps ``user:password`` missing its ``@``."""
    parts = netloc.split(",")
    return any(_has_port(part) and not part.rpartition(":")[2].isdigit() for part in parts)


def redact(url: str) -> str:
    """Return ``url`` with every password replaced by ``***``; safe on any input.

    Hides the password of the userinfo, also where unencoded reserved characters make the URL
    ambiguous (then everything up to the last ``@`` is hidden) or where what a parser would read
    as the port may be a password; and the value of query options that carry a secret
    (``?password=``, ``?sslpassword=``, ``?token=``...).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        # No scheme (say, "user:pw@host/db"): hide anything before an "@".
        shown = re.sub(r"^([^:/@]*):[^@]*@", r"\1:***@", url) if "@" in url else url
        return _SECRET_OPTION.sub(r"\1***", shown)
    end = _authority_end(rest)
    netloc, path = rest[:end], rest[end:]
    if _ambiguous_userinfo(rest):
        rest = f"{_REDACTED}@{rest.rpartition('@')[2]}"
    elif "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user, colon, _pw = userinfo.partition(":")
        rest = (f"{user}:{_REDACTED}@{hosts}" if colon else f"{user}@{hosts}") + path
    elif _odd_port(netloc):  # perhaps a password: hide it, and up to a later "@" if any
        if "@" in path:
            rest = f"{_REDACTED}@{path.rpartition('@')[2]}"
        else:
            rest = f"{netloc.partition(':')[0]}:{_REDACTED}{path}"
    return f"{scheme}://" + _SECRET_OPTION.sub(r"\1***", rest)


# Free text (an exception message, a traceback): URLs inside it, "password=..."-style values
# (with an optional "Bearer " after "authorization:") and bare bearer/basic credentials.
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")
_SECRET_IN_TEXT = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|authorization)"
    r"(\s*[=:]\s*)(['\"]?)(bearer\s+|basic\s+)?[^\s'\",;&]+"
)
_BEARER_IN_TEXT = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
# "user:password@host" without a scheme (a libpq-style or a quoted netloc)
_USERINFO_IN_TEXT = re.compile(r"(?<![\w.+-])([\w.+-]+):(?!//|\*\*\*@)[^\s@'\"]+@")


def redact_text(text: str) -> str:
    """``text`` with every URL's password (also ``user:password@host`` without a scheme),
    ``password=``/``token:``-style values and bearer credentials replaced by ``***``: for an
    error message or a traceback that is logged, stored or shown."""
    text = _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
    text = _USERINFO_IN_TEXT.sub(r"\1:***@", text)
    text = _SECRET_IN_TEXT.sub(r"\1\2\3***", text)
    return _BEARER_IN_TEXT.sub(r"\1 ***", text)


def _shown_host(url: str) -> str:
    """``scheme://host`` of a URL too malformed to parse: nothing that may be a secret."""
    scheme, _, rest = url.partition("://")
    host = re.split(r"[/?#]", rest.rpartition("@")[2], maxsplit=1)[0]
    return f"{scheme}://{host.rpartition(':')[0] or host}"


def parse_url(url: str, *, field_name: str = "url", schemes: tuple[str, ...] = ()) -> BackendURL:
    """Parse ``url`` into a :class:`BackendURL`.

    Args:
        url: the URL to parse.
        field_name: the setting or argument it came from, named in errors.
        schemes: the accepted schemes; empty accepts any.

    Raises:
        ConfigError: the URL is malformed or its scheme is not one of ``schemes``.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(field_name, "expected a backend URL, got an empty value")
    if _ambiguous_userinfo(url.strip().partition("://")[2]):
        raise ConfigError(
            field_name,
            f"malformed URL for {_shown_host(url.strip())!r}: the user or password holds a "
            "reserved character; percent-encode it (# is %23, / is %2F, ? is %3F, @ is %40)",
        )
    try:
        parts = urlsplit(url.strip())
        port = _port_of(parts.netloc)
    except ValueError as exc:
        raise ConfigError(field_name, f"malformed URL {redact(url)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme or "//" not in url:
        raise ConfigError(field_name, f"URL {redact(url)!r} has no scheme (like postgresql://)")
    if schemes and scheme not in schemes:
        known = ", ".join(f"{s}://" for s in schemes)
        raise ConfigError(
            field_name, f"unknown scheme {scheme + '://'!r} in {redact(url)!r}; known: {known}"
        )
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    user, sep, password = userinfo.partition(":")
    return BackendURL(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        username=unquote(user) if user else None,
        password=unquote(password) if sep else None,
        path=parts.path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        raw=url.strip(),
    )


# The value is not shown: in a URL whose password holds a reserved character, what a parser
# takes for the port is part of the password.
_BAD_PORT = (
    "the port is not a number from 1 to 65535 (if the password holds a reserved character, "
    "percent-encode it: # is %23, / is %2F, ? is %3F, @ is %40)"
)


def _port_of(netloc: str) -> int | None:
    hosts = netloc.rpartition("@")[2]
    if "," in hosts:  # several seeds: each is checked by BackendURL.hosts
        for part in hosts.split(","):
            if _has_port(part):
                port = part.rpartition(":")[2]
                if not port.isdigit() or not 0 < int(port) < 65536:
                    raise ValueError(_BAD_PORT)
        return None
    if not _has_port(hosts):
        return None
    port = hosts.rpartition(":")[2]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(_BAD_PORT)
    return int(port)


def parse_bool(value: str) -> bool:
    """Cast a query option to bool (``1/0``, ``true/false``, ``yes/no``, ``on/off``)."""
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_seconds(value: str) -> float:
    """Cast a query option to a non-negative number of seconds."""
    seconds = float(value)
    if seconds < 0:
        raise ValueError(f"expected seconds >= 0, got {value!r}")
    return seconds


def cast_options(
    url: BackendURL,
    table: Mapping[str, Callable[[str], Any]],
    *,
    field_name: str = "url",
    passthrough: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Cast ``url``'s query options by ``table`` (option -> parser).

    Options in ``passthrough`` are returned as strings; any other unknown option is an error,
    so a typo never silently does nothing.

    Raises:
        ConfigError: an option is unknown or its value does not parse; names the option.
    """
    out: dict[str, Any] = {}
    for name, raw in url.query.items():
        parser = table.get(name)
        if parser is None:
            if name in passthrough:
                out[name] = raw
                continue
            known = ", ".join(sorted(table)) or "none"
            raise ConfigError(
                f"{field_name}?{name}",
                f"unknown option in {url.redacted()!r}; known options: {known}",
            )
        try:
            out[name] = parser(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{field_name}?{name}", f"{exc} (in {url.redacted()!r})") from None
    return out
