"""HTTP transport: resolve, vet and connect to the vetted address (DNS rebinding cannot swap
it), TLS to the hostname, a wall-clock deadline on every read, write and handshake, the
response size limit while streaming, and redirects only when the policy allows them (each hop
vetted again).
"""

from __future__ import annotations

import contextvars
import logging
import socket
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

import anyio
import anyio.to_thread
import certifi
import httpcore
import httpx

from .aio import running_loop
from .deadline import call_time_left
from .failures import _Failure, _redact
from .urlpolicy import FetchPolicy, _AddressGuard, _check_target, _literal_ip

logger = logging.getLogger("shakenkit.fetch")

_POOL_LIMITS: Final[dict[str, Any]] = {
    "max_connections": 64,
    "max_keepalive_connections": 16,
    "keepalive_expiry": 30.0,
    "http1": True,
    "http2": False,
}


_USER_AGENT: Final = "shakenkit (STIR/SHAKEN verification service)"

_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})


def _sockaddr_hosts(infos: Iterable[tuple[Any, ...]]) -> list[str]:
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


# getaddrinfo has no timeout: a lookup given up at the deadline keeps its thread until the
# resolver answers. Hosts in x5u are the sender's choice (a slow DNS zone), so the lookups in
# progress -- given up or not -- are capped process-wide; past the cap a lookup fails at once.
MAX_DNS_LOOKUPS: Final = 64
_DNS_SLOTS = threading.BoundedSemaphore(MAX_DNS_LOOKUPS)


def _dns_slot(host: str) -> None:
    """Take a lookup slot (released by the lookup's thread when getaddrinfo returns)."""
    if not _DNS_SLOTS.acquire(blocking=False):
        raise _Failure(
            "dns", f"{host} not resolved: {MAX_DNS_LOOKUPS} DNS lookups already in progress"
        )


class _SlotLookup:
    """One getaddrinfo holding a slot: the thread that runs it releases the slot when it
    returns; if the thread never starts (the caller was cancelled first), the caller does.
    Exactly one of the two releases it."""

    __slots__ = ("_lock", "_slots", "_state", "host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._slots = _DNS_SLOTS  # the semaphore the slot was taken from
        self._lock = threading.Lock()
        self._state = "waiting"  # -> "running" (the thread owns the slot) or "abandoned"

    def __call__(self) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._state == "abandoned":
                raise _Failure("dns", f"resolving {self.host} was given up before it started")
            self._state = "running"
        try:
            return socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        finally:
            self._slots.release()

    def abandon(self) -> None:
        """The caller gives up: release the slot unless the lookup is running (it will)."""
        with self._lock:
            if self._state == "waiting":
                self._state = "abandoned"
                self._slots.release()


def _resolve_sync(host: str, port: int, timeout: float | None) -> list[str]:
    """getaddrinfo bounded by ``timeout`` (it has no timeout of its own), in a daemon thread."""
    if _literal_ip(host) is not None:
        return [host]
    box: list[Any] = []
    done = threading.Event()
    _dns_slot(host)
    lookup = _SlotLookup(host, port)

    def work() -> None:
        try:
            box.append(lookup())
        except BaseException as exc:  # handed to the caller below
            box.append(exc)
        finally:
            done.set()

    try:
        threading.Thread(target=work, name="shakenkit-fetch-dns", daemon=True).start()
    except BaseException:
        lookup.abandon()
        raise
    if not done.wait(timeout):
        lookup.abandon()
        raise _Failure("timeout", f"resolving {host} did not finish within the time limit")
    result = box[0]
    if isinstance(result, BaseException):
        raise _dns_failure(host, result)
    return _sockaddr_hosts(result)


async def _resolve_async(host: str, port: int, timeout: float | None) -> list[str]:
    """:func:`_resolve_sync` on the running event loop (asyncio or trio)."""
    if _literal_ip(host) is not None:
        return [host]
    _dns_slot(host)
    lookup = _SlotLookup(host, port)
    try:  # in a worker thread on any loop; a cancelled caller leaves it behind (in its slot)
        with anyio.fail_after(timeout):
            infos = await anyio.to_thread.run_sync(lookup, abandon_on_cancel=True)
    except TimeoutError:
        raise _Failure(
            "timeout", f"resolving {host} did not finish within the time limit"
        ) from None
    except (OSError, UnicodeError) as exc:
        raise _dns_failure(host, exc) from exc
    finally:
        lookup.abandon()  # a no-op once the thread ran: it releases the slot itself
    return _sockaddr_hosts(infos)


def _dns_failure(host: str, exc: BaseException) -> _Failure:
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return _Failure("dns", f"{host} could not be resolved ({detail})")


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


def _async_wall_clock(deadline: float) -> AbstractContextManager[object]:
    """Async: one cancel scope ends everything at ``deadline`` (connect, TLS, every read)."""
    return anyio.fail_after(deadline - time.monotonic())


def _sync_wall_clock(deadline: float) -> AbstractContextManager[object]:
    """Sync: no cancel scope; every connect, read and write is bounded by :func:`_bounded`, and
    the body loop checks ``deadline`` between chunks."""
    return nullcontext()


def _current_loop() -> object:
    loop = running_loop()
    if loop is None:
        raise RuntimeError("no running asyncio or trio event loop")
    return loop


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


# unasync: async source (scripts/unasync.py writes the sync code below from it)


class _AsyncDeadlineStream(httpcore.AsyncNetworkStream):
    """Every read, write and TLS handshake bounded by what is left of the fetch's deadline."""

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
        # CPython applies a socket timeout to the whole handshake, so this is deadline-bounded.
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


class _AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, vet every address, connect to a vetted IP (defeats DNS rebinding).

    httpcore still passes the hostname to ``start_tls``, so SNI and certificate verification use
    the hostname; httpx sets ``Host`` from the URL.
    """

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
        resolved = await _resolve_async(host, port, _bounded(None, httpcore.ConnectTimeout))
        addresses = self._guard.vet(host, port, resolved)
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


class _AsyncBody(httpx.AsyncByteStream):
    """An httpcore response body as an httpx one."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class _AsyncGuardedTransport(httpx.AsyncBaseTransport):
    """httpx transport over an httpcore pool whose network backend is guarded."""

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


# unasync: sync code generated from the async source above; do not edit (scripts/unasync.py)


class _DeadlineStream(httpcore.NetworkStream):
    """Every read, write and TLS handshake bounded by what is left of the fetch's deadline."""

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


class _SyncBody(httpx.SyncByteStream):
    """An httpcore response body as an httpx one."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _GuardedTransport(httpx.BaseTransport):
    """httpx transport over an httpcore pool whose network backend is guarded."""

    def __init__(self, ssl_context: ssl.SSLContext, guard: _AddressGuard) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, network_backend=_GuardedBackend(guard), **_POOL_LIMITS
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._pool.handle_request(_core_request(request))
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_SyncBody(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


# unasync: end


def _ssl_context(policy: FetchPolicy) -> ssl.SSLContext:
    """certifi's web PKI roots (as httpx uses), plus ``tls_ca_file`` (labs); TLS 1.2 or newer."""
    context = ssl.create_default_context(cafile=certifi.where())
    if policy.tls_ca_file is not None:
        context.load_verify_locations(cafile=policy.tls_ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


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


class _HttpTransport:
    """GET one URL for a :class:`~shakenkit.repository.fetch.Fetcher`: guarded clients (one sync,
    one async per event loop), redirects vetted hop by hop, a wall-clock deadline, the size limit.
    Raises ``_Failure``."""

    def __init__(self, policy: FetchPolicy, guard: _AddressGuard, name: str) -> None:
        self._policy = policy
        self._guard = guard
        self._name = name
        self._ssl = _ssl_context(policy)
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        # One async client per event loop (an asyncio loop or a trio run).
        self._aclients: weakref.WeakKeyDictionary[object, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def close(self) -> None:
        """Close the sync client and forget async clients."""
        with self._lock:
            client, self._client = self._client, None
            self._aclients = weakref.WeakKeyDictionary()
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the current event loop's async client and the sync client."""
        loop = _current_loop()
        with self._lock:
            aclient = self._aclients.pop(loop, None)
            self._aclients = weakref.WeakKeyDictionary()
            client, self._client = self._client, None
        if aclient is not None:
            await aclient.aclose()
        if client is not None:
            client.close()

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
        loop = _current_loop()
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
            # every hop gets the full URL + SSRF policy
            nxt = _check_target(target, self._policy, self._guard)
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

    def _deadline(self) -> float:
        """The fetch's own total time limit, shortened to the call's deadline (if any)."""
        own = self._policy.total_timeout
        left = call_time_left()
        if left is not None and left < own:
            if left <= 0:
                raise _Failure(
                    "call_deadline", "the call's time for I/O was spent before this fetch"
                )
            own = left
        return time.monotonic() + own

    def _cut_by_call(self) -> bool:
        """Has the call's deadline left this fetch under half of its own total time? Then a
        timeout is the call's doing (its earlier headers spent the time), not the host's."""
        left = call_time_left()
        return left is not None and left < self._policy.total_timeout / 2

    def _failure_of(self, exc: BaseException, cut: bool) -> _Failure:
        """:meth:`_as_failure`, with a timeout of a fetch the call cut short named so."""
        failure = self._as_failure(exc)
        if cut and failure.kind == "timeout":
            return _Failure(
                "call_deadline", f"{failure.reason} (cut short by the call's deadline)"
            )
        return failure

    def request(
        self,
        method: str,
        target: httpx.URL,
        *,
        headers: dict[str, str],
        content: bytes | None = None,
    ) -> tuple[int, bytes]:
        """One API call (the STI-PA's login and ca-list): the guarded connection, deadline and
        size limit of :meth:`download`, never a redirect (the request may carry credentials);
        ``(status, body)`` for any other status."""
        deadline = time.monotonic() + self._policy.total_timeout
        token = _DEADLINE.set(deadline)
        try:
            client = self._sync_client()
            with client.stream(method, target, headers=headers, content=content) as response:
                status = response.status_code
                if 300 <= status < 400:
                    raise _Failure(
                        "redirect",
                        f"the server answered HTTP {status} (a redirect), and API calls are "
                        "not redirected",
                    )
                return status, self._read_body(response, deadline)
        except Exception as exc:
            raise self._as_failure(exc) from exc
        finally:
            _DEADLINE.reset(token)

    # unasync: async source (scripts/unasync.py writes the sync code below from it)

    async def adownload(self, target: httpx.URL) -> tuple[bytes, httpx.Headers]:
        """GET ``target``: each redirect vetted as it comes (when the policy follows them), the
        size limit, all within the fetch's deadline. Returns ``(body, headers)``; raises
        ``_Failure``."""
        cut = self._cut_by_call()
        deadline = self._deadline()
        token = _DEADLINE.set(deadline)
        try:
            with _async_wall_clock(deadline):
                client = self._async_client()
                current, hops = target, 0
                while True:
                    async with client.stream("GET", current) as response:
                        nxt = self._next_hop(response, current, hops)
                        if nxt is None:
                            return await self._aread_body(response, deadline), response.headers
                    current, hops = nxt, hops + 1
        except Exception as exc:
            raise self._failure_of(exc, cut) from exc
        finally:
            _DEADLINE.reset(token)

    async def _aread_body(self, response: httpx.Response, deadline: float) -> bytes:
        """At most ``max_response_bytes`` decoded bytes, by ``deadline``."""
        reader = _BodyReader(self._policy.max_response_bytes, response.headers)
        async for chunk in response.aiter_raw():
            reader.feed(chunk)
            if time.monotonic() > deadline:  # slowloris: trickled chunks
                raise self._timeout_failure()
        return reader.finish()

    # unasync: sync code generated from the async source above; do not edit (scripts/unasync.py)

    def download(self, target: httpx.URL) -> tuple[bytes, httpx.Headers]:
        """GET ``target``: each redirect vetted as it comes (when the policy follows them), the
        size limit, all within the fetch's deadline. Returns ``(body, headers)``; raises
        ``_Failure``."""
        cut = self._cut_by_call()
        deadline = self._deadline()
        token = _DEADLINE.set(deadline)
        try:
            with _sync_wall_clock(deadline):
                client = self._sync_client()
                current, hops = target, 0
                while True:
                    with client.stream("GET", current) as response:
                        nxt = self._next_hop(response, current, hops)
                        if nxt is None:
                            return self._read_body(response, deadline), response.headers
                    current, hops = nxt, hops + 1
        except Exception as exc:
            raise self._failure_of(exc, cut) from exc
        finally:
            _DEADLINE.reset(token)

    def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        """At most ``max_response_bytes`` decoded bytes, by ``deadline``."""
        reader = _BodyReader(self._policy.max_response_bytes, response.headers)
        for chunk in response.iter_raw():
            reader.feed(chunk)
            if time.monotonic() > deadline:  # slowloris: trickled chunks
                raise self._timeout_failure()
        return reader.finish()

    # unasync: end
