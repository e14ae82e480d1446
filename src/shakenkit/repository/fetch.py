"""Certificate-repository client: hardened HTTPS fetching of ``x5u`` (and CRL) URLs with a cache.

The verifier must dereference URLs chosen by whoever signed the call, so every fetch is treated as
hostile input (standards digest §1.7, §6.4; ATIS-1000074 v003, ATIS-1000080):

* URL policy before any I/O: ``https`` only, port 443 or 8443, no userinfo, query or fragment.
* SSRF protection at connect time: the host is resolved once, every address is checked, and the
  connection goes to a checked address while TLS SNI, certificate verification and ``Host`` keep
  the hostname (so DNS rebinding cannot swap the address between check and connect).
* Limits: connect timeout, a wall-clock total timeout (also against servers that trickle bytes),
  a response size limit enforced while streaming, no redirects unless explicitly enabled.
* Cache by exact URL holding the *parsed* object, with RFC 9111 freshness raised to a 24 h floor,
  capped, and never past the object's own expiry (``expires``); negative caching of failures;
  optional stale-if-error; optional persistent cache directory.
* Single flight: concurrent callers of one URL (threads, asyncio tasks, or a mix) share one request.

The fetcher is generic: the caller supplies ``parse(body) -> T`` (e.g. PEM/DER sniffing into a
certificate chain) and optionally ``expires(obj)`` (e.g. the leaf ``notAfter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import ipaddress
import json
import logging
import math
import os
import socket
import ssl
import tempfile
import threading
import time
import weakref
import zlib
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Final, Generic, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import cachetools
import certifi
import httpcore
import httpx

__all__ = [
    "DEFAULT_POLICY",
    "FetchError",
    "FetchErrorKind",
    "FetchPolicy",
    "Fetcher",
    "freshness_lifetime",
]

logger = logging.getLogger("shakenkit.fetch")

T = TypeVar("T")

FetchErrorKind = Literal[
    "policy",
    "ssrf",
    "dns",
    "connect",
    "tls",
    "timeout",
    "http_status",
    "redirect",
    "too_large",
    "parse",
    "negative_cache",
]

_USER_AGENT: Final = "shakenkit (STIR/SHAKEN verification service)"
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_WAIT_GRACE_S: Final = 10.0  # waiters give up this long after the owner's own total timeout
_LATENCY_WINDOW: Final = 1024
_DISK_MAGIC: Final = b"shakenkit-fetch-cache v1\n"
_DISK_META_MAX: Final = 16_384
_CLOCK_SKEW_S: Final = 300.0
# RFC 6052 well-known NAT64 prefix: the low 32 bits are an IPv4 address.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


# --------------------------------------------------------------------------------------------
# Errors


class FetchError(Exception):
    """A certificate/CRL could not be obtained.

    ``.kind`` is a short stable string, one of: ``'policy'`` (URL refused by policy: scheme, port,
    userinfo, query, fragment), ``'ssrf'`` (host is/resolves to a forbidden address), ``'dns'``,
    ``'connect'`` (connection refused, reset or broken HTTP), ``'tls'``, ``'timeout'``,
    ``'http_status'`` (non-200), ``'redirect'`` (3xx, not followed), ``'too_large'``, ``'parse'``
    (body not usable), ``'negative_cache'`` (a recent failure for this URL is cached;
    ``.cause_kind`` says the original kind).

    ``.url`` is the URL (with any userinfo or query redacted); ``str(e)`` is one human sentence
    without secrets or response bodies.
    """

    def __init__(
        self,
        kind: FetchErrorKind,
        url: str,
        message: str,
        *,
        cause_kind: FetchErrorKind | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FetchErrorKind = kind
        self.url = url
        self.cause_kind: FetchErrorKind | None = cause_kind

    def __repr__(self) -> str:
        return f"FetchError(kind={self.kind!r}, url={self.url!r}, message={str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.kind, self.url, str(self)), {"cause_kind": self.cause_kind})

    def _clone(self) -> FetchError:
        """A fresh instance for each caller (a shared instance would share its traceback)."""
        return FetchError(self.kind, self.url, str(self), cause_kind=self.cause_kind)


_MISS: Final = object()  # "not in the cache" (a cached value may be anything)


class _Failure(Exception):
    """Internal: a failure reason without the URL; turned into :class:`FetchError` at the edge."""

    def __init__(self, kind: FetchErrorKind, reason: str) -> None:
        super().__init__(reason)
        self.kind: FetchErrorKind = kind
        self.reason = reason


def _redact(url: str) -> str:
    """The URL as safe to show: userinfo and query replaced (they may carry credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# --------------------------------------------------------------------------------------------
# Policy


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

    def __post_init__(self) -> None:
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


def _sockaddr_hosts(infos: Iterable[tuple[Any, ...]]) -> list[str]:
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


def _resolve_sync(host: str, port: int, timeout: float | None) -> list[str]:
    """getaddrinfo bounded by ``timeout`` (it has no timeout of its own), in a daemon thread."""
    if _literal_ip(host) is not None:
        return [host]
    box: list[Any] = []
    done = threading.Event()

    def work() -> None:
        try:
            box.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller below
            box.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name="shakenkit-fetch-dns", daemon=True).start()
    if not done.wait(timeout):
        raise _Failure("timeout", f"resolving {host} did not finish within the time limit")
    result = box[0]
    if isinstance(result, BaseException):
        raise _dns_failure(host, result)
    return _sockaddr_hosts(result)


async def _resolve_async(host: str, port: int) -> list[str]:
    if _literal_ip(host) is not None:
        return [host]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _dns_failure(host, exc) from exc
    return _sockaddr_hosts(infos)


def _dns_failure(host: str, exc: BaseException) -> _Failure:
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return _Failure("dns", f"{host} could not be resolved ({detail})")


# --------------------------------------------------------------------------------------------
# Network layer: httpcore backends that resolve, vet and connect to the vetted IP, and streams
# that enforce the request's wall-clock deadline on every read/write/handshake.

# Monotonic deadline of the fetch running in this context (thread or task).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "shakenkit_fetch_deadline", default=None
)


def _bounded(timeout: float | None, exc: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of the total time limit; ``exc`` if none is left."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("the total time limit was reached")
    return left if timeout is None else min(timeout, left)


def _tls_failure(exc: Exception, server_hostname: str | None) -> _Failure | None:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = cause.verify_message or cause.reason or "certificate verification failed"
    elif isinstance(cause, ssl.SSLError):
        detail = cause.reason or str(cause)
    else:
        return None
    return _Failure("tls", f"the TLS handshake with {server_hostname} failed ({detail})")


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # CPython applies a socket timeout to the whole handshake, so this is deadline-bounded.
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        try:
            inner = self._inner.start_tls(ssl_context, server_hostname, bounded)
        except httpcore.ConnectError as exc:
            failure = _tls_failure(exc, server_hostname)
            if failure is None:
                raise
            raise failure from exc
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncDeadlineStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        try:
            inner = await self._inner.start_tls(ssl_context, server_hostname, bounded)
        except httpcore.ConnectError as exc:
            failure = _tls_failure(exc, server_hostname)
            if failure is None:
                raise
            raise failure from exc
        return _AsyncDeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, vet every address, connect to a vetted IP (defeats DNS rebinding).

    httpcore still passes the hostname to ``start_tls``, so SNI and certificate verification use
    the hostname; httpx sets ``Host`` from the URL.
    """

    def __init__(self, guard: _AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        resolved = _resolve_sync(host, port, _bounded(None, httpcore.ConnectTimeout))
        addresses = self._guard.vet(host, port, resolved)
        last: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _bounded(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            logger.debug("connected to %s:%d as %s", address, port, host)
            return _DeadlineStream(stream)
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise _Failure("policy", "Unix sockets are never used")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """Async twin of :class:`_GuardedBackend` (asyncio: ``loop.getaddrinfo``)."""

    def __init__(self, guard: _AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self._guard.vet(host, port, await _resolve_async(host, port))
        last: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address,
                    port,
                    _bounded(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            logger.debug("connected to %s:%d as %s", address, port, host)
            return _AsyncDeadlineStream(stream)
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise _Failure("policy", "Unix sockets are never used")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def _core_request(request: httpx.Request) -> httpcore.Request:
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        ),
        headers=request.headers.raw,
        content=request.stream,
        extensions=request.extensions,
    )


_POOL_LIMITS: Final[dict[str, Any]] = {
    "max_connections": 64,
    "max_keepalive_connections": 16,
    "keepalive_expiry": 30.0,
    "http1": True,
    "http2": False,
}


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class _GuardedTransport(httpx.BaseTransport):
    """httpx transport over an httpcore pool whose network backend is :class:`_GuardedBackend`."""

    def __init__(self, ssl_context: ssl.SSLContext, guard: _AddressGuard) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, network_backend=_GuardedBackend(guard), **_POOL_LIMITS
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._pool.handle_request(_core_request(request))
        stream = response.stream
        assert isinstance(stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_SyncBody(stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _AsyncGuardedTransport(httpx.AsyncBaseTransport):
    """Async twin of :class:`_GuardedTransport`."""

    def __init__(self, ssl_context: ssl.SSLContext, guard: _AddressGuard) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, network_backend=_AsyncGuardedBackend(guard), **_POOL_LIMITS
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._pool.handle_async_request(_core_request(request))
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_AsyncBody(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def _ssl_context(policy: FetchPolicy) -> ssl.SSLContext:
    """certifi's web PKI roots (as httpx uses), plus ``tls_ca_file`` (labs); TLS 1.2 or newer."""
    context = ssl.create_default_context(cafile=certifi.where())
    if policy.tls_ca_file is not None:
        context.load_verify_locations(cafile=policy.tls_ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# --------------------------------------------------------------------------------------------
# Pure helpers: freshness (RFC 9111) and the body size limit


def _http_date(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is None:
            from datetime import timezone

            parsed = parsed.replace(tzinfo=timezone.utc)
        stamp = parsed.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return stamp if math.isfinite(stamp) else None


def _delta_seconds(value: str) -> int | None:
    value = value.strip().strip('"')
    if not (value.isascii() and value.isdigit()):
        return None
    return min(int(value), 2**31)  # RFC 9111 §1.2.2: cap huge values


def freshness_lifetime(headers: httpx.Headers | Mapping[str, str], now: float) -> float | None:
    """Remaining freshness in seconds from response headers (RFC 9111 §4.2), or None.

    ``Cache-Control: max-age`` wins (first occurrence); ``s-maxage`` is for shared caches and is
    ignored; ``no-store``/``no-cache`` are not directives here (the caller applies its floor).
    Otherwise ``Expires`` minus ``Date`` (or ``now``); an invalid ``Expires`` means already
    expired. ``Age`` is subtracted. None means the headers say nothing usable.
    """
    fields = headers if isinstance(headers, httpx.Headers) else httpx.Headers(headers)
    lifetime: float | None = None
    for directive in fields.get_list("cache-control", split_commas=True):
        name, sep, value = directive.partition("=")
        if name.strip().lower() == "max-age" and sep:
            seconds = _delta_seconds(value)
            if seconds is not None:
                lifetime = float(seconds)
                break
    if lifetime is None:
        expires = fields.get("expires")
        if expires is None:
            return None
        expires_at = _http_date(expires)
        if expires_at is None:
            lifetime = 0.0  # RFC 9111 §5.3: invalid Expires (e.g. "0") is in the past
        else:
            date = _http_date(fields.get("date"))
            lifetime = expires_at - (date if date is not None else now)
    age = _delta_seconds(fields.get("age", ""))
    if age is not None:
        lifetime -= age
    return max(lifetime, 0.0)


class _BodyReader:
    """Accumulates at most ``limit`` decoded bytes; decoding is bounded too (no zip bombs)."""

    def __init__(self, limit: int, headers: httpx.Headers) -> None:
        self._limit = limit
        self._buffer = bytearray()
        length = headers.get("content-length", "").strip()
        if length.isascii() and length.isdigit() and int(length) > limit:
            raise _Failure(
                "too_large",
                f"the server announced {int(length)} bytes, over the {limit}-byte limit",
            )
        encoding = headers.get("content-encoding", "identity").strip().lower()
        self._inflate: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            raise _Failure("parse", f"the body uses the unsupported Content-Encoding {encoding!r}")

    def _too_large(self) -> _Failure:
        return _Failure("too_large", f"the body exceeds the {self._limit}-byte limit")

    def feed(self, chunk: bytes) -> None:
        if self._inflate is not None:
            room = self._limit - len(self._buffer) + 1
            try:
                chunk = self._inflate.decompress(chunk, room)
            except zlib.error as exc:
                raise _Failure("parse", "the compressed body is corrupt") from exc
            if self._inflate.unconsumed_tail:
                raise self._too_large()
        self._buffer += chunk
        if len(self._buffer) > self._limit:
            raise self._too_large()

    def finish(self) -> bytes:
        if self._inflate is not None and not self._inflate.eof:
            raise _Failure("parse", "the compressed body is truncated")
        return bytes(self._buffer)


# --------------------------------------------------------------------------------------------
# Cache entries and single-flight coordination


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    fetched_at: float
    expires_at: float  # fresh while now < expires_at
    hard_expiry: float | None  # expires(obj): never served at or after this, not even stale

    def fresh(self, now: float) -> bool:
        return now < self.expires_at

    def young(self, now: float, max_age: float | None) -> bool:
        """Fresh, and (with ``max_age``) fetched at most ``max_age`` seconds ago."""
        return now < self.expires_at and (max_age is None or now - self.fetched_at <= max_age)

    def stale_usable(self, now: float, grace: float) -> bool:
        """RFC 5861 stale-if-error window, bounded by the object's own expiry."""
        if grace <= 0 or now >= self.expires_at + grace:
            return False
        return self.hard_expiry is None or now < self.hard_expiry


@dataclass(frozen=True)
class _Negative:
    kind: FetchErrorKind
    message: str
    failed_at: float
    until: float


@dataclass(frozen=True)
class _Ok(Generic[T]):
    value: T
    source: Literal["cache", "network", "disk", "stale"]


@dataclass(frozen=True)
class _Err:
    error: FetchError


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Flight(Generic[T]):
    """One in-progress fetch of one URL; threads wait on an Event, tasks on per-loop futures."""

    def __init__(self, max_age: float | None = None) -> None:
        self.max_age = max_age  # the owner's: a disk entry older than this is not used
        self._done = threading.Event()
        self._mutex = threading.Lock()
        self._outcome: _Ok[T] | _Err | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.loop: asyncio.AbstractEventLoop | None = None  # set when an aget() owns the flight
        self.task: asyncio.Task[None] | None = None  # strong reference to the owner task

    @property
    def outcome(self) -> _Ok[T] | _Err | None:
        return self._outcome

    def complete(self, outcome: _Ok[T] | _Err) -> bool:
        """Publish the outcome to every waiter; the first completion wins."""
        with self._mutex:
            if self._outcome is not None:
                return False
            self._outcome = outcome
            waiters, self._waiters = self._waiters, []
        self._done.set()
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_wake, future)
        return True

    def wait(self, timeout: float) -> _Ok[T] | _Err | None:
        self._done.wait(timeout)
        return self._outcome

    async def wait_async(self, timeout: float) -> _Ok[T] | _Err | None:
        loop = asyncio.get_running_loop()
        with self._mutex:
            if self._outcome is not None:
                return self._outcome
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(future, timeout)
        return self._outcome


class _Latency:
    """Fetch latency: cumulative count/total/max and percentiles over a recent window."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.window: deque[float] = deque(maxlen=_LATENCY_WINDOW)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        self.window.append(seconds)

    def snapshot(self) -> dict[str, float | int | None]:
        ordered = sorted(self.window)

        def rank(q: float) -> float | None:
            if not ordered:
                return None
            return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

        return {
            "count": self.count,
            "total_s": self.total,
            "max_s": self.max,
            "p50_s": rank(0.50),
            "p99_s": rank(0.99),
        }


def _no_expiry(obj: object) -> float | None:
    return None


# --------------------------------------------------------------------------------------------
# The fetcher


class Fetcher(Generic[T]):
    """Fetch, parse and cache objects published at HTTPS URLs (``x5u`` chains, CRLs).

    ``parse(body)`` turns the response body into ``T``; any exception it raises is a ``'parse'``
    failure (sniff PEM/DER there: Content-Type is not trusted, standards digest §6.4).
    ``expires(obj)`` returns the absolute unix time past which ``obj`` must never be served (the
    leaf ``notAfter``, a CRL's ``nextUpdate``) or None. ``name`` labels logs and messages.
    ``clock`` (unix seconds) drives cache ages and can be replaced in tests.

    :meth:`get` and :meth:`aget` share one cache and one single-flight table, so concurrent
    callers of one URL, sync or async, cause one request. Do not call :meth:`get` from inside a
    running event loop; use :meth:`aget` there.
    """

    def __init__(
        self,
        parse: Callable[[bytes], T],
        *,
        policy: FetchPolicy = DEFAULT_POLICY,
        expires: Callable[[T], float | None] = _no_expiry,
        name: str = "x5u",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._parse = parse
        self._policy = policy
        self._expires = expires
        self._name = name
        self._clock = clock
        self._guard = _AddressGuard(policy)
        self._ssl = _ssl_context(policy)
        self._lock = threading.Lock()
        self._cache: cachetools.LRUCache[str, _Entry[T]] = cachetools.LRUCache(
            maxsize=policy.max_entries
        )
        self._negative: cachetools.LRUCache[str, _Negative] = cachetools.LRUCache(
            maxsize=policy.max_entries
        )
        self._inflight: dict[str, _Flight[T]] = {}
        self._client: httpx.Client | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False
        self._hits = 0
        self._misses = 0
        self._fetches = 0
        self._coalesced = 0
        self._disk_hits = 0
        self._stale_served = 0
        self._negative_hits = 0
        self._failures: Counter[str] = Counter()
        self._latency = _Latency()

    # ---- public API ------------------------------------------------------------------------

    @property
    def policy(self) -> FetchPolicy:
        """The policy this fetcher enforces."""
        return self._policy

    def get(self, url: str, *, max_age: float | None = None) -> T:
        """Return the parsed object at ``url`` (cached or fetched); raise :class:`FetchError`.

        ``max_age``: accept a cached object only if it was fetched at most that many seconds
        ago, else fetch again (single flight and the negative cache still apply; a failed
        refresh keeps the cached object for other callers)."""
        hit = self._fresh_hit(url, max_age)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        target = self._vet_url(url)
        ticket = self._enter(url, max_age)
        if not isinstance(ticket, tuple):
            return self._deliver(ticket)
        flight, owner = ticket
        if owner:
            self._fly_sync(url, target, flight)
        elif flight.loop is not None and _running_loop() is flight.loop:
            raise RuntimeError(
                "Fetcher.get() was called inside the event loop that is fetching the same URL "
                "with aget(); use aget() in async code"
            )
        outcome = flight.wait(self._wait_budget())
        if outcome is None:
            outcome = self._abandon(url, flight)
        return self._deliver(outcome)

    async def aget(self, url: str, *, max_age: float | None = None) -> T:
        """Async :meth:`get`; the fetch runs in its own task, so a cancelled caller doesn't
        cancel it for the others."""
        hit = self._fresh_hit(url, max_age)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        target = self._vet_url(url)
        ticket = self._enter(url, max_age)
        if not isinstance(ticket, tuple):
            return self._deliver(ticket)
        flight, owner = ticket
        if owner:
            loop = asyncio.get_running_loop()
            flight.loop = loop
            flight.task = loop.create_task(self._fly_async(url, target, flight))
        outcome = await flight.wait_async(self._wait_budget())
        if outcome is None:
            outcome = self._abandon(url, flight)
        return self._deliver(outcome)

    def stats(self) -> dict[str, object]:
        """Counters since creation.

        ``hits``: answered from a fresh cached entry; ``misses``: calls that needed a fetch
        (owners and ``coalesced`` callers that joined one already in flight); ``fetches``: HTTP
        fetches started; ``disk_hits``: flights answered by the persistent cache;
        ``stale_served``; ``negative_hits``; ``failures_by_kind``: failed fetches and refused URLs
        by kind; ``fetch_latency``: count/total_s/max_s (cumulative), p50_s/p99_s (recent window).
        """
        with self._lock:
            return {
                "name": self._name,
                "hits": self._hits,
                "misses": self._misses,
                "fetches": self._fetches,
                "coalesced": self._coalesced,
                "disk_hits": self._disk_hits,
                "stale_served": self._stale_served,
                "negative_hits": self._negative_hits,
                "failures_by_kind": dict(self._failures),
                "entries": len(self._cache),
                "negative_entries": len(self._negative),
                "in_flight": len(self._inflight),
                "fetch_latency": self._latency.snapshot(),
            }

    def close(self) -> None:
        """Close the sync client and forget async clients (use :meth:`aclose` to close those)."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
            self._aclients = weakref.WeakKeyDictionary()
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the current event loop's async client and the sync client."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._closed = True
            aclient = self._aclients.pop(loop, None)
            self._aclients = weakref.WeakKeyDictionary()
            client, self._client = self._client, None
        if aclient is not None:
            await aclient.aclose()
        if client is not None:
            client.close()

    def __enter__(self) -> Fetcher[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Fetcher[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- URL policy --------------------------------------------------------------------------

    def _check_target(self, raw: str) -> httpx.URL:
        """The URL rules of ATIS-1000074 v003 (standards digest §6.4), before any I/O."""
        policy = self._policy
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
            or self._guard.port_allowed(host, port)
        ):
            ports = " or ".join(str(p) for p in sorted(policy.allowed_ports)) or "none"
            raise _Failure("policy", f"port {port} is not allowed (allowed: {ports})")
        if not self._guard.host_allowed(host, port):
            # Cheap checks before DNS; the connect-time check in _GuardedBackend is the real one.
            literal = _literal_ip(_norm_host(host))
            reason = _forbidden_reason(literal) if literal is not None else None
            if reason is not None:
                raise _Failure(
                    "ssrf", f"{literal} is a {reason} address, and such targets are refused"
                )
            bare = _norm_host(host)
            if bare == "localhost" or bare.endswith(".localhost"):
                raise _Failure("ssrf", f"{bare} is a loopback name (RFC 6761)")
        return url

    def _vet_url(self, url: str) -> httpx.URL:
        try:
            return self._check_target(url)
        except _Failure as failure:
            shown = _redact(url) if isinstance(url, str) else repr(url)
            with self._lock:
                self._failures[failure.kind] += 1
            logger.info("%s refused %s: %s", self._name, shown, failure.reason)
            raise FetchError(
                failure.kind, shown, f"Refused to fetch {self._name} {shown}: {failure.reason}."
            ) from None

    # ---- cache and single flight ----------------------------------------------------------

    def _fresh_hit(self, url: str, max_age: float | None = None) -> T | object:
        """The warm path: a fresh entry under exactly this URL string. Only vetted URLs are ever
        stored and the policy never changes, so the URL checks need not run again."""
        now = self._clock()
        with self._lock:
            entry = self._cache.get(url)
            if entry is not None and not self._closed and entry.young(now, max_age):
                self._hits += 1
                return entry.value
        return _MISS

    def _enter(
        self, url: str, max_age: float | None = None
    ) -> _Ok[T] | _Err | tuple[_Flight[T], bool]:
        """Answer from the cache, or join/start the flight for ``url`` (True = caller owns it)."""
        now = self._clock()
        with self._lock:
            if self._closed:
                raise RuntimeError("this Fetcher is closed")
            entry = self._cache.get(url)
            if entry is not None:
                if entry.young(now, max_age):
                    self._hits += 1
                    return _Ok(entry.value, "cache")
                if entry.fresh(now):  # fresh but older than max_age: refresh, keep it meanwhile
                    negative = self._negative.get(url)
                    if negative is not None and now < negative.until:
                        return _Ok(entry.value, "cache")  # a refresh just failed: not again yet
                elif not entry.stale_usable(now, self._policy.stale_if_error):
                    del self._cache[url]
                    entry = None
            negative = self._negative.get(url)
            if negative is not None:
                if now < negative.until:
                    if entry is not None:  # stale-if-error while the failure is cached
                        return _Ok(entry.value, "stale")
                    self._negative_hits += 1
                    return _Err(self._negative_error(url, negative, now))
                del self._negative[url]
            self._misses += 1
            flight = self._inflight.get(url)
            if flight is not None:
                self._coalesced += 1
                return flight, False
            new: _Flight[T] = _Flight(max_age)
            self._inflight[url] = new
            return new, True

    def _negative_error(self, url: str, negative: _Negative, now: float) -> FetchError:
        shown = _redact(url)
        return FetchError(
            "negative_cache",
            shown,
            f"Not retrying {self._name} {shown} for another {negative.until - now:.0f} s: "
            f"the attempt {now - negative.failed_at:.0f} s ago failed ({negative.message})",
            cause_kind=negative.kind,
        )

    def _deliver(self, outcome: _Ok[T] | _Err) -> T:
        if isinstance(outcome, _Err):
            error = outcome.error
            raise error._clone() from error.__cause__
        if outcome.source == "stale":
            with self._lock:
                self._stale_served += 1
            logger.warning("%s serving a stale cached object (stale-if-error)", self._name)
        return outcome.value

    def _wait_budget(self) -> float:
        return self._policy.total_timeout + _WAIT_GRACE_S

    def _abandon(self, url: str, flight: _Flight[T]) -> _Ok[T] | _Err:
        """A waiter gave up on a flight that never completed (e.g. its event loop died)."""
        shown = _redact(url)
        error = FetchError(
            "timeout", shown, f"Gave up waiting for a concurrent fetch of {self._name} {shown}."
        )
        with self._lock:
            if self._inflight.get(url) is flight:
                del self._inflight[url]
        flight.complete(_Err(error))
        outcome = flight.outcome
        assert outcome is not None
        return outcome

    def _stale_candidate(self, url: str, disk: _Entry[T] | None) -> _Entry[T] | None:
        now = self._clock()
        with self._lock:
            memory = self._cache.get(url)
        usable = [
            e
            for e in (memory, disk)
            if e is not None and e.stale_usable(now, self._policy.stale_if_error)
        ]
        return max(usable, key=lambda e: e.expires_at, default=None)

    def _settle(
        self,
        url: str,
        flight: _Flight[T],
        result: _Entry[T] | _Failure,
        stale: _Entry[T] | None,
        source: Literal["network", "disk"] = "network",
    ) -> None:
        """Record the flight's result in the caches, then release every waiter."""
        now = self._clock()
        shown = _redact(url)
        outcome: _Ok[T] | _Err
        with self._lock:
            if isinstance(result, _Entry):
                if result.fresh(now):
                    self._cache[url] = result
                else:  # already past expires(obj): serve this once, do not cache
                    self._cache.pop(url, None)
                self._negative.pop(url, None)
                if source == "disk":
                    self._disk_hits += 1
                outcome = _Ok(result.value, source)
            else:
                self._failures[result.kind] += 1
                message = f"Could not fetch {self._name} {shown}: {result.reason}."
                error = FetchError(result.kind, shown, message)
                error.__cause__ = result.__cause__
                self._negative[url] = _Negative(
                    result.kind, result.reason, now, now + self._policy.negative_ttl
                )
                if stale is not None:
                    self._cache[url] = stale
                    outcome = _Ok(stale.value, "stale")
                else:
                    outcome = _Err(error)
            if self._inflight.get(url) is flight:
                del self._inflight[url]
        flight.complete(outcome)
        if isinstance(result, _Entry):
            logger.info(
                "%s %s from %s, cached for %.0f s",
                self._name,
                shown,
                source,
                max(0.0, result.expires_at - now),
            )
        else:
            logger.info(
                "%s fetch of %s failed (%s): %s", self._name, shown, result.kind, result.reason
            )

    def _settle_interrupted(self, url: str, flight: _Flight[T]) -> None:
        """The owner died (cancelled, interrupted): release waiters, cache nothing."""
        shown = _redact(url)
        error = FetchError("connect", shown, f"The fetch of {self._name} {shown} was interrupted.")
        with self._lock:
            if self._inflight.get(url) is flight:
                del self._inflight[url]
        flight.complete(_Err(error))

    # ---- flights -----------------------------------------------------------------------------

    def _fly_sync(self, url: str, target: httpx.URL, flight: _Flight[T]) -> None:
        settled = False
        try:
            disk = self._disk_load(url)
            if disk is not None and disk.young(self._clock(), flight.max_age):
                self._settle(url, flight, disk, None, source="disk")
                settled = True
                return
            stale = self._stale_candidate(url, disk)
            self._count_fetch()
            started = time.monotonic()
            result: _Entry[T] | _Failure
            body = b""
            try:
                body, headers = self._download(target)
                result = self._make_entry(body, headers)
            except _Failure as failure:
                result = failure
            self._record_latency(time.monotonic() - started)
            self._settle(url, flight, result, stale)
            settled = True
            if isinstance(result, _Entry):
                self._disk_store(url, result, body)
        finally:
            if not settled:
                self._settle_interrupted(url, flight)

    async def _fly_async(self, url: str, target: httpx.URL, flight: _Flight[T]) -> None:
        settled = False
        try:
            disk = None
            if self._policy.cache_dir is not None:
                disk = await asyncio.to_thread(self._disk_load, url)
            if disk is not None and disk.young(self._clock(), flight.max_age):
                self._settle(url, flight, disk, None, source="disk")
                settled = True
                return
            stale = self._stale_candidate(url, disk)
            self._count_fetch()
            started = time.monotonic()
            result: _Entry[T] | _Failure
            body = b""
            try:
                body, headers = await self._adownload(target)
                result = self._make_entry(body, headers)
            except _Failure as failure:
                result = failure
            self._record_latency(time.monotonic() - started)
            self._settle(url, flight, result, stale)
            settled = True
            if isinstance(result, _Entry) and self._policy.cache_dir is not None:
                await asyncio.to_thread(self._disk_store, url, result, body)
        finally:
            if not settled:
                self._settle_interrupted(url, flight)

    def _count_fetch(self) -> None:
        with self._lock:
            self._fetches += 1

    def _record_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency.add(seconds)

    def _make_entry(self, body: bytes, headers: httpx.Headers) -> _Entry[T]:
        """Parse the body and compute how long it may be served (standards digest §6.4)."""
        now = self._clock()
        obj, hard = self._parse_body(body)
        lifetime = freshness_lifetime(headers, now)
        policy = self._policy
        # ATIS-1000074 v003 (standards digest §6.4): no or short directive -> 24 h floor; cap.
        ttl = policy.min_ttl if lifetime is None or lifetime < policy.min_ttl else lifetime
        ttl = min(ttl, policy.max_ttl)
        expires_at = now + ttl
        if hard is not None:
            expires_at = min(expires_at, hard)  # never past the leaf notAfter / CRL nextUpdate
        return _Entry(obj, now, expires_at, hard)

    def _parse_body(self, body: bytes) -> tuple[T, float | None]:
        try:
            obj = self._parse(body)
            hard = self._expires(obj)
        except Exception as exc:
            detail = str(exc)[:120] or type(exc).__name__
            raise _Failure("parse", f"the body is not usable ({detail})") from exc
        if hard is not None:
            hard = float(hard)
            if math.isnan(hard):
                hard = -math.inf
        return obj, hard

    # ---- HTTP ------------------------------------------------------------------------------

    def _client_options(self) -> dict[str, Any]:
        policy = self._policy
        return {
            "trust_env": False,
            "follow_redirects": False,  # redirects are handled (and re-vetted) by hand
            "headers": {
                "User-Agent": _USER_AGENT,
                "Accept": "*/*",
                "Accept-Encoding": "identity",
            },
            "timeout": httpx.Timeout(
                connect=policy.connect_timeout,
                read=policy.total_timeout,
                write=policy.total_timeout,
                pool=policy.total_timeout,
            ),
        }

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    transport=_GuardedTransport(self._ssl, self._guard), **self._client_options()
                )
            return self._client

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._aclients.get(loop)
            if client is None:
                client = httpx.AsyncClient(
                    transport=_AsyncGuardedTransport(self._ssl, self._guard),
                    **self._client_options(),
                )
                self._aclients[loop] = client
            return client

    def _next_hop(
        self, response: httpx.Response, current: httpx.URL, hops: int
    ) -> httpx.URL | None:
        """None for a usable 200; the next URL for a redirect we may follow; else a failure."""
        status = response.status_code
        if status == 200:  # ATIS-1000074 v003 (standards digest §6.4): HTTP 200 only
            return None
        if not 300 <= status < 400:
            raise _Failure(
                "http_status", f"the server answered HTTP {status}, and only 200 is accepted"
            )
        location = response.headers.get("location")
        shown = _redact(location) if location else "nowhere"
        # ATIS-1000074 v003 (standards digest §6.4): no redirects, unless the operator opts in.
        if not self._policy.follow_redirects:
            raise _Failure(
                "redirect",
                f"the server answered HTTP {status} (redirect to {shown}), "
                "and redirects are not followed",
            )
        if status not in _REDIRECT_STATUSES or not location:
            raise _Failure("redirect", f"the server answered HTTP {status} without a usable target")
        if hops >= self._policy.max_redirects:
            raise _Failure(
                "redirect", f"more than {self._policy.max_redirects} redirects (last to {shown})"
            )
        if "?" in location or "#" in location:
            raise _Failure("policy", f"the redirect target {shown} has a query or fragment")
        try:
            target = str(current.join(location))
        except (httpx.InvalidURL, ValueError):
            raise _Failure("policy", f"the redirect target {shown} is not a valid URL") from None
        try:
            nxt = self._check_target(target)  # every hop gets the full URL + SSRF policy
        except _Failure as failure:
            reason = f"redirect to {_redact(target)}: {failure.reason}"
            raise _Failure(failure.kind, reason) from None
        logger.debug("%s following HTTP %d to %s", self._name, status, _redact(target))
        return nxt

    def _timeout_failure(self) -> _Failure:
        return _Failure(
            "timeout", f"no complete answer within the {self._policy.total_timeout:g} s limit"
        )

    def _as_failure(self, exc: BaseException) -> _Failure:
        """Map transport exceptions to failure kinds."""
        if isinstance(exc, _Failure):
            return exc
        if isinstance(exc, (httpcore.TimeoutException, httpx.TimeoutException, TimeoutError)):
            return self._timeout_failure()
        if isinstance(exc, (httpcore.ConnectError, httpx.ConnectError)):
            return _Failure("connect", f"could not connect ({exc or type(exc).__name__})")
        if isinstance(exc, ssl.SSLError):
            return _Failure("tls", f"TLS failed ({exc.reason or exc})")
        if isinstance(
            exc,
            (httpcore.NetworkError, httpcore.ProtocolError, httpx.TransportError, OSError),
        ):
            return _Failure("connect", f"the connection failed ({exc or type(exc).__name__})")
        logger.warning("%s fetch hit an unexpected error", self._name, exc_info=exc)
        return _Failure("connect", f"unexpected error ({type(exc).__name__})")

    def _download(self, target: httpx.URL) -> tuple[bytes, httpx.Headers]:
        deadline = time.monotonic() + self._policy.total_timeout
        token = _DEADLINE.set(deadline)
        try:
            client = self._sync_client()
            current, hops = target, 0
            while True:
                with client.stream("GET", current) as response:
                    nxt = self._next_hop(response, current, hops)
                    if nxt is None:
                        reader = _BodyReader(self._policy.max_response_bytes, response.headers)
                        for chunk in response.iter_raw():
                            reader.feed(chunk)
                            if time.monotonic() > deadline:  # slowloris: trickled chunks
                                raise self._timeout_failure()
                        return reader.finish(), response.headers
                current, hops = nxt, hops + 1
        except Exception as exc:
            raise self._as_failure(exc) from exc
        finally:
            _DEADLINE.reset(token)

    async def _adownload(self, target: httpx.URL) -> tuple[bytes, httpx.Headers]:
        deadline = time.monotonic() + self._policy.total_timeout
        token = _DEADLINE.set(deadline)
        try:
            with anyio.fail_after(self._policy.total_timeout):  # wall clock for everything
                client = self._async_client()
                current, hops = target, 0
                while True:
                    async with client.stream("GET", current) as response:
                        nxt = self._next_hop(response, current, hops)
                        if nxt is None:
                            reader = _BodyReader(self._policy.max_response_bytes, response.headers)
                            async for chunk in response.aiter_raw():
                                reader.feed(chunk)
                            return reader.finish(), response.headers
                    current, hops = nxt, hops + 1
        except Exception as exc:
            raise self._as_failure(exc) from exc
        finally:
            _DEADLINE.reset(token)

    # ---- persistent cache ------------------------------------------------------------------

    def _disk_path(self, url: str) -> str:
        assert self._policy.cache_dir is not None
        digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self._policy.cache_dir, digest + ".cache")

    def _disk_load(self, url: str) -> _Entry[T] | None:
        """Read a persisted entry; anything odd (missing, corrupt, oversized) is a miss."""
        if self._policy.cache_dir is None:
            return None
        path = self._disk_path(url)
        limit = len(_DISK_MAGIC) + _DISK_META_MAX + self._policy.max_response_bytes
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.debug("%s cache file for %s unreadable: %s", self._name, _redact(url), exc)
            return None
        try:
            entry = self._decode_disk(url, data, limit)
        except Exception as exc:  # a bad file is a miss, never a crash
            logger.info("%s ignoring cache file %s: %s", self._name, path, str(exc)[:120])
            return None
        logger.debug("%s loaded %s from the cache directory", self._name, _redact(url))
        return entry

    def _decode_disk(self, url: str, data: bytes, limit: int) -> _Entry[T]:
        if len(data) > limit:
            raise ValueError("file is larger than any valid entry")
        if not data.startswith(_DISK_MAGIC):
            raise ValueError("not a cache file")
        meta_raw, sep, body = data[len(_DISK_MAGIC) :].partition(b"\n")
        if not sep or len(meta_raw) > _DISK_META_MAX:
            raise ValueError("bad header")
        meta = json.loads(meta_raw)
        if not isinstance(meta, dict) or meta.get("url") != url:
            raise ValueError("entry is for another URL")
        fetched_at = _finite(meta.get("fetched_at"))
        expires_at = _finite(meta.get("expires_at"))
        if meta.get("length") != len(body):
            raise ValueError("truncated body")
        if meta.get("sha256") != hashlib.sha256(body).hexdigest():
            raise ValueError("body checksum mismatch")
        if fetched_at > self._clock() + _CLOCK_SKEW_S:
            raise ValueError("fetched in the future")
        obj, hard = self._parse_body(body)
        expires = min(expires_at, fetched_at + self._policy.max_ttl)
        if hard is not None:
            expires = min(expires, hard)
        return _Entry(obj, fetched_at, expires, hard)

    def _disk_store(self, url: str, entry: _Entry[T], body: bytes) -> None:
        """Write atomically (temp file in the same directory + os.replace); errors only log."""
        if self._policy.cache_dir is None or entry.expires_at <= entry.fetched_at:
            return
        meta = {
            "url": url,
            "fetched_at": entry.fetched_at,
            "expires_at": entry.expires_at,
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        meta_raw = json.dumps(meta, separators=(",", ":")).encode()
        if len(meta_raw) > _DISK_META_MAX:
            return
        path = self._disk_path(url)
        temp: str | None = None
        try:
            os.makedirs(self._policy.cache_dir, mode=0o700, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self._policy.cache_dir, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(_DISK_MAGIC + meta_raw + b"\n" + body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
            temp = None
        except OSError as exc:
            logger.warning("%s could not write cache file %s: %s", self._name, path, exc)
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("bad timestamp")
    if not math.isfinite(value):
        raise ValueError("bad timestamp")
    return float(value)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
