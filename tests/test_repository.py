"""The certificate repository client end to end: a real HTTPS server on 127.0.0.1 (test TLS CA
by trustme), the real Verifier, counted requests. No mocked HTTP.

Rules: ATIS-1000074 v003 / ATIS-1000080 fetching rules (standards digest §6.4), RFC 8224 §6.2
step 3 (436 when the credential cannot be had), RFC 9111 caching.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from shakenkit import TrustStore, Verifier
from shakenkit.repository import FetchPolicy, HttpsSource
from shakenkit.testing import TestPKI, make_crl, make_crl_signer, make_pki
from tests.https_server import HttpsServer, running_https_server

ORIG, DEST = "12155551212", "12155551213"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


def _pki(srv: HttpsServer, path: str = "/sp.pem", **kw: object) -> TestPKI:
    pki = make_pki(x5u=srv.url(path), crl_url=None, **kw)  # type: ignore[arg-type]
    srv.route(path, body=pki.chain_pem)
    return pki


def _policy(srv: HttpsServer, **kw: object) -> FetchPolicy:
    base: dict[str, object] = dict(
        allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path,
        min_ttl=0.0, total_timeout=2.0, connect_timeout=1.0,
    )
    base.update(kw)
    return FetchPolicy(**base)  # type: ignore[arg-type]


class Clock:
    """An injectable clock for cache lifetimes."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def test_fetch_success_verifies_the_call_with_one_request(srv: HttpsServer) -> None:
    """x5u fetched over HTTPS (ATIS-1000074 v003) and the call verifies."""
    pki = _pki(srv)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv))
    now = int(time.time())
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    assert verdict.caller_id == "verified", verdict.error
    assert srv.count("/sp.pem") == 1
    stats = v.stats()["x5u"]
    assert stats["fetches"] == 1 and stats["misses"] == 1


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("http_404", {"status": 404, "body": b"nope"}),
        ("redirect_not_followed", {"status": 302, "headers": [("Location", "https://x.example/")]}),
        ("garbage_body", {"body": b"this is not a certificate"}),
        ("slow_server_past_timeout", {"delay": 3.0}),
    ],
)
def test_failed_fetch_gives_436_unverified_never_an_exception(
    srv: HttpsServer, name: str, route: dict[str, object]
) -> None:
    """RFC 8224 §6.2 step 3: a credential that cannot be had is 436, and not evidence of forgery
    (caller_id "unverified")."""
    pki = make_pki(x5u=srv.url("/bad.pem"), crl_url=None)
    srv.route("/bad.pem", **route)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv, total_timeout=1.0))
    now = int(time.time())
    t0 = time.monotonic()
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    assert time.monotonic() - t0 < 2.5
    assert verdict.error is not None and verdict.error.sip_code == 436, name
    assert verdict.caller_id == "unverified" and not verdict.likely_spoofed
    assert verdict.verstat == "TN-Validation-Failed"


def test_tls_failure_gives_436(srv: HttpsServer) -> None:
    """A repository whose TLS certificate is not trusted cannot be used (436)."""
    pki = _pki(srv)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv, tls_ca_file=None))
    now = int(time.time())
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    assert verdict.error is not None and verdict.error.sip_code == 436
    assert "tls" in v.stats()["x5u"]["failures_by_kind"]


def test_response_over_size_limit_is_436_and_memory_stays_bounded(srv: HttpsServer) -> None:
    """Maximum response size: reading stops past it (standards digest §6.3 item 1)."""
    import tracemalloc

    pki = make_pki(x5u=srv.url("/huge.pem"), crl_url=None)
    srv.huge("/huge.pem", size=30_000_000)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv))
    now = int(time.time())
    tracemalloc.start()
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert verdict.error is not None and verdict.error.sip_code == 436
    assert peak < 5_000_000


def test_max_age_honored_then_refetched_after_expiry(srv: HttpsServer) -> None:
    """RFC 9111: within max-age no request; after it one request."""
    pki = make_pki(x5u=srv.url("/ma.pem"), crl_url=None)
    srv.route("/ma.pem", body=pki.chain_pem, headers=[("Cache-Control", "max-age=300")])
    clock = Clock()
    v = Verifier(trust_anchors=[pki.root_pem], source=HttpsSource(_policy(srv), clock=clock))
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).passed
    clock.t += 200
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).passed
    assert srv.count("/ma.pem") == 1
    clock.t += 200
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).passed
    assert srv.count("/ma.pem") == 2


def test_negative_cache_spares_a_broken_repository(srv: HttpsServer) -> None:
    """Failures are cached briefly so a broken repository is not hammered (digest §6.4)."""
    pki = make_pki(x5u=srv.url("/down.pem"), crl_url=None)
    srv.route("/down.pem", status=503)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv, negative_ttl=60.0))
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    for _ in range(5):
        verdict = v.verify(h, orig=ORIG, dest=DEST, now=now)
        assert verdict.error is not None and verdict.error.sip_code == 436
    assert srv.count("/down.pem") == 1


def test_stale_if_error_serves_a_recently_expired_chain(srv: HttpsServer) -> None:
    """Optional stale-if-error: a refresh failure serves the expired entry."""
    pki = make_pki(x5u=srv.url("/se.pem"), crl_url=None)
    srv.route("/se.pem", body=pki.chain_pem, headers=[("Cache-Control", "max-age=10")])
    clock = Clock()
    source = HttpsSource(_policy(srv, stale_if_error=600.0), clock=clock)
    v = Verifier(trust_anchors=[pki.root_pem], source=source)
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).passed
    srv.route("/se.pem", status=500)
    clock.t += 60
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).passed
    assert srv.count("/se.pem") == 2
    assert v.stats()["x5u"]["stale_served"] == 1


def test_single_flight_200_concurrent_async_verifications_one_request(srv: HttpsServer) -> None:
    """Single flight: 200 concurrent asyncio verifications of an uncached x5u, one request."""
    pki = _pki(srv)
    srv.route("/sp.pem", body=pki.chain_pem, delay=0.3)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv))
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)

    async def run() -> list[bool]:
        verdicts = await asyncio.gather(
            *(v.averify(h, orig=ORIG, dest=DEST, now=now) for _ in range(200))
        )
        await v.aclose()
        return [x.passed for x in verdicts]

    assert all(asyncio.run(run()))
    assert srv.count("/sp.pem") == 1


def test_single_flight_16_threads_one_request(srv: HttpsServer) -> None:
    """Single flight: 16 threads verifying an uncached x5u cause one request."""
    pki = _pki(srv)
    srv.route("/sp.pem", body=pki.chain_pem, delay=0.3)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv))
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def work() -> None:
        barrier.wait()
        results.append(v.verify(h, orig=ORIG, dest=DEST, now=now).passed)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 16
    assert srv.count("/sp.pem") == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_ssrf_refusal_makes_no_request(srv: HttpsServer, host: str) -> None:
    """SSRF: a loopback x5u (literal or by name) is refused without any request (digest §10.22)."""
    pki = make_pki(x5u=srv.url("/sp.pem", host=host), crl_url=None)
    srv.route("/sp.pem", body=pki.chain_pem)
    policy = FetchPolicy(tls_ca_file=srv.ca_pem_path, insecure_allow_any_port=True)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=policy)
    now = int(time.time())
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    assert verdict.error is not None and verdict.error.sip_code == 436
    assert verdict.caller_id == "unverified"
    assert srv.count() == 0 and srv.connections == 0


def _crl_pki(srv: HttpsServer) -> TestPKI:
    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=srv.url("/sti-pa.crl"))
    srv.route("/sp.pem", body=pki.chain_pem)
    return pki


def test_revoked_certificate_fails_437(srv: HttpsServer) -> None:
    """A certificate on the STI-PA CRL named by its CRL distribution point fails with 437."""
    pki = _crl_pki(srv)
    serial = x509.load_der_x509_certificate(pki.leaf_der).serial_number
    srv.route("/sti-pa.crl", body=make_crl(pki.ca_key, pki.ca_der, [serial]))
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv, min_ttl=3600.0))
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    verdict = v.verify(h, orig=ORIG, dest=DEST, now=now)
    assert verdict.error is not None and verdict.error.sip_code == 437
    assert verdict.error.check == "crl" and verdict.likely_spoofed
    v.verify(h, orig=ORIG, dest=DEST, now=now)
    assert srv.count("/sti-pa.crl") == 1  # cached until nextUpdate


def test_crl_not_listing_the_certificate_passes_with_crl_check(srv: HttpsServer) -> None:
    """The STI-PA CRL, signed by the configured CRL signer, not listing the leaf or the STI-CA
    (both name it): the crl check passes."""
    pki = _crl_pki(srv)
    sti_pa = make_crl_signer()
    srv.route("/sti-pa.crl", body=sti_pa.crl([]))
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv), crl_signers=[sti_pa.pem])
    now = int(time.time())
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    assert verdict.caller_id == "verified"
    assert any(c.name == "crl" and c.ok for c in verdict.checks)


def test_crl_unreachable_soft_fail_by_default(srv: HttpsServer) -> None:
    """CRL unavailable, default policy: soft-fail, recorded as a failed check and a warning."""
    pki = _crl_pki(srv)
    srv.route("/sti-pa.crl", status=500)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv))
    now = int(time.time())
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    assert verdict.passed and verdict.caller_id == "verified"
    assert any(c.name == "crl" and not c.ok for c in verdict.checks)
    assert any("CRL unavailable" in w for w in verdict.warnings)


def test_crl_unreachable_hard_fail_by_option(srv: HttpsServer) -> None:
    """CRL unavailable with Policy(crl_hard_fail=True): 437, not evidence of forgery."""
    from shakenkit import Policy

    pki = _crl_pki(srv)
    srv.route("/sti-pa.crl", status=500)
    v = Verifier(trust_anchors=[pki.root_pem], fetch=_policy(srv),
                 policy=Policy(crl_hard_fail=True))
    now = int(time.time())
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)
    assert verdict.error is not None and verdict.error.sip_code == 437
    assert verdict.error.check == "crl" and verdict.caller_id == "unverified"


def test_persistent_cache_survives_a_new_verifier(srv: HttpsServer, tmp_path: Path) -> None:
    """A restarted process starts warm from the cache directory (no request)."""
    pki = _pki(srv)
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    policy = _policy(srv, cache_dir=str(tmp_path), min_ttl=3600.0)
    assert Verifier(trust_anchors=[pki.root_pem], fetch=policy).verify(
        h, orig=ORIG, dest=DEST, now=now).passed
    assert srv.count("/sp.pem") == 1
    again = Verifier(trust_anchors=[pki.root_pem], fetch=policy)
    assert again.verify(h, orig=ORIG, dest=DEST, now=now).passed
    assert srv.count("/sp.pem") == 1


def test_trust_store_reload_swaps_anchors_at_run_time(srv: HttpsServer) -> None:
    """TrustStore.reload: a root added at run time is trusted by the next verification."""
    pki = _pki(srv)
    other = make_pki()
    store = TrustStore([other.root_pem])
    v = Verifier(trust_anchors=store, fetch=_policy(srv))
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    first = v.verify(h, orig=ORIG, dest=DEST, now=now)
    assert first.error is not None and first.error.sip_code == 437
    store.reload([other.root_pem, pki.root_pem])
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).passed


def test_trust_store_loads_a_directory(tmp_path: Path) -> None:
    """TrustStore.from_directory reads every PEM file in a directory."""
    a, b = make_pki(), make_pki()
    (tmp_path / "a.pem").write_bytes(a.root_pem)
    (tmp_path / "b.crt").write_bytes(b.root_pem)
    (tmp_path / "README").write_text("not a certificate")
    assert len(TrustStore.from_directory(tmp_path)) == 2


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "shakenkit.cli", *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def test_cli_verify_fetches_live_with_lab_options(srv: HttpsServer, tmp_path: Path) -> None:
    """`shakenkit verify --tls-ca --allow-host --min-ttl --cache-dir` fetches over HTTPS; a
    second process with the same cache directory makes no request."""
    pki = _pki(srv)
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_pem)
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    args = ["verify", "--json", "--trust", str(root), "--tls-ca", srv.ca_pem_path,
            "--allow-host", srv.host_port, "--min-ttl", "3600", "--timeout", "3",
            "--cache-dir", str(tmp_path / "cache"), "--orig", ORIG, "--dest", DEST, h, h]
    p = _cli(*args)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert [x["caller_id"] for x in lines] == ["verified", "verified"]
    assert srv.count("/sp.pem") == 1
    assert _cli(*args).returncode == 0
    assert srv.count("/sp.pem") == 1


def test_cli_verify_refuses_loopback_without_allow_host(srv: HttpsServer, tmp_path: Path) -> None:
    """Without --allow-host the CLI refuses a loopback x5u: 436, exit 1, no request."""
    pki = _pki(srv)
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_pem)
    now = int(time.time())
    p = _cli("verify", "--json", "--trust", str(root), "--tls-ca", srv.ca_pem_path,
             pki.sign(orig=ORIG, dest=DEST, iat=now))
    assert p.returncode == 1
    assert json.loads(p.stdout)["error"]["sip_code"] == 436
    assert srv.count() == 0
