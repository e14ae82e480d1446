"""The verification service as an ASGI application (run by uvicorn; see :mod:`.runner`).

A plain ASGI callable, no web framework: the service has five fixed routes and every
microsecond of routing and request/response objects counts against the verification itself
(a framework's request and response objects cost ~50 us a request here, about half of a warm
verification). Routes:

* ``POST /stir/v1/verification`` — ATIS-1000082 verification (:mod:`.schemas`); a body of
  type ``message/sip`` (or ``application/sip``) is a raw SIP INVITE (extension);
* ``POST /stir/v1/signing`` — ATIS-1000082 signing, when a key and x5u are configured;
* ``GET /healthz`` — liveness, trust anchors loaded, process id; with ``--trust-dir`` the CA
  list (``"status": "degraded"`` past its ``exp``);
* ``GET /metrics`` — Prometheus text format (:mod:`.metrics`);
* ``POST /admin/reload`` — re-read trust anchors, ``--cert`` chains and CRLs; loopback
  clients only. ``SIGHUP`` does the same.

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
import os
import signal
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ..core.verdict import Verdict
from ..core.verifier import Verifier
from . import schemas
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics, mark_process_dead
from .schemas import ApiError, VerificationCall

__all__ = ["DEFAULT_MAX_BODY", "ServiceApp", "SigningKey"]

log = logging.getLogger("shakenkit.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY = 131_072  # a SIP message may be 64 KiB (shakenkit.sip), JSON-escaped
SUPERVISOR_ENV = "SHAKENKIT_SERVE_SUPERVISOR"  # the multi-worker parent's pid (runner)
_JSON = b"application/json"
_SIP_TYPES = (b"message/sip", b"application/sip")
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class SigningKey:
    """The STI-AS side: the SP's ES256 key and the ``x5u`` URL of its certificate chain."""

    key: Any  # ec.EllipticCurvePrivateKey (P-256)
    x5u: str


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class _Reply(Exception):
    """A finished answer raised from inside a handler (status, body, content type)."""

    def __init__(self, status: int, body: bytes, content_type: bytes = _JSON) -> None:
        self.status, self.body, self.content_type = status, body, content_type


class ServiceApp:
    """The ASGI application.

    ``load_verifier`` builds a :class:`Verifier` from the configuration (reading trust anchor,
    certificate and CRL files); it is called once now and again on every reload, and is
    expected to reuse the certificate repository client (and so its cache) across calls.
    ``default_now`` is the verification time for requests without ``time`` (labs; default the
    current time). ``max_body`` caps request bodies (bytes).
    """

    def __init__(
        self,
        load_verifier: Callable[[], Verifier],
        *,
        signing: SigningKey | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        default_now: float | None = None,
        metrics: Metrics | None = None,
        trust_refresh: Any = None,
    ) -> None:
        self._load = load_verifier
        self.verifier = load_verifier()
        self.signing = signing
        self.max_body = max_body
        self.default_now = default_now
        self.metrics = metrics or Metrics()
        self._reload_lock: asyncio.Lock | None = None
        self._sync_task: asyncio.Task[None] | None = None
        # The STI-PA CA list refresh (service.trust_refresh.TrustRefresh), if configured.
        self.trust_refresh = trust_refresh
        self._trust_task: asyncio.Task[None] | None = None
        self._routes: dict[str, tuple[str, Callable[[Scope, bytes], Awaitable[_Reply]]]] = {
            "/stir/v1/verification": ("POST", self._verification),
            "/stir/v1/signing": ("POST", self._signing),
            "/healthz": ("GET", self._healthz),
            "/metrics": ("GET", self._metrics),
            "/admin/reload": ("POST", self._admin_reload),
        }
        self._request_children: dict[tuple[str, int], Any] = {}

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        route = self._routes.get(path)
        endpoint = path if route is not None else "other"
        try:
            if route is None:
                raise schemas.not_found(path)
            method, handler = route
            if scope["method"] != method:
                raise schemas.method_not_allowed(scope["method"])
            body = await self._body(scope, receive) if method == "POST" else b""
            reply = await handler(scope, body)
        except _Reply as r:
            reply = r
        except ApiError as e:
            reply = _Reply(e.status, _dumps(e.body()))
        except Exception:  # never a traceback to the client; the log has it
            log.exception("internal error answering %s %s", scope.get("method"), path)
            internal = schemas.internal_error()
            reply = _Reply(internal.status, _dumps(internal.body()))
        headers = [
            (b"content-type", reply.content_type),
            (b"content-length", str(len(reply.body)).encode()),
        ]
        for name, value in scope["headers"]:
            if name == b"x-requestid":  # ATIS-1000082 request correlation, echoed
                headers.append((b"x-requestid", value[:200]))
                break
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        if endpoint == "/stir/v1/verification":
            self.metrics.duration.observe(time.perf_counter() - started)
        key = (endpoint, reply.status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.metrics.requests.labels(
                endpoint, str(reply.status)
            )
        child.inc()

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise schemas.unparsable_body("invalid Content-Length") from None
                if declared > limit:
                    raise schemas.unparsable_body(f"body over {limit} bytes", 413)
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Reply(499, b"")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise schemas.unparsable_body(f"body over {limit} bytes", 413)
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
        with contextlib.suppress(Exception):
            await self.verifier.aclose()
        mark_process_dead(os.getpid())

    async def _sync_metrics_forever(self) -> None:
        # Repository counters live in the verifier's source; copy them into the metrics
        # (with several workers every worker must, since any one may serve the scrape).
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                self.metrics.sync_source(self.verifier.stats())

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading trust anchors, certificates and CRLs")
        asyncio.get_running_loop().create_task(self.reload())

    # -- reload ------------------------------------------------------------------------------

    async def reload(self) -> tuple[bool, str]:
        """Re-read trust anchors, ``--cert`` chains and CRLs and swap the verifier in; requests
        already running finish with the one they started with. The certificate cache is kept.
        Returns ``(ok, message)``; on failure the running configuration stays."""
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

    async def _verification(self, scope: Scope, body: bytes) -> _Reply:
        query = _query(scope)
        ctype = _header(scope, b"content-type").split(b";", 1)[0].strip().lower()
        if ctype in _SIP_TYPES:  # extension: a raw SIP request
            if not body.strip():
                raise schemas.missing_body()
            call = VerificationCall(None, None, None, schemas.time_value(query.get("time")), body)
        else:
            call = schemas.parse_verification_request(_json(body))
        verdict = await self.verify(call)
        error = verdict.error
        self.metrics.verdict(verdict.verstat, error.sip_code if error is not None else None)
        detail = query.get("detail", "").lower() in _TRUE
        return _Reply(200, _dumps(schemas.verification_response(verdict, detail=detail)))

    async def verify(self, call: VerificationCall) -> Verdict:
        """The verdict for one request, exactly as ``shakenkit verify`` (or ``verify --sip``
        for a raw SIP request) reaches it at the same time."""
        now = call.time
        if now is None:
            now = self.default_now if self.default_now is not None else time.time()
        verifier = self.verifier
        if call.sip is None:
            return await verifier.averify(call.identity, orig=call.orig, dest=call.dest, now=now)
        # One answer for the call (Verifier.verify_sip): div links chained with the Request-URI,
        # History-Info and Diversion (RFC 8946), else the call passes if one header does
        # (RFC 8224 §6.2); an unreadable request is a 438 verdict.
        return await verifier.averify_sip(call.sip, now=now)

    async def _signing(self, scope: Scope, body: bytes) -> _Reply:
        if self.signing is None:
            raise schemas.not_found("/stir/v1/signing (no --key/--x5u configured)")
        from ..signing import sign_shaken

        call = schemas.parse_signing_request(_json(body))
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
        return _Reply(200, _dumps(schemas.signing_response(header)))

    async def _healthz(self, scope: Scope, body: bytes) -> _Reply:
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
        return _Reply(200, _dumps(health))

    async def _metrics(self, scope: Scope, body: bytes) -> _Reply:
        self.metrics.sync_source(self.verifier.stats())
        return _Reply(200, self.metrics.exposition(), METRICS_CONTENT_TYPE.encode())

    async def _admin_reload(self, scope: Scope, body: bytes) -> _Reply:
        client = scope.get("client")
        if not client or not _is_loopback(str(client[0])):
            raise schemas.forbidden("the admin endpoint answers loopback clients only")
        supervisor = os.environ.get(SUPERVISOR_ENV)
        if supervisor and supervisor.isdigit():
            # Several workers: the parent forwards SIGHUP to every worker (runner).
            os.kill(int(supervisor), signal.SIGHUP)
            return _Reply(202, _dumps({"reload": "signalled", "workers": "all"}))
        ok, message = await self.reload()
        if not ok:
            return _Reply(422, _dumps({"reload": "error", "detail": message}))
        return _Reply(200, _dumps({"reload": "ok", "detail": message}))


def _json(body: bytes) -> object:
    if not body.strip():
        raise schemas.missing_body()
    try:
        return json.loads(body)
    except RecursionError:
        raise schemas.unparsable_body("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise schemas.unparsable_body("body is not UTF-8") from None
    except ValueError as e:
        raise schemas.unparsable_body(f"invalid JSON: {str(e)[:120]}") from None


def _header(scope: Scope, name: bytes) -> bytes:
    for n, v in scope["headers"]:
        if n == name:
            return bytes(v)
    return b""


def _query(scope: Scope) -> dict[str, str]:
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return {}
    from urllib.parse import parse_qsl

    try:
        return dict(parse_qsl(raw.decode("latin-1"), max_num_fields=20))
    except ValueError:
        raise schemas.invalid_parameter("query", "too many query parameters") from None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
