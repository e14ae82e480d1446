"""Faults on the certificate path, end to end: a real HTTPS repository on 127.0.0.1
(tests/https_server.py) that is down, slow, resets, answers garbage, serves another key, or
rotates its certificate; the real Verifier with HttpsSource; no mocked HTTP.

Rules: RFC 8224 §6.2 step 3 (436 when the credential cannot be had; not evidence of forgery,
docs/verdicts.md), standards digest §6.4 (short timeouts, negative caching, 24 h floor),
docs/fetching.md (total_timeout is wall-clock, single flight per URL, negative_ttl).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shakenkit import Verdict, Verifier
from shakenkit.repository import FetchPolicy, HttpsSource
from shakenkit.testing import TestPKI, issue_certificate, make_pki, sign_identity
from tests.https_server import HttpsServer, running_https_server

ORIG, DEST = "12155551212", "12155551213"


@pytest.fixture
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


class Clock:
    """Cache-age clock the test moves (timeouts still use the real monotonic clock)."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def _policy(*hosts: str, ca: str, **kw: Any) -> FetchPolicy:
    base: dict[str, Any] = dict(
        allow_hosts=frozenset(hosts), tls_ca_file=ca, min_ttl=3600.0, negative_ttl=30.0,
        total_timeout=1.0, connect_timeout=0.5,
    )
    base.update(kw)
    return FetchPolicy(**base)


def _pki(srv: HttpsServer, path: str) -> TestPKI:
    pki = make_pki(x5u=srv.url(path), crl_url=None)
    srv.route(path, body=pki.chain_pem)
    return pki


def _second_leaf(pki: TestPKI, spc: str = "123A") -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """Another SP certificate (new key) under the same trusted STI-CA: chain PEM and key."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.load_der_x509_certificate(pki.ca_der).subject
    der = issue_certificate(
        subject=x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"SHAKEN {spc}")]),
        key=key, issuer=ca_name, issuer_key=pki.ca_key, spc=spc, crl_url=None,
    )
    leaf = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    return leaf + pki.ca_pem, key


def _verify(v: Verifier, header: str) -> tuple[Verdict, float]:
    now = int(time.time())
    t0 = time.monotonic()
    verdict = v.verify(header, orig=ORIG, dest=DEST, now=now)
    return verdict, time.monotonic() - t0


def _sign(pki: TestPKI, key: ec.EllipticCurvePrivateKey | None = None) -> str:
    return sign_identity(key or pki.leaf_key, x5u=pki.x5u, orig=ORIG, dest=DEST,
                         iat=int(time.time()))


def _is_436(v: Verdict) -> bool:
    return (
        v.error is not None and v.error.sip_code == 436 and v.error.check == "x5u_fetch"
        and v.caller_id == "unverified" and not v.likely_spoofed
    )


class Switchable:
    """A TCP front door for the HTTPS server on a fixed port that can be taken down (the port
    then refuses connections) and brought back: a repository that is down, then recovers."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        probe = socket.create_server(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def up(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


# -- the repository is down --------------------------------------------------------------------


def test_repository_down_is_436_fast_and_negatively_cached(srv: HttpsServer) -> None:
    """Connection refused: 436 'unverified' within the timeout, then the negative cache answers
    without touching the network until negative_ttl passes."""
    door = Switchable(srv.port)  # never brought up: the port refuses connections
    pki = make_pki(x5u=door.url("/sp.pem"), crl_url=None)
    srv.route("/sp.pem", body=pki.chain_pem)
    clock = Clock()
    source = HttpsSource(_policy(door.host_port, ca=srv.ca_pem_path), clock=clock)
    v = Verifier(trust_anchors=[pki.root_pem], source=source)
    h = _sign(pki)
    first, elapsed = _verify(v, h)
    assert _is_436(first), first.error
    assert elapsed < 1.5
    for _ in range(20):
        again, elapsed = _verify(v, h)
        assert _is_436(again) and elapsed < 0.1
    stats = v.stats()["x5u"]
    assert stats["fetches"] == 1 and stats["negative_hits"] == 20
    assert "connect" in stats["failures_by_kind"]
    assert srv.count() == 0


def test_repository_recovers_after_negative_ttl(srv: HttpsServer) -> None:
    """Down (connection refused), then up again: calls keep getting 436 from the negative cache
    until negative_ttl has passed, then the chain is fetched and the call verifies."""
    door = Switchable(srv.port)
    pki = make_pki(x5u=door.url("/sp.pem"), crl_url=None)
    srv.route("/sp.pem", body=pki.chain_pem)
    clock = Clock()
    source = HttpsSource(_policy(door.host_port, ca=srv.ca_pem_path, negative_ttl=30.0),
                         clock=clock)
    v = Verifier(trust_anchors=[pki.root_pem], source=source)
    h = _sign(pki)
    assert _is_436(_verify(v, h)[0])
    door.up()
    try:
        clock.t += 10  # still inside negative_ttl: not retried
        assert _is_436(_verify(v, h)[0])
        assert srv.count("/sp.pem") == 0
        clock.t += 25  # past negative_ttl
        verdict, _ = _verify(v, h)
        assert verdict.caller_id == "verified", verdict.error
        assert srv.count("/sp.pem") == 1
    finally:
        door.down()
    # Down again, but the chain is cached (min_ttl 3600 s): verdicts keep coming.
    clock.t += 60
    verdict, elapsed = _verify(v, h)
    assert verdict.caller_id == "verified" and elapsed < 0.1


def test_repository_503_then_fixed(srv: HttpsServer) -> None:
    """An HTTP 503 answer, fixed later: recovered after negative_ttl."""
    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=None)
    srv.route("/sp.pem", status=503, body=b"maintenance")
    clock = Clock()
    v = Verifier(trust_anchors=[pki.root_pem],
                 source=HttpsSource(_policy(srv.host_port, ca=srv.ca_pem_path), clock=clock))
    h = _sign(pki)
    assert _is_436(_verify(v, h)[0])
    srv.route("/sp.pem", body=pki.chain_pem)
    assert _is_436(_verify(v, h)[0])  # negative cache
    assert srv.count("/sp.pem") == 1
    clock.t += 31
    assert _verify(v, h)[0].passed
    assert srv.count("/sp.pem") == 2


# -- slow, resetting, garbage -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "route", "kind"),
    [
        ("slowloris_body", {"trickle_interval": 0.05}, "timeout"),
        ("slowloris_head", {"trickle_interval": 0.05, "trickle_head": True}, "timeout"),
        ("silent_before_answering", {"delay": 5.0}, "timeout"),
        ("reset_mid_body", {"reset_after": 200}, None),
        ("garbage_body", {"body": b"<html>502 Bad Gateway</html>"}, "parse"),
        ("truncated_chain", {"body": b"-----BEGIN CERTIFICATE-----\nMIIB"}, "parse"),
        ("empty_body", {"body": b""}, "parse"),
        ("huge_body", {"stream_size": 50_000_000, "content_length": False}, "too_large"),
    ],
)
def test_broken_repository_is_436_within_the_deadline(
    srv: HttpsServer, name: str, route: dict[str, Any], kind: str | None
) -> None:
    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=None)
    route = dict(route)
    if "body" not in route and "stream_size" not in route:
        route["body"] = pki.chain_pem
    srv.route("/sp.pem", **route)
    v = Verifier(trust_anchors=[pki.root_pem],
                 fetch=_policy(srv.host_port, ca=srv.ca_pem_path, total_timeout=1.0))
    verdict, elapsed = _verify(v, _sign(pki))
    assert _is_436(verdict), (name, verdict.error)
    assert elapsed < 2.0, f"{name}: {elapsed:.2f} s for a 1 s total_timeout"
    kinds = v.stats()["x5u"]["failures_by_kind"]
    if kind is not None:
        assert kind in kinds, (name, kinds)


def test_repository_serves_a_different_certificate(srv: HttpsServer) -> None:
    """A valid, trusted chain for another key: the credential is fine, the signature is not
    (438, likely_spoofed)."""
    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=None)
    other_chain, _ = _second_leaf(pki, spc="999Z")
    srv.route("/sp.pem", body=other_chain)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv.host_port, ca=srv.ca_pem_path))
    verdict, _ = _verify(v, _sign(pki))
    assert verdict.error is not None
    assert (verdict.error.sip_code, verdict.error.check) == (438, "signature")
    assert verdict.likely_spoofed and verdict.signer is not None
    assert verdict.signer.spc == "999Z"


def test_repository_serves_a_chain_from_an_untrusted_root(srv: HttpsServer) -> None:
    """The repository was compromised and serves a look-alike hierarchy: 437."""
    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=None)
    rogue = make_pki(x5u=srv.url("/sp.pem"), crl_url=None)  # same names, other keys
    srv.route("/sp.pem", body=rogue.chain_pem)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv.host_port, ca=srv.ca_pem_path))
    verdict, _ = _verify(v, _sign(rogue))
    assert verdict.error is not None
    assert (verdict.error.sip_code, verdict.error.check) == (437, "certificate_chain")


# -- certificate rotation ----------------------------------------------------------------------


def test_certificate_rotation_under_a_reused_url_is_followed_by_key(srv: HttpsServer) -> None:
    """The URL serves chain 1, then chain 2 with a new key (corpus README: x5u URLs are reused).
    A call that the cached certificate's key does not verify makes the verifier fetch the URL
    again — at most once per key_refresh_after — and match the PASSporT to the new key."""
    pki = _pki(srv, "/rot.pem")
    chain2, key2 = _second_leaf(pki)
    clock = Clock()
    v = Verifier(trust_anchors=[pki.root_pem],
                 source=HttpsSource(_policy(srv.host_port, ca=srv.ca_pem_path, min_ttl=3600.0),
                                    key_refresh_after=60.0, clock=clock))
    h1, h2 = _sign(pki), _sign(pki, key2)
    assert _verify(v, h1)[0].caller_id == "verified"
    srv.route("/rot.pem", body=chain2)
    clock.t += 30  # cached chain is 30 s old: too young to fetch again
    early, _ = _verify(v, h2)
    assert early.error is not None and early.error.check == "signature"
    assert srv.count("/rot.pem") == 1
    clock.t += 31  # 61 s: a key mismatch now refreshes the URL once
    rotated, _ = _verify(v, h2)
    assert rotated.caller_id == "verified", rotated.error
    assert srv.count("/rot.pem") == 2
    old, _ = _verify(v, h1)  # the old key no longer verifies; the new chain is too young
    assert old.error is not None and old.error.check == "signature"
    assert srv.count("/rot.pem") == 2


def test_certificate_rotation_is_followed_by_averify_too(srv: HttpsServer) -> None:
    """The async verifier follows a rotated certificate the same way (one shared core)."""
    pki = _pki(srv, "/rot.pem")
    chain2, key2 = _second_leaf(pki)
    clock = Clock()
    v = Verifier(trust_anchors=[pki.root_pem],
                 source=HttpsSource(_policy(srv.host_port, ca=srv.ca_pem_path, min_ttl=3600.0),
                                    key_refresh_after=60.0, clock=clock))
    now = int(time.time())

    async def run() -> tuple[Verdict, Verdict]:
        first = await v.averify(_sign(pki), orig=ORIG, dest=DEST, now=now)
        srv.route("/rot.pem", body=chain2)
        clock.t += 61
        second = await v.averify(_sign(pki, key2), orig=ORIG, dest=DEST, now=now)
        await v.aclose()
        return first, second

    first, second = asyncio.run(run())
    assert first.caller_id == "verified" and second.caller_id == "verified", second.error
    assert srv.count("/rot.pem") == 2


def test_forged_calls_cannot_make_the_verifier_hammer_a_repository(srv: HttpsServer) -> None:
    """Calls signed by a key the repository never served: each fails 438, and together they
    cause at most one refresh per key_refresh_after."""
    pki = _pki(srv, "/rot.pem")
    _, other_key = _second_leaf(pki)
    clock = Clock()
    v = Verifier(trust_anchors=[pki.root_pem],
                 source=HttpsSource(_policy(srv.host_port, ca=srv.ca_pem_path, min_ttl=3600.0),
                                    key_refresh_after=60.0, clock=clock))
    assert _verify(v, _sign(pki))[0].passed
    clock.t += 120
    for _ in range(20):
        forged, _ = _verify(v, _sign(pki, other_key))
        assert forged.error is not None and forged.error.check == "signature"
        assert forged.likely_spoofed
    assert srv.count("/rot.pem") == 2  # the first fetch and one refresh


def test_max_age_shorter_than_floor_is_raised_to_the_floor(srv: HttpsServer) -> None:
    """Cache-Control max-age below min_ttl is raised to the floor (digest §6.4): calls within
    the floor make no request; after it, one."""
    pki = make_pki(x5u=srv.url("/rot.pem"), crl_url=None)
    srv.route("/rot.pem", body=pki.chain_pem, headers=[("Cache-Control", "max-age=60")])
    clock = Clock()
    v = Verifier(trust_anchors=[pki.root_pem],
                 source=HttpsSource(_policy(srv.host_port, ca=srv.ca_pem_path, min_ttl=600.0),
                                    clock=clock))
    assert _verify(v, _sign(pki))[0].passed
    clock.t += 120
    assert _verify(v, _sign(pki))[0].passed
    assert srv.count("/rot.pem") == 1
    clock.t += 500
    assert _verify(v, _sign(pki))[0].passed
    assert srv.count("/rot.pem") == 2


# -- other calls keep being served ---------------------------------------------------------------


def test_slow_repository_does_not_hold_up_other_calls(srv: HttpsServer) -> None:
    """While one x5u trickles in (a thread stuck in its fetch), calls for another, cached x5u
    and for a third, uncached but healthy x5u complete quickly, before the slow one ends."""
    slow = make_pki(x5u=srv.url("/slow.pem"), crl_url=None)
    srv.route("/slow.pem", body=slow.chain_pem, trickle_interval=0.05)
    fast = _pki(srv, "/fast.pem")
    fresh = _pki(srv, "/fresh.pem")
    v = Verifier(
        trust_anchors=[slow.root_pem, fast.root_pem, fresh.root_pem],
        fetch=_policy(srv.host_port, ca=srv.ca_pem_path, total_timeout=2.5),
    )
    assert _verify(v, _sign(fast))[0].passed  # cache /fast.pem
    slow_done: list[float] = []
    slow_verdict: list[Verdict] = []

    def slow_call() -> None:
        slow_verdict.append(_verify(v, _sign(slow))[0])
        slow_done.append(time.monotonic())

    t = threading.Thread(target=slow_call)
    t.start()
    deadline = time.monotonic() + 2.0
    while srv.count("/slow.pem") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.count("/slow.pem") == 1
    others: list[tuple[bool, float]] = []
    for _ in range(25):
        verdict, elapsed = _verify(v, _sign(fast))
        others.append((verdict.passed, elapsed))
    fresh_verdict, fresh_elapsed = _verify(v, _sign(fresh))
    others_done = time.monotonic()
    t.join(timeout=10)
    assert not t.is_alive()
    assert all(ok for ok, _ in others)
    assert max(e for _, e in others) < 0.25
    assert fresh_verdict.passed and fresh_elapsed < 1.0
    assert slow_done and others_done < slow_done[0]
    assert _is_436(slow_verdict[0])
    assert "timeout" in v.stats()["x5u"]["failures_by_kind"]


def test_slow_repository_does_not_hold_up_other_async_calls(srv: HttpsServer) -> None:
    """The same with asyncio: a slow averify and many fast ones on one event loop."""
    slow = make_pki(x5u=srv.url("/slow.pem"), crl_url=None)
    srv.route("/slow.pem", body=slow.chain_pem, trickle_interval=0.05)
    fast = _pki(srv, "/fast.pem")
    v = Verifier(trust_anchors=[slow.root_pem, fast.root_pem],
                 fetch=_policy(srv.host_port, ca=srv.ca_pem_path, total_timeout=2.0))
    now = int(time.time())
    finished: dict[str, float] = {}

    async def call(name: str, header: str) -> Verdict:
        verdict = await v.averify(header, orig=ORIG, dest=DEST, now=now)
        finished[name] = time.monotonic()
        return verdict

    async def run() -> list[Verdict]:
        await call("warm", _sign(fast))
        slow_task = asyncio.create_task(call("slow", _sign(slow)))
        await asyncio.sleep(0.2)
        fast_results = await asyncio.gather(*(call(f"fast{i}", _sign(fast)) for i in range(20)))
        out = [await slow_task, *fast_results]
        await v.aclose()
        return out

    slow_v, *fast_vs = asyncio.run(run())
    assert _is_436(slow_v)
    assert all(x.passed for x in fast_vs)
    assert max(t for k, t in finished.items() if k.startswith("fast")) < finished["slow"]
