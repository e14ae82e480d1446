"""The verification service: routes, limits and handlers, behind two front ends.

:meth:`ServiceApp.respond` answers one complete :class:`Request` with a :class:`Reply`. Two
front ends feed it:

* :mod:`.http`, the HTTP/1.1 protocol ``shakenkit serve`` runs inside uvicorn's server (one
  parser callback chain and one socket write per request, no ASGI messages: measured, the
  ASGI path cost as much as a third of a warm verification);
* the ASGI callable (:meth:`ServiceApp.__call__`), for embedding the service in any ASGI
  server and for in-process tests; uvicorn's lifespan events reach the app this way too.

No web framework: the service has five fixed routes. Routes:

* ``POST /stir/v1/verification`` — ATIS-1000082 verification (:mod:`.schemas`); a body of
  type ``message/sip`` (or ``application/sip``) is a raw SIP INVITE (extension);
* ``POST /stir/v1/signing`` — ATIS-1000082 signing, when a key and x5u are configured;
* ``GET /healthz`` — liveness, trust anchors loaded, process id; with ``--trust-dir`` the CA
  list (``"status": "degraded"`` past its ``exp``);
* ``GET /metrics`` — Prometheus text format (:mod:`.metrics`);
* ``POST /admin/reload`` — re-read trust anchors, ``--cert`` chains and CRLs; loopback
  clients only. ``SIGHUP`` does the same.

Limits (docs/serve.md, "Limits"): a request must arrive within ``read_timeout`` (the
protocol: head and body, from its first byte; through ASGI: the body, from the call), else 408
and the connection is closed; bodies are capped at ``max_body``
(413), at most ``max_concurrency`` requests are in progress at once (more: 503 with
``Retry-After``), and a verification that has not finished ``verify_deadline`` seconds after
it started is answered with a 436 verdict saying so.

One :class:`~shakenkit.Verifier` (and so one certificate cache) per process, shared by all
requests; ``averify`` never blocks the event loop on a repository, so a slow or unreachable
repository delays only the calls that need it. Every failure is a JSON answer: malformed JSON
400, an oversized body 413, an unknown route 404, an internal error 500 without any trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import math
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass
from typing import Any

from ..core.verdict import Check, Verdict, VerdictError
from ..core.verifier import Verifier
from . import schemas
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics, mark_process_dead
from .schemas import ApiError, VerificationCall

_orjson: Any
try:  # the `serve` extra brings orjson; the standard library does the same, slower
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _orjson = None

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_VERIFY_DEADLINE",
    "Reply",
    "Request",
    "ServiceApp",
    "SigningKey",
    "deadline_verdict",
    "error_reply",
]

log = logging.getLogger("shakenkit.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY = 131_072  # a SIP message may be 64 KiB (shakenkit.sip), JSON-escaped
DEFAULT_READ_TIMEOUT = 5.0  # seconds for a whole request to arrive
DEFAULT_MAX_CONCURRENCY = 256  # requests in progress at once (x max_body: bounded memory)
DEFAULT_VERIFY_DEADLINE = 6.0  # one fetch's default total timeout (5 s) + 1 s
SUPERVISOR_ENV = "SHAKENKIT_SERVE_SUPERVISOR"  # the multi-worker parent's pid (runner)
VERIFICATION_PATH = "/stir/v1/verification"
_JSON = b"application/json"
_SIP_TYPES = (b"message/sip", b"application/sip")
_TRUE = frozenset({"1", "true", "yes", "on"})
_NO_QUERY: dict[str, str] = {}
_MAX_CACHED_ANSWERS = 64


@dataclass(frozen=True)
class SigningKey:
    """The STI-AS side: the SP's ES256 key and the ``x5u`` URL of its certificate chain."""

    key: Any  # ec.EllipticCurvePrivateKey (P-256)
    x5u: str


if _orjson is not None:

    def _dumps(obj: object) -> bytes:
        encoded: bytes = _orjson.dumps(obj)
        return encoded

    def _loads(body: bytes) -> Any:
        try:
            return _orjson.loads(body)
        except ValueError:
            # orjson refuses some RFC 8259 JSON (numbers beyond a double or 64 bits): let the
            # standard parser answer, so that the service's answers do not depend on orjson.
            return json.loads(body)

else:  # pragma: no cover

    def _dumps(obj: object) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def _loads(body: bytes) -> Any:
        return json.loads(body)


class Request:
    """One complete HTTP request as a front end hands it to :meth:`ServiceApp.respond`:
    ``headers`` with lower-case names, ``client`` the peer's address (None if unknown)."""

    __slots__ = ("body", "client", "headers", "method", "path", "query")

    def __init__(
        self,
        method: str,
        path: str,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        client: str | None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.client = client


class Reply(Exception):
    """A finished answer (status, body, content type), returned by :meth:`ServiceApp.respond`
    or raised from inside a handler. ``close``: close the connection after it; ``headers``:
    extra response headers."""

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: bytes = _JSON,
        *,
        close: bool = False,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.close, self.headers = close, headers


def error_reply(error: ApiError, *, close: bool = False, **headers: bytes) -> Reply:
    """The JSON answer for an ATIS-1000082 exception (``retry_after=b"1"`` adds a header)."""
    extra = tuple((k.replace("_", "-").encode(), v) for k, v in headers.items())
    return Reply(error.status, _dumps(error.body()), close=close, headers=extra)


def deadline_verdict(seconds: float) -> Verdict:
    """The verdict for a verification that did not finish within the service's deadline: 436
    (Bad Identity Info, as for a repository that does not answer in time), TN-Validation-Failed,
    ``caller_id`` "unverified" (slowness is no evidence of forgery), check ``verify_deadline``."""
    detail = f"verification did not finish within the service's deadline of {seconds:g} s"
    return Verdict(
        verstat="TN-Validation-Failed",
        caller_id="unverified",
        likely_spoofed=False,
        error=VerdictError.of(436, "verify_deadline", detail),
        checks=[Check("verify_deadline", False, detail)],
    )


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


class _Deadlines:
    """Verifications past their deadline, found by one sweeper task per process instead of a
    timer per request (a timer costs ~4 us a request, this ~0.3 us; precision: one tick)."""

    TICK = 0.05

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._due: dict[asyncio.Task[Any], float] = {}  # insertion order == deadline order
        self.expired: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def watch(self, task: asyncio.Task[Any]) -> None:
        self._due[task] = time.monotonic() + self.seconds
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def unwatch(self, task: asyncio.Task[Any]) -> bool:
        """Stop watching ``task``; True when it was cancelled for its deadline."""
        self._due.pop(task, None)
        if task in self.expired:
            self.expired.discard(task)
            return True
        return False

    async def _sweep(self) -> None:
        quiet = 0  # stop after a second without anything to watch (most verifications
        while quiet < 20:  # finish without waiting, between two ticks)
            await asyncio.sleep(self.TICK)
            quiet = 0 if self._due else quiet + 1
            now = time.monotonic()
            late = []
            for task, due in self._due.items():
                if due > now:
                    break
                late.append(task)
            for task in late:
                del self._due[task]
                self.expired.add(task)
                task.cancel()

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()


class ServiceApp:
    """The verification service (see the module docstring).

    ``load_verifier`` builds a :class:`Verifier` from the configuration (reading trust anchor,
    certificate and CRL files); it is called once now and again on every reload, and is
    expected to reuse the certificate repository client (and so its cache) across calls.
    ``default_now`` is the verification time for requests without ``time`` (labs; default the
    current time). Limits: ``max_body`` (bytes), ``read_timeout`` (seconds for a request to
    arrive), ``max_concurrency`` (requests in progress),
    ``verify_deadline`` (seconds for one verification); each must be positive (ValueError).
    """

    def __init__(
        self,
        load_verifier: Callable[[], Verifier],
        *,
        signing: SigningKey | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        verify_deadline: float = DEFAULT_VERIFY_DEADLINE,
        default_now: float | None = None,
        metrics: Metrics | None = None,
        trust_refresh: Any = None,
    ) -> None:
        self.max_body = int(_positive("max_body", max_body))
        self.read_timeout = _positive("read_timeout", read_timeout)
        self.max_concurrency = int(_positive("max_concurrency", max_concurrency))
        self.verify_deadline = _positive("verify_deadline", verify_deadline)
        self._load = load_verifier
        self.verifier = load_verifier()
        self.signing = signing
        self.default_now = default_now
        self.metrics = metrics or Metrics()
        self.in_flight = 0  # requests admitted and not yet answered (see admit/release)
        self._deadlines = _Deadlines(self.verify_deadline)
        self._reload_lock: asyncio.Lock | None = None
        self._sync_task: asyncio.Task[None] | None = None
        # The STI-PA CA list refresh (service.trust_refresh.TrustRefresh), if configured.
        self.trust_refresh = trust_refresh
        self._trust_task: asyncio.Task[None] | None = None
        self._answers: dict[tuple[Any, ...], bytes] = {}
        self._routes: dict[
            str, tuple[str, Callable[[Request], Reply | Coroutine[Any, Any, Reply]]]
        ] = {
            VERIFICATION_PATH: ("POST", self._verification),
            "/stir/v1/signing": ("POST", self._signing),
            "/healthz": ("GET", self._healthz),
            "/metrics": ("GET", self._metrics),
            "/admin/reload": ("POST", self._admin_reload),
        }

    # -- limits (the front ends call these) ---------------------------------------------------

    def admit(self) -> bool:
        """Count a request in, or refuse it (False) when ``max_concurrency`` are in progress.
        Every admitted request is :meth:`release`-d exactly once."""
        if self.in_flight >= self.max_concurrency:
            self.metrics.request("overload", 503)
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        """Count an admitted request out (answered, or its client gone)."""
        self.in_flight -= 1

    def overloaded(self) -> Reply:
        """503 for a request beyond ``max_concurrency``: try again in a second; close."""
        return error_reply(
            schemas.service_unavailable(f"more than {self.max_concurrency} requests in progress"),
            close=True,
            retry_after=b"1",
        )

    def read_timed_out(self, part: str) -> Reply:
        """408 for a request whose head or body did not arrive within ``read_timeout``."""
        self.metrics.request("read_timeout", 408)
        return error_reply(
            schemas.request_timeout(f"request {part} not received within {self.read_timeout:g} s"),
            close=True,
        )

    def too_large(self) -> Reply:
        """413 for a body over ``max_body`` (the connection is closed: the rest is not read)."""
        self.metrics.request("oversize", 413)
        return error_reply(
            schemas.unparsable_body(f"body over {self.max_body} bytes", 413), close=True
        )

    # -- the requests -------------------------------------------------------------------------

    def answer(self, req: Request) -> Reply | Coroutine[Any, Any, Reply]:
        """The answer to one complete request: the :class:`Reply` itself when it needs no
        waiting (a warm verification: every certificate and CRL at hand), else a coroutine that
        finishes it (a fetch to wait for, or an endpoint that awaits). Never raises but for
        cancellation of the coroutine. The HTTP/1.1 front end writes a Reply at once, without a
        task (docs/performance.md, "Service")."""
        started = time.perf_counter()
        path = req.path
        route = self._routes.get(path)
        got: Reply | Coroutine[Any, Any, Reply]
        try:
            if route is None:
                raise schemas.not_found(path)
            method, handler = route
            if req.method != method:
                raise schemas.method_not_allowed(req.method)
            got = handler(req)
        except Reply as r:
            got = r
        except ApiError as e:
            got = error_reply(e)
        except Exception:  # never a traceback to the client; the log has it
            log.exception("internal error answering %s %s", req.method, path)
            got = error_reply(schemas.internal_error())
        if isinstance(got, Reply):
            self._count(route is not None, path, got.status, started)
            return got
        return self._finish(got, req, route is not None, started)

    async def _finish(
        self,
        pending: Coroutine[Any, Any, Reply],
        req: Request,
        routed: bool,
        started: float,
    ) -> Reply:
        """The rest of :meth:`answer` for a request that waits."""
        try:
            reply = await pending
        except Reply as r:
            reply = r
        except ApiError as e:
            reply = error_reply(e)
        except Exception:  # never a traceback to the client; the log has it
            log.exception("internal error answering %s %s", req.method, req.path)
            reply = error_reply(schemas.internal_error())
        self._count(routed, req.path, reply.status, started)
        return reply

    def _count(self, routed: bool, path: str, status: int, started: float) -> None:
        metrics = self.metrics
        if not routed:
            metrics.request("other", status)
            return
        metrics.request(path, status)
        if path == VERIFICATION_PATH:
            metrics.observe(time.perf_counter() - started)

    async def respond(self, req: Request) -> Reply:
        """The answer to one complete request (never raises but for cancellation):
        :meth:`answer`, awaited when it waits."""
        got = self.answer(req)
        return got if isinstance(got, Reply) else await got

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if not self.admit():
            return await _asgi_send(send, self.overloaded(), headers)
        try:
            try:
                body = await self._asgi_body(scope, receive) if scope["method"] == "POST" else b""
            except Reply as r:
                return await _asgi_send(send, r, headers)
            client = scope.get("client")
            req = Request(
                scope["method"],
                scope["path"],
                scope.get("query_string", b""),
                headers,
                body,
                str(client[0]) if client else None,
            )
            await _asgi_send(send, await self.respond(req), headers)
        finally:
            self.release()

    async def _asgi_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise error_reply(schemas.unparsable_body("invalid Content-Length")) from None
                if declared > limit:
                    raise self.too_large()
                break
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.read_timeout
        while True:
            try:  # ASGI servers have no body deadline of their own (uvicorn has none)
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                raise self.read_timed_out("body") from None
            if message["type"] == "http.disconnect":
                raise Reply(499, b"")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self.too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._startup()
                except Exception as e:  # pragma: no cover - reported to the server
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _startup(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        self._sync_task = loop.create_task(self._sync_metrics_forever())
        if self.trust_refresh is not None:
            self._trust_task = loop.create_task(self.trust_refresh.run(self))

    async def _shutdown(self) -> None:
        if self._trust_task is not None:
            self._trust_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._trust_task
            await self.trust_refresh.aclose()
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        self._deadlines.stop()
        with contextlib.suppress(Exception):
            await self.verifier.aclose()
        mark_process_dead(os.getpid())

    async def _sync_metrics_forever(self) -> None:
        # Repository counters live in the verifier's source, request counts in the metrics'
        # tallies; bring both into the Prometheus series (with several workers every worker
        # must, since any one may serve the scrape).
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                self.metrics.sync_source(self.verifier.stats())
                self.metrics.flush()

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading trust anchors, certificates and CRLs")
        asyncio.get_running_loop().create_task(self.reload())

    # -- reload ------------------------------------------------------------------------------

    async def reload(self) -> tuple[bool, str]:
        """Re-read trust anchors, ``--cert`` chains and CRLs and swap the verifier in; requests
        already running finish with the one they started with. The certificate cache is kept.
        Returns ``(ok, message)``; on failure the running configuration stays (the message
        says which file failed and why)."""
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        async with self._reload_lock:
            try:
                verifier = await asyncio.to_thread(self._load)
            except Exception as e:
                self.metrics.reloads.labels("error").inc()
                detail = getattr(e, "detail", None) or str(e) or type(e).__name__
                log.error("reload failed, keeping the running configuration: %s", detail)
                return False, detail
            self.verifier = verifier
            self.metrics.reloads.labels("ok").inc()
            self.metrics.trust_anchors.set(len(verifier.trust_store))
            log.info("reloaded: %d trust anchors", len(verifier.trust_store))
            return True, f"{len(verifier.trust_store)} trust anchors"

    # -- handlers ----------------------------------------------------------------------------

    def _verification(self, req: Request) -> Reply | Coroutine[Any, Any, Reply]:
        query = _query(req.query) if req.query else _NO_QUERY
        ctype = _header(req.headers, b"content-type").split(b";", 1)[0].strip().lower()
        if ctype in _SIP_TYPES:  # extension: a raw SIP request
            if not req.body.strip():
                raise schemas.missing_body()
            t = schemas.time_value(query.get("time"))
            sip = VerificationCall(None, None, None, t, req.body)
            return self._verified(self._verify_within_deadline(self.verify(sip)), query)
        call = schemas.parse_verification_request(_json(req.body))
        verifier = self.verifier
        if (
            call.sip is not None
            or type(verifier).averify is not Verifier.averify
            or type(self).verify is not ServiceApp.verify
        ):
            # A raw SIP request (verify_sip's rules), or a verifier or service class of one's
            # own whose averify or verify is what must run: the general path, in a task.
            return self._verified(self._verify_within_deadline(self.verify(call)), query)
        got = verifier._verify_nowait(call.identity, call.orig, call.dest, self._now(call))
        if isinstance(got, Verdict):  # warm: answered without waiting, or a task
            return self._verification_reply(got, query)
        return self._verified(self._verify_within_deadline(got.finish()), query)

    async def _verified(self, verdict: Awaitable[Verdict], query: dict[str, str]) -> Reply:
        return self._verification_reply(await verdict, query)

    def _verification_reply(self, verdict: Verdict, query: dict[str, str]) -> Reply:
        error = verdict.error
        code = error.sip_code if error is not None else None
        self.metrics.verdict(verdict.verstat, code)
        if query and query.get("detail", "").lower() in _TRUE:
            return Reply(200, _dumps(schemas.verification_response(verdict, detail=True)))
        # Without detail the answer depends on verstat, code and phrase only: encode each once.
        key = (verdict.verstat, code, error.reason if error is not None else None)
        body = self._answers.get(key)
        if body is None:
            body = _dumps(schemas.verification_response(verdict))
            if len(self._answers) < _MAX_CACHED_ANSWERS:
                self._answers[key] = body
        return Reply(200, body)

    async def _verify_within_deadline(self, verification: Awaitable[Verdict]) -> Verdict:
        """A verification that waits (for a fetch), cut off ``verify_deadline`` seconds after
        it started waiting (the core's own limits bound each fetch; this bounds the request,
        whatever the call carries; what ran before without waiting took microseconds)."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - ASGI and the protocol always run in a task
            return await verification
        deadlines = self._deadlines
        deadlines.watch(task)
        try:
            verdict = await verification
        except asyncio.CancelledError:
            if not deadlines.unwatch(task):
                raise  # cancelled by someone else (shutdown): not ours to swallow
            uncancel = getattr(task, "uncancel", None)  # Python >= 3.11
            if uncancel is not None:
                uncancel()
            return deadline_verdict(self.verify_deadline)
        except BaseException:
            # An error (a 500): stop watching, or the task, its traceback and the request it
            # holds stay in the deadline tables for ever.
            if deadlines.unwatch(task):
                uncancel = getattr(task, "uncancel", None)
                if uncancel is not None:
                    uncancel()
            raise
        if deadlines.unwatch(task):
            # The deadline passed just as the verification finished: the cancellation is still
            # pending on this task; take it back (3.11+) or let it land after the answer.
            uncancel = getattr(task, "uncancel", None)
            if uncancel is not None:
                uncancel()
        return verdict

    async def verify(self, call: VerificationCall) -> Verdict:
        """The verdict for one request, exactly as ``shakenkit verify`` (or ``verify --sip``
        for a raw SIP request) reaches it at the same time (no service deadline)."""
        now = self._now(call)
        verifier = self.verifier
        if call.sip is None:
            return await verifier.averify(call.identity, orig=call.orig, dest=call.dest, now=now)
        # One answer for the call (Verifier.verify_sip): div links chained with the Request-URI,
        # History-Info and Diversion (RFC 8946), else the call passes if one header does
        # (RFC 8224 §6.2); an unreadable request is a 438 verdict.
        return await verifier.averify_sip(call.sip, now=now)

    def _now(self, call: VerificationCall) -> float:
        """The verification time: the request's ``time``, else ``default_now``, else now."""
        if call.time is not None:
            return call.time
        return self.default_now if self.default_now is not None else time.time()

    async def _signing(self, req: Request) -> Reply:
        if self.signing is None:
            raise schemas.not_found("/stir/v1/signing (no --key/--x5u configured)")
        from ..signing import sign_shaken

        call = schemas.parse_signing_request(_json(req.body))
        header = sign_shaken(
            self.signing.key,
            x5u=self.signing.x5u,
            orig=call.orig,
            dest=call.dest,
            attest=call.attest,
            origid=call.origid,
            iat=call.iat if call.iat is not None else int(time.time()),
        )
        self.metrics.signings.inc()
        return Reply(200, _dumps(schemas.signing_response(header)))

    async def _healthz(self, req: Request) -> Reply:
        health: dict[str, Any] = {
            "status": "ok",
            "pid": os.getpid(),
            "trust_anchors": len(self.verifier.trust_store),
            "signing": self.signing is not None,
        }
        if self.trust_refresh is not None:  # the CA list: past its exp, or none, is degraded
            health.update(self.trust_refresh.health())
            trust_list = health["trust_list"]
            if trust_list.get("expired") or not trust_list.get("installed"):
                health["status"] = "degraded"
        return Reply(200, _dumps(health))

    async def _metrics(self, req: Request) -> Reply:
        self.metrics.sync_source(self.verifier.stats())
        return Reply(200, self.metrics.exposition(), METRICS_CONTENT_TYPE.encode())

    async def _admin_reload(self, req: Request) -> Reply:
        if not _is_loopback(_effective_client(req)):
            raise schemas.forbidden("the admin endpoint answers loopback clients only")
        supervisor = os.environ.get(SUPERVISOR_ENV)
        if supervisor and supervisor.isdigit():
            # Several workers: the parent forwards SIGHUP to every worker (runner).
            os.kill(int(supervisor), signal.SIGHUP)
            return Reply(202, _dumps({"reload": "signalled", "workers": "all"}))
        ok, message = await self.reload()
        if not ok:
            return Reply(422, _dumps({"reload": "error", "detail": message}))
        return Reply(200, _dumps({"reload": "ok", "detail": message}))


async def _asgi_send(send: Send, reply: Reply, request_headers: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", reply.content_type),
        (b"content-length", str(len(reply.body)).encode()),
        *reply.headers,
    ]
    if reply.close:
        headers.append((b"connection", b"close"))
    request_id = _header(request_headers, b"x-requestid")
    if request_id:  # ATIS-1000082 request correlation, echoed
        headers.append((b"x-requestid", request_id[:200]))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def _json(body: bytes) -> object:
    if not body.strip():
        raise schemas.missing_body()
    try:
        return _loads(body)
    except RecursionError:
        raise schemas.unparsable_body("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise schemas.unparsable_body("body is not UTF-8") from None
    except ValueError as e:
        raise schemas.unparsable_body(f"invalid JSON: {str(e)[:120]}") from None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    for n, v in headers:
        if n == name:
            return bytes(v)
    return b""


def _query(raw: bytes) -> dict[str, str]:
    from urllib.parse import parse_qsl

    try:
        return dict(parse_qsl(raw.decode("latin-1"), max_num_fields=20))
    except ValueError:
        raise schemas.invalid_parameter("query", "too many query parameters") from None


def _effective_client(req: Request) -> str:
    """The client a loopback proxy relays for: the rightmost non-loopback address of
    ``X-Forwarded-For`` when the peer is loopback (as uvicorn's proxy-headers rule trusts
    127.0.0.1), else the peer itself. Every ``X-Forwarded-For`` field counts, in order (one
    comma-separated list, RFC 9110 section 5.3): a proxy that appends its own field after the
    client's (HAProxy ``option forwardfor``) must not be hidden by a first field saying
    127.0.0.1."""
    client = req.client or ""
    if not _is_loopback(client):
        return client
    forwarded = ",".join(v.decode("latin-1") for n, v in req.headers if n == b"x-forwarded-for")
    for hop in reversed(forwarded.split(",")):
        hop = hop.strip()
        if hop and not _is_loopback(hop):
            return hop
    return client


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
