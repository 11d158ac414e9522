"""Who may talk to the stand from a browser, and under which host names: the comparisons, pure
(web/origins.py applies them to every request and WebSocket door).

A page on another site, open in a trainee's browser, can reach a stand on 127.0.0.1: the
browser connects and sends the page's `Origin`, and for a form POST or a WebSocket it asks
nobody first. And a host name the attacker controls can be pointed at 127.0.0.1 (DNS
rebinding): the browser then takes the stand for the attacker's own site. So:

  Host       answered only for the names in QAKIT_ALLOWED_HOSTS (compared without the port).
             Default: localhost, 127.0.0.1, [::1], the addresses the stand listens on (and
             the one the request came in on), the machine's host name; listening on 0.0.0.0
             or [::], any IP address too (a container behind a published port sees the host's
             address; an address cannot be re-pointed by DNS). `*`: any Host.
  Origin     its own origin (the scheme, host and port the request was sent to) and the
             configured ones; `*` in a list: any. No Origin (Postman, curl, Python clients) is
             always let in: only browsers send one, and they always do on these requests.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_NAME = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
    r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*"
)
_PORT = re.compile(r"[0-9]{1,5}")
_WITH_PORT = re.compile(r"(\[[^\]]*\]|[^:]+):[0-9]*")
DEFAULT_PORTS = {"http": 80, "https": 443}
PAGE_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
WILDCARDS = frozenset({"0.0.0.0", "[::]"})

Origin = tuple[str, str, int]  # scheme, canonical host, port


def canonical_host(value: str) -> str:
    """A host name or address as it is compared: lower case, no trailing dot, an IP address in
    its short form, IPv6 in brackets (`[::1]`). ValueError if it is neither."""
    host = value.strip().lower()
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[:-1] if host.endswith(".") else host
    try:
        address = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        if not bracketed and _NAME.fullmatch(host):
            return host
        raise ValueError(f"{value!r} is not a host name or an IP address") from None
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def parse_hosts(value: str) -> tuple[str, ...]:
    """QAKIT_ALLOWED_HOSTS: a comma list of host names and addresses, without ports; `*`: any."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError("needs at least one host name (or *)")
    if "*" in parts:
        return ("*",)
    for part in parts:
        if _WITH_PORT.fullmatch(part):
            raise ValueError(
                f"{part!r}: give the host without its port (only the host part of "
                "a Host header is compared)"
            )
    return tuple(dict.fromkeys(canonical_host(part) for part in parts))


@lru_cache(maxsize=64)  # the few Host values a stand sees: parsed once (bounded: any text)
def split_host(netloc: str) -> tuple[str, int | None] | None:
    """A Host header (or an origin's netloc) as (canonical host, port or None); None if it
    does not parse (a bad port, user info, not a name)."""
    netloc = netloc.strip()
    close = netloc.rfind("]")
    head, colon, port = netloc.rpartition(":")
    if not colon or close > len(head):  # no port (a colon inside [...] is the address's)
        head, port = netloc, ""
    elif _PORT.fullmatch(port) is None or int(port) > 65535:
        return None
    if ":" in head and close < 0:
        return None  # IPv6 without brackets: not a Host
    try:
        host = canonical_host(head)
    except ValueError:
        return None
    return host, int(port) if port else None


def is_ip(host: str) -> bool:
    """Whether a canonical host is an IP address."""
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return False
    return True


def origin_of(origin: str) -> Origin | None:
    """`scheme://host[:port]` (a trailing `/` is let through) as (scheme, canonical host,
    port); None for anything else (`null`, a path, another scheme)."""
    scheme, sep, netloc = origin.strip().removesuffix("/").partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS or not netloc or "/" in netloc or "@" in netloc:
        return None
    parts = split_host(netloc)
    if parts is None:
        return None
    host, port = parts
    return scheme, host, DEFAULT_PORTS[scheme] if port is None else port


def own_origin(scheme: str, host_header: str | None) -> Origin | None:
    """The origin of the stand's own pages for a request sent with this scheme and Host."""
    page_scheme = PAGE_SCHEMES.get(scheme.lower())
    parts = None if host_header is None or page_scheme is None else split_host(host_header)
    if parts is None or page_scheme is None:
        return None
    host, port = parts
    return page_scheme, host, DEFAULT_PORTS[page_scheme] if port is None else port


def show(origin: Origin | None) -> str:
    if origin is None:
        return "(none: no Host)"
    scheme, host, port = origin
    return f"{scheme}://{host}" + ("" if DEFAULT_PORTS[scheme] == port else f":{port}")


@dataclass(frozen=True)
class OriginRule:
    """Which pages' origins are let in: the stand's own, these, or any."""

    origins: frozenset[Origin] = frozenset()
    any_origin: bool = False
    allowed_by: str = ""  # the settings that let other origins in (for error details)

    @classmethod
    def of(cls, allowed_by: str, *lists: Iterable[str] | None) -> OriginRule:
        given = [entry for entries in lists if entries is not None for entry in entries]
        parsed = (origin_of(entry) for entry in given if entry != "*")
        return cls(frozenset(key for key in parsed if key is not None), "*" in given, allowed_by)

    def permits(
        self,
        origin: str | None,
        scheme: str,
        host_header: str | None,
        own_ports: frozenset[int] = frozenset(),
    ) -> bool:
        """Whether a request sent with this scheme and Host may come from a page of `origin`.
        The stand's own pages: its scheme and host, on its port or on `own_ports` (the other
        ports the stand listens on: the same pages are served there)."""
        if origin is None or self.any_origin:
            return True
        key = origin_of(origin)
        if key is None:
            return False
        own = own_origin(scheme, host_header)
        return (
            key in self.origins
            or key == own
            or (own is not None and key[:2] == own[:2] and key[2] in own_ports)
        )


@dataclass(frozen=True)
class HostRule:
    """Which Host names are answered."""

    names: frozenset[str]
    any_host: bool = False
    any_ip: bool = False  # the default, listening on 0.0.0.0 or [::]
    own_address: bool = False  # the default: the address the request came in on

    @classmethod
    def of(cls, allowed: tuple[str, ...] | None, binds: Iterable[str], hostname: str) -> HostRule:
        """QAKIT_ALLOWED_HOSTS if set, else the default for these binds (`HOST:PORT`) and
        this machine's host name."""
        if allowed is not None:
            return cls(frozenset(allowed) - {"*"}, any_host="*" in allowed)
        bound = {parts[0] for parts in map(split_host, binds) if parts is not None}
        names = {*LOCAL_HOSTS, *bound}
        if (name := _canonical_or_none(hostname)) is not None:  # else no browser could ask
            names.add(name)
        return cls(frozenset(names), any_ip=bool(bound & WILDCARDS), own_address=True)

    def permits(self, host_header: str | None, arrived_on: str | None = None) -> bool:
        """Whether a request with this Host is answered (no Host: no browser sent it);
        `arrived_on`: the address the connection came in on."""
        if not host_header or self.any_host:  # (an empty Host, as a health check's: none)
            return True
        parts = split_host(host_header)
        if parts is None:
            return False
        host = parts[0]
        return (
            host in self.names
            or (self.any_ip and is_ip(host))
            or (
                self.own_address
                and arrived_on is not None
                and host == _canonical_or_none(arrived_on)
            )
        )


def _canonical_or_none(value: str) -> str | None:
    try:
        return canonical_host(value)
    except ValueError:
        return None
