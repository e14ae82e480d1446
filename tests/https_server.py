"""A real HTTPS server on 127.0.0.1 for tests: programmable routes, request counting.

The TLS certificate comes from a throwaway ``trustme`` CA whose PEM file is at
``server.ca_pem_path`` (pass it as ``FetchPolicy(tls_ca_file=...)``). The server certificate is
valid for ``localhost``, ``127.0.0.1``, ``::1``, ``cr.example`` and ``rebind.example``.

Routes can answer with any status/headers/body, wait before answering, trickle the response
(slowloris), stream a huge body lazily, redirect, or reset the connection mid-body. The server
counts requests per path and accepted TCP connections (thread-safe), so tests can prove that a
refused URL never reached it.

Use ``https_server`` as a pytest fixture (import it into a test module or a conftest), or
``running_https_server()`` as a context manager.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme

_CHUNK = b"A" * 65_536
_SERVER_NAMES = ("localhost", "127.0.0.1", "::1", "cr.example", "rebind.example")


@dataclass
class Route:
    """How the server answers one path.

    ``delay``: seconds to wait before sending anything. ``trickle_interval``: if > 0, send the
    body one byte at a time with this pause (and the head too if ``trickle_head``).
    ``stream_size``: if > 0, the body is that many bytes generated lazily (never in memory).
    ``content_length``: send ``Content-Length`` (else the body ends when the connection closes).
    ``reset_after``: send that many body bytes, then reset the TCP connection.
    """

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    trickle_interval: float = 0.0
    trickle_head: bool = False
    stream_size: int = 0
    content_length: bool = True
    reset_after: int | None = None


class _Reset(Exception):
    """Raised by the handler after it reset the connection on purpose."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: HttpsServer

    def get_request(self) -> tuple[socket.socket, Any]:
        request, address = super().get_request()
        self.owner._count_connection()
        return request, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10.0)
        # Like any production web server: no Nagle delay between the head and the body writes
        # (Nagle + the client's delayed ACK would add ~40 ms to every response).
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.owner.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.owner._count_tls_failure()
            return
        try:
            _Handler(tls, client_address, self)
        except Exception:
            pass  # resets on purpose, clients hanging up, timeouts
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-response is what several tests do on purpose


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        route = owner._record(path, dict(self.headers.items()))
        stopping = owner._stopping
        if route.delay and stopping.wait(route.delay):
            self.close_connection = True
            return
        body_size = route.stream_size or len(route.body)
        streaming = bool(
            route.trickle_interval or route.stream_size or route.reset_after is not None
        )
        try:
            reason = HTTPStatus(route.status).phrase
        except ValueError:
            reason = "Unknown"
        head = [f"HTTP/1.1 {route.status} {reason}"]
        names = {name.lower() for name, _ in route.headers}
        head += [f"{name}: {value}" for name, value in route.headers]
        if route.content_length and "content-length" not in names:
            head.append(f"Content-Length: {body_size}")
        if streaming or not route.content_length:
            head.append("Connection: close")
            self.close_connection = True
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if route.trickle_head:
            self._trickle(raw_head, route.trickle_interval)
        else:
            self.wfile.write(raw_head)
        if route.reset_after is not None:
            self.wfile.write(route.body[: route.reset_after])
            owner._stopping.wait(0.1)  # let the client read the head and part of the body
            self._reset()
        if route.stream_size:
            self._stream(route.stream_size)
        elif route.trickle_interval:
            self._trickle(route.body, route.trickle_interval)
        else:
            self.wfile.write(route.body)

    def _trickle(self, data: bytes, interval: float) -> None:
        for i in range(len(data)):
            if self.server.owner._stopping.wait(interval):
                raise _Reset
            self.wfile.write(data[i : i + 1])

    def _stream(self, size: int) -> None:
        sent = 0
        while sent < size and not self.server.owner._stopping.is_set():
            piece = _CHUNK[: min(len(_CHUNK), size - sent)]
            self.wfile.write(piece)
            sent += len(piece)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        raise _Reset


@dataclass
class _Material:
    ca: trustme.CA
    cert: trustme.LeafCert


_material: _Material | None = None
_material_lock = threading.Lock()


def _tls_material() -> _Material:
    """One CA and server certificate per test session (key generation is the slow part)."""
    global _material
    with _material_lock:
        if _material is None:
            ca = trustme.CA()
            _material = _Material(ca, ca.issue_cert(*_SERVER_NAMES))
        return _material


class HttpsServer:
    """A running HTTPS server on 127.0.0.1 with programmable routes (see module docstring)."""

    def __init__(self) -> None:
        material = _tls_material()
        self._tmpdir = tempfile.mkdtemp(prefix="shakenkit-https-")
        self.ca_pem_path = os.path.join(self._tmpdir, "ca.pem")
        material.ca.cert_pem.write_to_path(self.ca_pem_path)
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        material.cert.configure_cert(self.ssl_context)
        self.ssl_context.sni_callback = self._on_sni
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._counts: Counter[str] = Counter()
        self._last_headers: dict[str, dict[str, str]] = {}
        self._sni: list[str | None] = []
        self._connections = 0
        self._tls_failures = 0
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="https-test-server",
            daemon=True,
        )
        self._thread.start()

    # ---- configuration ---------------------------------------------------------------------

    def route(self, path: str, route: Route | None = None, /, **options: Any) -> str:
        """Set how ``path`` is answered (a :class:`Route` or its fields); return its URL."""
        with self._lock:
            self._routes[path] = route if route is not None else Route(**options)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        """Make ``path`` answer ``status`` with ``Location: location``; return its URL."""
        return self.route(path, status=status, headers=[("Location", location)])

    def huge(self, path: str, size: int = 50_000_000, *, content_length: bool = False) -> str:
        """A ``size``-byte body streamed lazily; by default without ``Content-Length``."""
        return self.route(path, stream_size=size, content_length=content_length)

    def gzip_bomb(self, path: str, size: int = 20_000_000) -> str:
        """A small gzip body (Content-Encoding: gzip) that inflates to ``size`` zero bytes."""
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = bytes(65_536)
        parts = [compressor.compress(zeros) for _ in range(size // len(zeros))]
        parts.append(compressor.flush())
        return self.route(path, body=b"".join(parts), headers=[("Content-Encoding", "gzip")])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """``https://HOST:PORT/path`` for this server (IPv6 hosts are bracketed)."""
        shown = f"[{host}]" if ":" in host else host
        return f"https://{shown}:{self.port}{path}"

    @property
    def host_port(self) -> str:
        """``"127.0.0.1:PORT"``, e.g. for ``FetchPolicy(allow_hosts=...)``."""
        return f"127.0.0.1:{self.port}"

    # ---- observations ----------------------------------------------------------------------

    def count(self, path: str | None = None) -> int:
        """Requests received for ``path`` (all paths if None)."""
        with self._lock:
            return self._counts[path] if path is not None else sum(self._counts.values())

    @property
    def connections(self) -> int:
        """TCP connections accepted (including ones whose TLS handshake failed)."""
        with self._lock:
            return self._connections

    @property
    def tls_failures(self) -> int:
        """TLS handshakes that failed."""
        with self._lock:
            return self._tls_failures

    @property
    def sni_names(self) -> list[str | None]:
        """Server names sent by clients in TLS SNI, in order."""
        with self._lock:
            return list(self._sni)

    def last_headers(self, path: str) -> dict[str, str]:
        """The request headers of the last request for ``path``."""
        with self._lock:
            return dict(self._last_headers.get(path, {}))

    # ---- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving, release handlers that are sleeping, remove the CA file."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> HttpsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- internals -------------------------------------------------------------------------

    def _on_sni(self, sslobj: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        with self._lock:
            self._sni.append(name)

    def _record(self, path: str, headers: dict[str, str]) -> Route:
        with self._lock:
            self._counts[path] += 1
            self._last_headers[path] = headers
            return self._routes.get(path) or Route(status=404, body=b"no such route")

    def _count_connection(self) -> None:
        with self._lock:
            self._connections += 1

    def _count_tls_failure(self) -> None:
        with self._lock:
            self._tls_failures += 1


@contextlib.contextmanager
def running_https_server() -> Iterator[HttpsServer]:
    """Start an :class:`HttpsServer` and stop it on exit."""
    server = HttpsServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def https_server() -> Iterator[HttpsServer]:
    """Pytest fixture: a fresh :class:`HttpsServer` per test."""
    with running_https_server() as server:
        yield server
