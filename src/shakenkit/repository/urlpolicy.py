"""URL policy: which ``x5u``/CRL URLs may be fetched, checked before any I/O, and the SSRF
address rule checked again at connect time (standards digest §1.7, §6.4; ATIS-1000074 v003).
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Final
from urllib.parse import urlsplit

import httpx

from .cache import DEFAULT_CACHE_LIMITS, CacheLimits
from .failures import _Failure

# RFC 6052 well-known NAT64 prefix: the low 32 bits are an IPv4 address.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class FetchPolicy:
    """Local choices for dereferencing ``x5u``/CRL URLs (standards digest §1.7, §6.4).

    Defaults follow ATIS-1000074 v003 / ATIS-1000080: https only, ports 443/8443, no redirects,
    short timeouts, a 24 h cache floor. Every option that weakens a check says ``insecure`` or is
    an explicit allow-list.

    ``allow_hosts`` entries are ``"HOST"`` or ``"HOST:PORT"`` (IPv6 as ``"[::1]:8443"``). An
    allow-listed host bypasses the SSRF address check; a ``HOST:PORT`` entry also allows that
    port. ``total_timeout`` is wall clock for the whole request including redirects and the
    body. ``min_ttl``/``max_ttl``/``negative_ttl``/``stale_if_error`` are seconds.
    ``max_entries`` caps the entries of each cache; ``cache_limits`` (:class:`CacheLimits`)
    bounds them, the remembered failures and ``cache_dir`` in bytes.
    """

    allowed_ports: frozenset[int] = frozenset({443, 8443})
    insecure_allow_http: bool = False
    insecure_allow_any_port: bool = False
    allow_hosts: frozenset[str] = frozenset()
    follow_redirects: bool = False
    max_redirects: int = 3
    connect_timeout: float = 2.0
    total_timeout: float = 5.0
    max_response_bytes: int = 100_000
    tls_ca_file: str | None = None
    min_ttl: float = 86_400.0
    max_ttl: float = 7 * 86_400.0
    negative_ttl: float = 30.0
    stale_if_error: float = 0.0
    max_entries: int = 10_000
    cache_dir: str | None = None
    cache_limits: CacheLimits = DEFAULT_CACHE_LIMITS

    def __post_init__(self) -> None:
        _check_types(self)
        for port in self.allowed_ports:
            if not 0 < port < 65536:
                raise ValueError(f"allowed_ports contains {port!r}, which is not a TCP port")
        for entry in self.allow_hosts:
            _parse_allow_entry(entry)  # raises ValueError on a malformed entry
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")
        for name in ("connect_timeout", "total_timeout"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.max_response_bytes < 1:
            raise ValueError("max_response_bytes must be >= 1")
        for name in ("min_ttl", "max_ttl", "negative_ttl", "stale_if_error"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number of seconds >= 0")
        if self.min_ttl > self.max_ttl:
            raise ValueError("min_ttl must not exceed max_ttl")
        if self.max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        if not isinstance(self.cache_limits, CacheLimits):
            raise ValueError("cache_limits must be a CacheLimits")


def _check_types(p: FetchPolicy) -> None:
    """Switches are bools, counts and ports ints, seconds real numbers: a truthy string must
    not turn an ``insecure_*`` switch on, nor ``True`` count as port 1. A ValueError names the
    field. ``allowed_ports``/``allow_hosts`` may come as any collection; they are kept frozen."""
    for name, value in vars(p).items():
        default = _DEFAULTS.get(name)
        if name in ("allowed_ports", "allow_hosts"):
            kind = int if name == "allowed_ports" else str
            ok = isinstance(value, frozenset | set | list | tuple) and all(
                isinstance(v, kind) and not isinstance(v, bool) for v in value
            )
            if ok:
                object.__setattr__(p, name, frozenset(value))
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):  # seconds
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif name in ("tls_ca_file", "cache_dir"):
            ok = value is None or isinstance(value, str | os.PathLike)
        else:
            ok = True  # a field whose default says nothing of its type checks itself
        if not ok:
            raise ValueError(f"FetchPolicy.{name} has the wrong type: {value!r}")


_DEFAULTS: Final[dict[str, object]] = {f.name: f.default for f in fields(FetchPolicy)}

DEFAULT_POLICY: Final = FetchPolicy()


def _norm_host(host: str) -> str:
    """Hosts compared case-insensitively, without a trailing dot, IP literals in canonical form."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _parse_allow_entry(entry: str) -> tuple[str, int | None]:
    """``"HOST"`` / ``"HOST:PORT"`` / ``"[v6]:PORT"`` / bare IPv6 -> (host, port or None)."""
    text = entry.strip().lower()
    host: str
    port_text: str | None
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :] if end > 0 else "?"
        if rest and not rest.startswith(":"):
            raise ValueError(f"allow_hosts entry {entry!r} is not HOST or HOST:PORT")
        host, port_text = text[1:end], (rest[1:] if rest else None)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, None
    if not host:
        raise ValueError(f"allow_hosts entry {entry!r} has no host")
    if port_text is None:
        return _norm_host(host), None
    if not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(f"allow_hosts entry {entry!r} has an invalid port")
    return _norm_host(host), int(port_text)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be contacted (SSRF, standards digest §1.7), or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that embed an IPv4 address are judged by that address.
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = _forbidden_reason(embedded)
            if inner is not None:
                return inner
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "non-public"),
    )
    for flagged, reason in checks:
        if flagged:
            return reason
    return None


class _AddressGuard:
    """The SSRF rule (standards digest §1.7): which (host, port) may be contacted at which IPs."""

    def __init__(self, policy: FetchPolicy) -> None:
        entries = [_parse_allow_entry(e) for e in policy.allow_hosts]
        self._any_port = frozenset(h for h, p in entries if p is None)
        self._pairs = frozenset((h, p) for h, p in entries if p is not None)

    def host_allowed(self, host: str, port: int) -> bool:
        """Whether ``host`` is allow-listed (it then skips the address check)."""
        host = _norm_host(host)
        return host in self._any_port or (host, port) in self._pairs

    def port_allowed(self, host: str, port: int) -> bool:
        """Whether a ``HOST:PORT`` entry allows this port for this host."""
        return (_norm_host(host), port) in self._pairs

    def vet(self, host: str, port: int, addresses: Iterable[str]) -> list[str]:
        """The addresses to connect to, or ``_Failure('ssrf')`` if any of them is forbidden."""
        unique = list(dict.fromkeys(addresses))
        if not unique:
            raise _Failure("dns", f"{host} has no usable address")
        if self.host_allowed(host, port):
            return unique
        for address in unique:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            reason = _forbidden_reason(ip)
            if reason is not None:
                raise _Failure(
                    "ssrf",
                    f"{host} resolves to {ip}, a {reason} address, and such targets are refused "
                    "(SSRF protection)",
                )
        return unique


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_target(raw: str, policy: FetchPolicy, guard: _AddressGuard) -> httpx.URL:
    """The URL rules of ATIS-1000074 v003 (standards digest §6.4), before any I/O."""
    if not isinstance(raw, str) or not raw:
        raise _Failure("policy", "the URL is empty or not a string")
    # ATIS-1000074 v003 (standards digest §6.4): no query, no fragment.
    if "?" in raw or "#" in raw:
        raise _Failure("policy", "URLs with a query or fragment are not allowed")
    if "\\" in raw or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in raw):
        raise _Failure("policy", "the URL contains whitespace, control characters or '\\'")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise _Failure("policy", "the URL is not valid") from None
    if url.scheme != "https" and not (url.scheme == "http" and policy.insecure_allow_http):
        raise _Failure("policy", f"the scheme {url.scheme!r} is not allowed (https only)")
    # ATIS-1000074 v003 (standards digest §6.4): no userinfo (even an empty one: "https://@h/").
    if url.userinfo or "@" in urlsplit(raw).netloc:
        raise _Failure("policy", "URLs with userinfo are not allowed")
    host = url.raw_host.decode("ascii", "replace")
    if not host:
        raise _Failure("policy", "the URL has no host")
    port = url.port if url.port is not None else (443 if url.scheme == "https" else 80)
    if not (
        port in policy.allowed_ports
        or policy.insecure_allow_any_port
        or guard.port_allowed(host, port)
    ):
        ports = " or ".join(str(p) for p in sorted(policy.allowed_ports)) or "none"
        raise _Failure("policy", f"port {port} is not allowed (allowed: {ports})")
    if not guard.host_allowed(host, port):
        # Cheap checks before DNS; the connect-time check in _GuardedBackend is the real one.
        literal = _literal_ip(_norm_host(host))
        reason = _forbidden_reason(literal) if literal is not None else None
        if reason is not None:
            raise _Failure("ssrf", f"{literal} is a {reason} address, and such targets are refused")
        bare = _norm_host(host)
        if bare == "localhost" or bare.endswith(".localhost"):
            raise _Failure("ssrf", f"{bare} is a loopback name (RFC 6761)")
    return url
