"""A test STI-PA: its PKI (root and list signer), signed CA lists, and a real HTTPS stand-in of
its API on 127.0.0.1 (``POST /api/v1/auth/login``, ``GET /api/v1/ca-list``, and the list
signer's certificate chain at ``/sti-pa/signer.pem``, the ``x5u`` of every list it signs).

The lists are signed with ``cryptography`` directly (ES256 as JWS R || S, RFC 7518 §3.4), so a
test can also make the lists an attacker would: another key, HS256 or ``none``, an altered
payload, an expired or rolled-back list. The server uses the TLS material of
:mod:`tests.https_server` (``server.ca_pem_path`` is the CA to pass as ``--tls-ca``) and counts
and records requests (headers and bodies) so tests can check what the client sent.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from shakenkit.testing import issue_certificate
from tests.https_server import _tls_material

API = "/api/v1"
SIGNER_PATH = "/sti-pa/signer.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "STI-PA (test)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def es256(key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass
class TestStiPa:
    """An STI-PA root and a list signer issued by it (EC P-256), serving ``x5u``."""

    __test__ = False

    x5u: str
    root_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    signer_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    root_der: bytes = b""
    signer_der: bytes = b""

    def __post_init__(self) -> None:
        now = time.time()
        root_name = _name("STI-PA Test ROOT")
        self.root_der = issue_certificate(
            subject=root_name,
            key=self.root_key,
            ca=True,
            policy=False,
            crl_url=None,
            not_before=now - 2 * 86_400,
            not_after=now + 10 * 365 * 86_400,
        )
        self.rotate_signer(self.signer_key)

    def rotate_signer(self, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        """A new list-signing key and certificate (under the same root and x5u)."""
        now = time.time()
        self.signer_key = key or ec.generate_private_key(ec.SECP256R1())
        self.signer_der = issue_certificate(
            subject=_name("STI-PA Test CA List Signer"),
            key=self.signer_key,
            issuer=_name("STI-PA Test ROOT"),
            issuer_key=self.root_key,
            policy=False,
            crl_url=None,
            not_before=now - 86_400,
            not_after=now + 365 * 86_400,
        )

    @property
    def root_pem(self) -> bytes:
        return pem(self.root_der)

    @property
    def signer_pem(self) -> bytes:
        """What ``x5u`` serves: the signer's certificate (the root is the anchor)."""
        return pem(self.signer_der)

    def sign_list(
        self,
        roots: Sequence[bytes | str],
        *,
        sequence: int,
        exp: float | None = None,
        version: str | None = "1.0",
        alg: str = "ES256",
        key: ec.EllipticCurvePrivateKey | None = None,
        header: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> str:
        """A compact JWS of the list ``roots`` (PEM each). ``alg`` ``HS256`` signs with an
        HMAC key (the x5u certificate's DER, as an alg-confusion attacker would), ``none``
        leaves the signature empty; ``payload`` replaces the whole payload."""
        body: dict[str, Any] = {
            "sequence": sequence,
            "exp": int(time.time()) + 30 * 86_400 if exp is None else exp,
            "trustList": [r.decode() if isinstance(r, bytes) else r for r in roots],
        }
        if version is not None:
            body["version"] = version
        if payload is not None:
            body = payload
        head: dict[str, Any] = {"alg": alg, "typ": "JWT", "x5u": self.x5u}
        head.update(header or {})
        signing_input = (
            b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(body).encode())
        ).encode()
        if alg == "none":
            sig = b""
        elif alg == "HS256":
            sig = hmac.new(self.signer_pem, signing_input, hashlib.sha256).digest()
        else:
            sig = es256(key or self.signer_key, signing_input)
        return signing_input.decode() + "." + b64url(sig)


def answer(jws: str) -> bytes:
    """The ca-list API answer carrying ``jws``."""
    return json.dumps({"status": "success", "message": "CA list", "caList": jws}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: StiPaServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10.0)
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.owner.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            _Handler(tls, client_address, self)
        except Exception:
            pass
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_POST(self) -> None:
        owner = self.server.owner
        body = self._body()
        owner._record(self.path, dict(self.headers.items()), body)
        if self.path != API + "/auth/login":
            self._reply(404, b'{"status": "failed", "message": "no such route"}')
            return
        try:
            creds = json.loads(body)
        except ValueError:
            creds = None
        if not isinstance(creds, dict) or (creds.get("userId"), creds.get("password")) != (
            owner.user,
            owner.password,
        ):
            # Like a careless server: the message echoes what was sent.
            echo = json.dumps(creds)[:200] if isinstance(creds, dict) else ""
            self._reply(
                401, json.dumps({"status": "failed", "message": f"bad login {echo}"}).encode()
            )
            return
        self._reply(200, json.dumps({"status": "success", "accessToken": owner.token}).encode())

    def do_GET(self) -> None:
        owner = self.server.owner
        owner._record(self.path, dict(self.headers.items()), b"")
        if self.path == SIGNER_PATH:
            self._reply(200, owner.signer_chain, "application/pem-certificate-chain")
        elif self.path == API + "/ca-list":
            if self.headers.get("Authorization") != owner.token:
                self._reply(401, b'{"status": "failed", "message": "bad token"}')
            elif owner.ca_list_status != 200:
                self._reply(owner.ca_list_status, b'{"status": "failed", "message": "down"}')
            else:
                self._reply(200, owner.ca_list_body)
        else:
            self._reply(404, b'{"status": "failed"}')


class StiPaServer:
    """The STI-PA API stand-in (module docstring). ``stipa`` signs with this server's x5u;
    set :attr:`ca_list_body` (bytes; :func:`answer` of a JWS) to what ca-list serves."""

    def __init__(self, *, user: str = "api-user", password: str = "s3cret-pa55word") -> None:
        self.user, self.password = user, password
        self.token = "tok-" + base64.b16encode(os.urandom(8)).decode()
        material = _tls_material()
        self._tmpdir = tempfile.mkdtemp(prefix="shakenkit-stipa-")
        self.ca_pem_path = os.path.join(self._tmpdir, "ca.pem")
        material.ca.cert_pem.write_to_path(self.ca_pem_path)
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        material.cert.configure_cert(self.ssl_context)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port: int = self._httpd.server_address[1]
        self.stipa = TestStiPa(x5u=self.url(SIGNER_PATH))
        self.signer_chain = self.stipa.signer_pem
        self.ca_list_body = b""
        self.ca_list_status = 200
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    @property
    def base_url(self) -> str:
        """The API root to pass as ``--stipa-api``."""
        return self.url(API)

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.counts[path] += 1
            self.requests.append((path, headers, body))

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        shutil.rmtree(self._tmpdir, ignore_errors=True)


@contextlib.contextmanager
def running_stipa(**kw: Any) -> Iterator[StiPaServer]:
    server = StiPaServer(**kw)
    try:
        yield server
    finally:
        server.stop()
