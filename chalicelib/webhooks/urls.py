"""Where a webhook may point: `https://` to a public address only, and
`http(s)://127.0.0.1` or `localhost` only where the stage allows local
endpoints (development, never inside Lambda).

The host is resolved and every address it resolves to must be public: not
private, loopback, link-local, multicast, reserved, shared (CGNAT),
unspecified, nor a cloud metadata address; an IPv6 address embedding an IPv4
one (mapped, 6to4, Teredo, NAT64) is judged by that one too. Checked when the
endpoint is registered (a 400) and again before every delivery (DNS can
change), and the delivery then connects to the address checked, not to a
second look-up of the name.

The resolver is injectable (`use_resolver`): tests check this without any traffic.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.config import rules
from chalicelib.errors import ValidationError

# host, port -> the addresses it resolves to
Resolver = Callable[[str, int], list[str]]

LOCAL_HOSTS = ("127.0.0.1", "localhost")
# the instance metadata services of the clouds (most are link-local or shared space anyway)
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
# IPv6 that carries an IPv4 address in its last 32 bits (RFC 6052 NAT64, the well-known and local prefixes)
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValidationError):
    """A webhook URL that diem will not call."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (a checked address) and what to ask for."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    address: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_resolver: Resolver = system_resolver


def use_resolver(resolver: Resolver | None) -> None:
    """Replace the resolver (None restores the system's)."""
    global _resolver
    _resolver = resolver or system_resolver


def resolver() -> Resolver:
    return _resolver


def _embedded(address: _Address) -> list[_Address]:
    if isinstance(address, ipaddress.IPv6Address):
        inner = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
        if any(address in net for net in NAT64):
            inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return [a for a in inner if a is not None]
    return []


def is_public(address: _Address) -> bool:
    if address in METADATA or address.is_multicast or not address.is_global:
        return False
    return all(is_public(inner) for inner in _embedded(address))


def check(url: str, *, allow_local: bool, resolve: Resolver | None = None) -> Target:
    """The URL as a target to connect to, or UnsafeUrl (400) saying why not."""
    if not isinstance(url, str) or not url or len(url) > rules().webhook_url_max_length:
        raise UnsafeUrl(f"url must be 1 to {rules().webhook_url_max_length} characters.")
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        raise UnsafeUrl("url must be printable ASCII without spaces (punycode for international names).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("url is not a valid URL.") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower().rstrip(".")
    if scheme not in ("https", "http") or not host or parts.netloc.count("@") or parts.username is not None:
        raise UnsafeUrl("url must be https://host/path, with no user name or password.")
    if parts.fragment:
        raise UnsafeUrl("url must not have a #fragment.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = port or (443 if scheme == "https" else 80)
    if host in LOCAL_HOSTS:
        if not allow_local:
            raise UnsafeUrl("url must be https:// to a public address (local endpoints are for development only).")
        return Target(url, scheme, host, port, path, "127.0.0.1")
    if scheme != "https":
        raise UnsafeUrl("url must be https:// (http only to 127.0.0.1 or localhost in development).")
    try:
        literal: _Address | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            found = (resolve or _resolver)(host, port)
        except (OSError, UnicodeError):
            raise UnsafeUrl(f"url's host {host} does not resolve.") from None
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
        except ValueError:
            raise UnsafeUrl(f"url's host {host} resolves to something that is not an address.") from None
    if not addresses:
        raise UnsafeUrl(f"url's host {host} does not resolve.")
    refused = [str(a) for a in addresses if not is_public(a)]
    if refused:
        raise UnsafeUrl(f"url's host {host} is not a public address ({', '.join(refused[:3])}).")
    return Target(url, scheme, host, port, path, str(addresses[0]))
