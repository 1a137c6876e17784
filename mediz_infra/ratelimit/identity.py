"""Who a request is counted as: its IP (proxies trusted only when configured), user or API key.

An identifier is any callable taking the ASGI scope and returning a string, or None when it does
not apply (no user signed in, no API key sent); :func:`by_user` and :func:`by_api_key` then
fall back to the client IP, so an anonymous client cannot escape a limit by omitting a header.

Client headers are never trusted by default: ``X-Forwarded-For`` and ``Forwarded`` are read only
when the socket peer is one of ``trusted_proxies``, and then right to left, skipping every
trusted hop, so the first address not ours is the client. A client prepending a forged address
only adds entries to the left of the one our proxy wrote.

The ASGI server runs first, though: uvicorn's default ``--proxy-headers`` already replaces the
client address from ``X-Forwarded-For`` for peers on 127.0.0.1 (``--forwarded-allow-ips``).
Run it with ``--no-proxy-headers`` when ``trusted_proxies`` decides (see docs/ratelimit.md).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from collections.abc import Callable, Sequence

from ..errors import ConfigError
from ..types import ClientIdentifier, Scope

__all__ = ["ClientIdentifier", "by_api_key", "by_header", "by_ip", "by_user", "composite"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope["headers"] if k == name]
    return b",".join(values).decode("latin-1") if values else None


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` addresses of an RFC 7239 ``Forwarded`` header, ports and brackets removed."""
    hops = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, raw = pair.strip().partition("=")
            if name.strip().lower() != "for":
                continue
            addr = raw.strip().strip('"')
            if addr.startswith("["):
                addr = addr[1 : addr.find("]")] if "]" in addr else addr[1:]
            elif addr.count(":") == 1:
                addr = addr.split(":", 1)[0]
            hops.append(addr)
    return hops


class by_ip:
    """Count requests per client IP address.

    Args:
        trusted_proxies: addresses or CIDRs of your own proxies / load balancers
            (``["10.0.0.0/8", "127.0.0.1"]``). Only a request whose socket peer is one of them
            has its forwarding header read. Empty (the default) trusts no header at all.
        header: ``"x-forwarded-for"`` (default) or ``"forwarded"`` (RFC 7239).
        ipv6_prefix: IPv6 clients are counted per network of this prefix length (default 64:
            one customer's allocation), since rotating within it costs them nothing.

    Raises:
        ConfigError: a proxy address is not an IP or CIDR, or the header is unknown.
    """

    def __init__(
        self,
        trusted_proxies: Sequence[str] = (),
        *,
        header: str = "x-forwarded-for",
        ipv6_prefix: int = 64,
    ) -> None:
        try:
            self.networks: tuple[_Network, ...] = tuple(
                ipaddress.ip_network(p, strict=False) for p in trusted_proxies
            )
        except ValueError as exc:
            raise ConfigError("trusted_proxies", f"{exc}; give addresses or CIDRs") from None
        if header.lower() not in ("x-forwarded-for", "forwarded"):
            raise ConfigError("header", f"expected x-forwarded-for or forwarded, got {header!r}")
        if not 0 < ipv6_prefix <= 128:
            raise ConfigError("ipv6_prefix", f"expected 1 to 128, got {ipv6_prefix}")
        self._header = header.lower().encode()
        self._ipv6_prefix = ipv6_prefix
        self.trusted = functools.lru_cache(maxsize=4096)(self._trusted)
        self.normalise = functools.lru_cache(maxsize=65536)(self._normalise)

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def _normalise(self, address: str) -> str | None:
        if ":" not in address:
            return address if _is_ip(address) else None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if ip.version == 6 and self._ipv6_prefix < 128:
            mapped = ip.ipv4_mapped
            if mapped is not None:
                return str(mapped)
            return str(ipaddress.ip_network(f"{ip}/{self._ipv6_prefix}", strict=False))
        return str(ip)

    def client_address(self, scope: Scope) -> str | None:
        """The client's address as this identifier sees it (no prefix), None when unknown."""
        client = scope.get("client")
        peer: str | None = client[0] if client else None
        if peer is None or not self.networks or not self.trusted(peer):
            return peer
        raw = _header(scope, self._header)
        if not raw:
            return peer
        hops = (
            [h.strip() for h in raw.split(",")]
            if self._header == b"x-forwarded-for"
            else _forwarded_for(raw)
        )
        last = peer
        for hop in reversed(hops):
            if not _is_ip(hop):
                return last  # garbage where a proxy's entry should be: count the proxy's view
            if not self.trusted(hop):
                return hop
            last = hop
        return last

    def __call__(self, scope: Scope) -> str | None:
        address = self.client_address(scope)
        if address is None:
            return None
        normal = self.normalise(address)
        return None if normal is None else "ip:" + normal


@functools.lru_cache(maxsize=65536)
def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def by_header(name: str, *, fallback: ClientIdentifier | None = None) -> ClientIdentifier:
    """Count requests per value of a request header (a tenant id set by your gateway).

    Only use a header your own infrastructure sets or verifies: a client can send any value.
    Requests without it are counted by ``fallback`` (default: the client IP).
    """
    raw = name.lower().encode()
    other = fallback or by_ip()

    def identify(scope: Scope) -> str | None:
        value = _header(scope, raw)
        return f"h:{name.lower()}:{value}" if value else other(scope)

    return identify


def by_user(
    getter: Callable[[Scope], str | None] | None = None,
    *,
    header: str | None = None,
    fallback: ClientIdentifier | None = None,
) -> ClientIdentifier:
    """Count requests per signed-in user.

    Args:
        getter: returns the user id from the scope; by default Starlette's ``request.user``
            (``scope["user"]``, set by ``AuthenticationMiddleware``) when authenticated: its
            ``identity``, else its ``display_name``.
        header: read the user id from this header instead (set by a trusted gateway).
        fallback: who to count anonymous requests as (default: the client IP).
    """
    other = fallback or by_ip()
    raw = header.lower().encode() if header else None

    def identify(scope: Scope) -> str | None:
        if getter is not None:
            user = getter(scope)
        elif raw is not None:
            user = _header(scope, raw)
        else:
            user = _starlette_user(scope)
        return "user:" + user if user else other(scope)

    return identify


def _starlette_user(scope: Scope) -> str | None:
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return str(user.identity)
    except (AttributeError, NotImplementedError):
        name = getattr(user, "display_name", "")
        return str(name) or None


def by_api_key(
    header: str = "x-api-key", *, fallback: ClientIdentifier | None = None
) -> ClientIdentifier:
    """Count requests per API key (hashed: raw keys never reach the store or the logs).

    Requests without a key are counted by ``fallback`` (default: the client IP).
    ``Authorization: Bearer <key>`` is understood when ``header`` is ``"authorization"``.
    """
    raw = header.lower().encode()
    other = fallback or by_ip()

    def identify(scope: Scope) -> str | None:
        value = _header(scope, raw)
        if value and raw == b"authorization":
            value = value.partition(" ")[2] or value
        if not value:
            return other(scope)
        return "key:" + hashlib.sha256(value.encode()).hexdigest()[:32]

    return identify


def composite(*identifiers: ClientIdentifier) -> ClientIdentifier:
    """Count per combination (``composite(by_api_key(), by_ip())``: per key *and* address).

    A part that does not apply contributes ``-``; all parts missing gives None.
    """
    if not identifiers:
        raise ConfigError("identifiers", "composite() needs at least one identifier")

    def identify(scope: Scope) -> str | None:
        parts = [part(scope) for part in identifiers]
        if all(p is None for p in parts):
            return None
        return "|".join(p or "-" for p in parts)

    return identify
