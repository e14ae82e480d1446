"""The HTTP/1.1 front end of ``shakenkit serve``: an asyncio protocol over httptools.

uvicorn runs it (``uvicorn.Config(http=HttpProtocol)``): uvicorn keeps what it is good at
(sockets, worker processes, signals, lifespan, graceful shutdown, logging) and this protocol
replaces its ASGI request cycle for the service's five routes. Parsing is httptools (llhttp,
the parser uvicorn uses); per request this module adds a handful of callbacks, one task, and
one socket write for the whole response (uvicorn's ASGI cycle writes the head and the body
separately and builds a scope and two messages a request). Measured on the development
machine: docs/performance.md.

Limits, each answered with the ATIS-1000082 JSON exception and the connection closed
(docs/serve.md, "Limits"):

* a request must arrive whole (head and body) within ``read_timeout`` seconds of its first
  byte, else **408** (SVC4080). uvicorn re-arms nothing while bytes trickle in: its keep-alive
  timer is cancelled by the first byte of a request, so alone it holds a slowloris client
  forever;
* a connection that sends nothing for ``timeout_keep_alive`` seconds (new or between
  requests) is closed without an answer;
* the request line and headers are capped at :data:`MAX_HEAD` bytes and :data:`MAX_HEADERS`
  fields, else **431** (SVC4310); llhttp itself has no limit;
* a body over ``max_body`` is **413** (a declared Content-Length is refused before any of it
  is read);
* at most ``max_concurrency`` requests are in progress in the process, counted from the end
  of their head, else **503** (POL5030) with ``Retry-After: 1``;
* a request llhttp cannot parse is **400** (SVC4002).

Requests on one connection are answered in order, one at a time; while one is in progress
the connection is not read (pipelined requests wait in the socket buffer; those already read
are queued, at most :data:`MAX_PIPELINED`: beyond, the queued ones are answered and the
connection is closed). A client that does not take its answers (the transport's buffer above
its high-water mark) is read no further and is aborted after ``read_timeout`` seconds. Deadlines are
checked by one sweeper task per server, every :data:`TICK` seconds, instead of a timer per
request (``loop.call_later`` and ``cancel`` cost ~4 us a request here).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote

import httptools

from . import schemas
from .app import Reply, Request, ServiceApp, error_reply

__all__ = ["MAX_HEAD", "MAX_HEADERS", "MAX_PIPELINED", "SYNC_BATCH", "TICK", "HttpProtocol"]

MAX_HEAD = 16_384  # bytes of request line and header fields (h11's default limit)
MAX_HEADERS = 100
MAX_PIPELINED = 64  # complete requests waiting behind the one in progress, on one connection
SYNC_BATCH = 8  # pipelined requests answered at once in one go before other connections' turn
TICK = 0.1  # seconds between two looks at the deadlines
_QUIET_TICKS = 50  # a sweeper with nothing to watch for this many ticks stops

_STATUS_LINES = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode("latin-1") for s in HTTPStatus
}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
access_log = logging.getLogger("shakenkit.access")


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Unknown\r\n" % status


class _Stop(Exception):
    """Raised from a parser callback after the connection was answered and closed."""


class _Sweeper:
    """The deadlines of one server's connections: those reading a request and those idle.

    Each table's durations are constant (``read_timeout``, ``timeout_keep_alive``), so
    insertion order is deadline order and a look stops at the first entry not yet due."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.reading: dict[HttpProtocol, float] = {}
        self.idle: dict[HttpProtocol, float] = {}
        self.draining: dict[HttpProtocol, float] = {}  # answers not taken (read_timeout)
        self._task: asyncio.Task[None] | None = None
        self.unsent: list[tuple[asyncio.Transport, bytes]] = []  # answers written at flush()

    def send(self, transport: asyncio.Transport, data: bytes) -> None:
        """Write ``data`` to ``transport`` at the end of this turn of the event loop, with the
        other answers of the turn: written back to back, they wake a client that waits on
        several connections (a proxy, a load generator) once, not once each. Measured: the
        kernel's time per request fell from ~20 us to ~7 us (docs/performance.md)."""
        if not self.unsent:
            self.loop.call_soon(self.flush)
        self.unsent.append((transport, data))

    def flush(self) -> None:
        """Write the answers :meth:`send` holds (in order)."""
        unsent, self.unsent = self.unsent, []
        for transport, data in unsent:
            if not transport.is_closing():
                transport.write(data)

    def read(self, proto: HttpProtocol, seconds: float) -> None:
        self.idle.pop(proto, None)
        self.reading.pop(proto, None)
        self.reading[proto] = self.loop.time() + seconds
        self._ensure()

    def rest(self, proto: HttpProtocol, seconds: float) -> None:
        self.reading.pop(proto, None)
        self.idle.pop(proto, None)
        self.idle[proto] = self.loop.time() + seconds
        self._ensure()

    def drain(self, proto: HttpProtocol, seconds: float) -> None:
        """The client must take its unsent answers within ``seconds``, else it is aborted."""
        self.draining.pop(proto, None)
        self.draining[proto] = self.loop.time() + seconds
        self._ensure()

    def forget(self, proto: HttpProtocol) -> None:
        self.reading.pop(proto, None)
        self.idle.pop(proto, None)

    def _ensure(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._run())

    async def _run(self) -> None:
        # Runs while there is anything to watch, and a while after (connections go in and out
        # of the tables on every request: a task per request would cost more than it saves).
        quiet = 0
        while quiet < _QUIET_TICKS:
            await asyncio.sleep(TICK)
            quiet = 0 if self.reading or self.idle or self.draining else quiet + 1
            now = self.loop.time()
            for proto in _due(self.reading, now):
                proto.read_timed_out()
            for proto in _due(self.idle, now):
                proto.idle_timed_out()
            for proto in _due(self.draining, now):
                proto.drain_timed_out()


def _due(table: dict[HttpProtocol, float], now: float) -> list[HttpProtocol]:
    late = []
    for proto, due in table.items():
        if due > now:
            break
        late.append(proto)
    for proto in late:
        del table[proto]
    return late


def _service_app(app: Any) -> ServiceApp:
    """The ServiceApp under uvicorn's wrappers (``loaded_app`` may be wrapped in middleware)."""
    for _ in range(8):
        if isinstance(app, ServiceApp):
            return app
        app = getattr(app, "app", None)
    raise TypeError("HttpProtocol serves a shakenkit ServiceApp only")


class HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection to the service (see the module docstring). Constructed by
    uvicorn's server with its ``config`` and ``server_state``."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: Any = None,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.app = _service_app(config.loaded_app)
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.keep_alive_timeout = float(config.timeout_keep_alive)
        self.access_log = bool(config.access_log) and access_log.isEnabledFor(logging.INFO)
        sweeper = getattr(server_state, "shakenkit_sweeper", None)
        if sweeper is None or sweeper.loop is not self.loop:
            sweeper = server_state.shakenkit_sweeper = _Sweeper(self.loop)
        self.sweeper: _Sweeper = sweeper
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: str | None = None
        # The connection: a request in progress, complete requests waiting behind it.
        self.busy = False  # a request in progress, or answered at once in this read
        self._answered = False  # a request was answered at once (no task) in this read
        self.closing = False  # close once the answers in progress are written
        self.paused = False  # reading paused (a request in progress, or answers not taken)
        self.write_paused = False  # the transport's buffer is above its high-water mark
        # Complete requests waiting their turn (and, last, a limit's answer: see _fail).
        self.queue: deque[tuple[Request | Reply, bool]] = deque()
        # The message being read.
        self._in_message = False
        self._in_head = False
        self._in_trailer = False  # after a chunk header: its extensions, or the trailer fields
        self._head_fed = 0  # bytes fed to the parser while a head or trailer was incomplete
        self._head_size = 0  # bytes of the header fields parsed
        self.eof = False  # the client has finished sending
        self.stopped = False  # a limit was broken: nothing more is read
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: bytes | bytearray = b""
        self._body_size = 0
        self._method = "GET"
        self._keep_alive = True
        self._held = False  # this message holds a concurrency slot (ServiceApp.admit)

    # -- the connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server_state.connections.add(self)
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self.sweeper.rest(self, self.keep_alive_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self.sweeper.forget(self)
        self.sweeper.draining.pop(self, None)
        self._drop_slot()
        self.queue.clear()
        self.closing = True

    def eof_received(self) -> bool:
        # The client has finished sending: answer what it sent, then close.
        self.eof = True
        if not self.busy:
            self._close()
        return True

    def shutdown(self) -> None:
        """Called by uvicorn's server at shutdown: close now if idle, else after the answer."""
        self.closing = True
        if not self.busy:
            self._close()

    def data_received(self, data: bytes) -> None:
        if self.stopped:
            return
        if self._in_head or self._in_trailer:
            self._head_fed += len(data)
        try:
            self._feed(data)
        finally:
            if self._answered:
                # A request of this read was answered at once: those it read behind it
                # (pipelined, queued meanwhile) get their turn now.
                self._answered = False
                self.busy = False
                if self.closing:
                    self._close()
                elif not self.write_paused:
                    self._next()
        if self.busy and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except _Stop:
            return
        except httptools.HttpParserUpgrade:
            # An upgrade (h2c, WebSocket) is not served: answer the requests read so far (this
            # one too), then close; nothing more is read.
            self.stopped = self.eof = True
            if not self.busy and not self.queue:
                self._close()
        except httptools.HttpParserCallbackError as e:
            if isinstance(e.__context__, _Stop):
                return
            raise  # pragma: no cover - a bug in a callback here
        except httptools.HttpParserError as e:
            self._fail(error_reply(schemas.bad_request(str(e) or type(e).__name__), close=True))
            return
        if (self._in_head or self._in_trailer) and self._head_fed > MAX_HEAD and not self.stopped:
            # llhttp hands a header field over only once it ends (httptools buffers it): a head,
            # chunk header or trailer section still incomplete after MAX_HEAD bytes (one
            # endless field) is refused here, not buffered further.
            what = "request head" if self._in_head else "chunk header or trailer section"
            self._fail(self._head_too_large(what))

    # -- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._in_head = True
        self._in_trailer = False
        self._head_fed = 0
        self._head_size = 0
        self._url = b""
        self._headers = []
        self._body = b""
        self._body_size = 0
        if not self.busy:
            self.sweeper.read(self, self.app.read_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_HEAD:
            self._fail(self._head_too_large("request line"))
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        headers.append((name.lower(), value))
        self._head_size += len(name) + len(value) + 4
        if len(headers) > MAX_HEADERS or len(self._url) + self._head_size > MAX_HEAD:
            self._fail(self._head_too_large("request header fields"))
            raise _Stop

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self.parser
        self._method = parser.get_method().decode("latin-1")
        self._keep_alive = parser.should_keep_alive()
        if self.busy:  # pipelined behind a request in progress: admitted when its turn comes
            return
        if not self._admit():
            raise _Stop

    def _admit(self) -> bool:
        """Admit the message whose head is complete: a concurrency slot, its declared
        Content-Length, ``Expect: 100-continue``. False when refused (answered and closing).
        Called at the end of its head, or, for a head read behind a request in progress whose
        body had not all come when that answer was written, when the connection goes idle
        (:meth:`_next`): a message is never started without its slot."""
        app = self.app
        if not app.admit():
            self._fail(app.overloaded())
            return False
        self._held = True
        expect = False
        for name, value in self._headers:
            if name == b"content-length":
                # llhttp has checked the digits (and refuses a second, different one).
                if int(value) > app.max_body:
                    self._fail(app.too_large())
                    return False
            elif name == b"expect" and value.lower() == b"100-continue":
                expect = True
        if expect and self.transport is not None:
            # Through the turn's answers, after any still unsent: the client must not take
            # it for the interim answer of an earlier request.
            self.sweeper.send(self.transport, _CONTINUE)
        return True

    def on_chunk_header(self) -> None:
        # Until this chunk's data (none for the last chunk: its trailer section follows), the
        # bytes fed count against MAX_HEAD like a head's (data_received).
        self._in_trailer = True
        self._head_fed = 0

    def on_body(self, body: bytes) -> None:
        self._in_trailer = False
        self._body_size += len(body)
        if self._body_size > self.app.max_body:
            self._fail(self.app.too_large())
            raise _Stop
        # One buffer, not a list of pieces: a chunked body of 2-byte chunks was ~24 bytes of
        # memory per body byte as a list of bytes objects.
        if len(body) == self._body_size:
            self._body = body  # the first piece (usually the only one), kept as it is
        elif type(self._body) is bytes:
            self._body = bytearray(self._body) + body
        else:
            self._body += body

    def on_message_complete(self) -> None:
        self._in_message = False
        self._in_trailer = False
        self.sweeper.reading.pop(self, None)
        raw = self._url
        query = b""
        if raw[:1] == b"/" and b"?" not in raw and b"%" not in raw and b"#" not in raw:
            path = raw.decode("latin-1")  # origin-form, nothing to split or decode
        else:
            try:
                url = httptools.parse_url(raw)
            except httptools.HttpParserInvalidURLError:
                self._fail(error_reply(schemas.bad_request("invalid request target"), close=True))
                raise _Stop from None
            path = url.path.decode("latin-1") if url.path else "/"
            if "%" in path:
                path = unquote(path, encoding="latin-1")
            query = url.query or b""
        body = self._body
        req = Request(
            self._method,
            path,
            query,
            self._headers,
            body if type(body) is bytes else bytes(body),
            self.client,
        )
        if self.busy:
            self.queue.append((req, self._keep_alive))
            if len(self.queue) >= MAX_PIPELINED:
                # A read holds thousands of small pipelined requests: queue no more, read no
                # more; the queued ones are answered, then the connection is closed (as after
                # the client's end of input), and the client sends the rest again.
                self.stopped = self.eof = True
                self.sweeper.forget(self)
                if not self.paused and self.transport is not None:
                    self.paused = True
                    self.transport.pause_reading()
                raise _Stop
        else:
            if not self._held and not self._admit():  # pragma: no cover - admitted in _next
                raise _Stop
            self._held = False  # the slot goes with the request to _start
            self._start(req, self._keep_alive)
            if self.closing:  # answered at once, and the connection closes: read no further
                self.stopped = True
                raise _Stop

    # -- answering -----------------------------------------------------------------------------

    def _start(self, req: Request, keep_alive: bool) -> None:
        """Answer ``req`` (its concurrency slot held): at once when the app can (a warm
        verification: no task, ``_answered`` set, the connection stays busy until the caller
        has seen it), else in a task (:meth:`_answer`)."""
        self.busy = True
        app = self.app
        try:
            got = app.answer(req)
        except BaseException:  # pragma: no cover - answer() handles every Exception
            app.release()
            raise
        if isinstance(got, Reply):
            app.release()
            self._answered = True
            self._write(got, req, keep_alive)
            return
        task = self.loop.create_task(self._answer(got, req, keep_alive))
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _answer(
        self, pending: Coroutine[Any, Any, Reply], req: Request, keep_alive: bool
    ) -> None:
        app = self.app
        try:
            reply = await pending
        except asyncio.CancelledError:  # shutdown past its grace period
            self._close()
            raise
        finally:
            app.release()
        self.busy = False
        self._write(reply, req, keep_alive)
        if not self.closing and not self.write_paused:  # else resume_writing goes on
            self._next()

    def _next(self) -> None:
        """After an answer: the next pipelined request (those answered at once, in turn, at
        most :data:`SYNC_BATCH` in one go: then the other connections get their turn), or wait
        for one."""
        answered = 0
        while self.queue:
            if answered >= SYNC_BATCH:
                self.busy = True  # the rest after the other connections' turn
                self.loop.call_soon(self._resume)
                return
            item, keep_alive = self.queue.popleft()
            if isinstance(item, Reply):  # the answer to a request that broke a limit: the last
                self._write(item, None, False)
                return
            if not self.app.admit():
                self._write(self.app.overloaded(), item, False)
                return
            self._start(item, keep_alive)
            if not self._answered:
                return  # in a task: _answer goes on
            self._answered = False
            self.busy = False
            answered += 1
            if self.closing or self.write_paused:
                return
        if self.eof or self.closing:
            self._close()
            return
        if self._in_message:  # its first bytes came while the last answer was in progress
            if not self._in_head and not self._held and not self._admit():
                return  # its head came then too: admitted now, or refused (closing)
            self.sweeper.read(self, self.app.read_timeout)
        else:
            self.sweeper.rest(self, self.keep_alive_timeout)
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def _resume(self) -> None:
        """The rest of :meth:`_next` after other connections had their turn."""
        self.busy = False
        if not self.write_paused:  # else resume_writing goes on, or the drain deadline
            self._next()  # closing (shutdown meanwhile): the next answer closes

    def _write(self, reply: Reply, req: Request | None, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        close = reply.close or not keep_alive or self.closing
        body = reply.body
        parts = [
            _status_line(reply.status),
            b"content-type: ",
            reply.content_type,
            b"\r\ncontent-length: ",
            b"%d" % len(body),
            b"\r\n",
            _default_headers(self.server_state),
        ]
        for name, value in reply.headers:
            parts += (name, b": ", value, b"\r\n")
        if req is not None:
            for name, value in req.headers:
                if name == b"x-requestid":  # ATIS-1000082 request correlation, echoed
                    parts += (b"x-requestid: ", value[:200], b"\r\n")
                    break
        if close:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if req is None or req.method != "HEAD":
            parts.append(body)
        self.sweeper.send(transport, b"".join(parts))
        self.server_state.total_requests += 1
        if self.access_log:
            method, path = (req.method, req.path) if req is not None else ("-", "-")
            # The path is percent-decoded: escape it, or a %0a forges access-log lines.
            shown = path[:200].encode("unicode_escape").decode("ascii")
            access_log.info('%s "%s %s" %d', self.client, method, shown, reply.status)
        if close:
            self.closing = True
            self._close()

    def _fail(self, reply: Reply) -> None:
        """Answer a request that broke a limit (or could not be parsed), and close. Behind a
        request still in progress, close after its answer instead (answers stay in order)."""
        self._drop_slot()
        self.sweeper.forget(self)
        self.stopped = True
        if self.busy or self.queue:
            # The requests read before it are answered in order, then this answer, then the
            # connection is closed (nothing more is read).
            self.eof = True
            self.queue.append((reply, False))
            return
        self._write(reply, None, False)
        self._close()

    def _drop_slot(self) -> None:
        if self._held:
            self._held = False
            self.app.release()

    def _close(self) -> None:
        self.sweeper.forget(self)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.sweeper.flush()  # this connection's answers go before its close
            transport.close()
            if transport.get_write_buffer_size():
                # close() waits for the client to take the answers still unsent: not for ever.
                self.sweeper.drain(self, self.app.read_timeout)

    def _head_too_large(self, what: str) -> Reply:
        return error_reply(
            schemas.head_too_large(f"{what} over {MAX_HEAD} bytes or {MAX_HEADERS} fields"),
            close=True,
        )

    # -- deadlines (called by the sweeper) ------------------------------------------------------

    def read_timed_out(self) -> None:
        if self.busy or not self._in_message:  # pragma: no cover - not tracked then
            return
        self._fail(self.app.read_timed_out("head" if self._in_head else "body"))

    def idle_timed_out(self) -> None:
        if not self.busy and not self._in_message:
            self._close()

    def drain_timed_out(self) -> None:
        # A client that has not taken its answers for read_timeout: dropped, buffer and all.
        if self.transport is not None:
            self.transport.abort()

    # -- write flow control (called by the transport) --------------------------------------------

    def pause_writing(self) -> None:
        """The answers not yet taken by the client are above the transport's high-water mark:
        read nothing more, answer nothing more, and give the client ``read_timeout`` seconds to
        take them (else :meth:`drain_timed_out`). Without this, a client that pipelines and
        never reads made the server buffer answers without bound."""
        self.write_paused = True
        self.sweeper.drain(self, self.app.read_timeout)
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.closing:  # the deadline stays until the rest is taken (connection_lost)
            return
        self.sweeper.draining.pop(self, None)
        if not self.busy:
            self._next()


_date_cache: list[Any] = [None, b""]


def _default_headers(server_state: Any) -> bytes:
    """uvicorn's default response headers (``Date``, refreshed once a second by its server),
    encoded once per change."""
    headers = server_state.default_headers
    if headers is not _date_cache[0]:
        _date_cache[0] = headers
        _date_cache[1] = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    encoded: bytes = _date_cache[1]
    return encoded
