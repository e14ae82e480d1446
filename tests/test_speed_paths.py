"""The fast paths of issue 20, each held to the rule it must not bend.

* A URL the fetch policy refuses is remembered like a failed fetch (``negative_ttl``, the
  negative cache's byte budget), answered with the same error, and checked again after.
* A path's CRL outcome is reused only while the source answers with the very same object: a
  CRL that comes back (and revokes) after ``negative_ttl`` is seen at once, sync and async.
* ``shakenkit serve`` answers a warm verification without a task (``ServiceApp.answer`` gives
  the Reply itself) and a cold one through a coroutine; both give what ``verify`` gives.

Real parts: a test PKI, an HTTPS server on 127.0.0.1, the real Verifier and sources.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from shakenkit import Verdict, Verifier
from shakenkit.repository import CacheLimits, Fetcher, FetchError, FetchPolicy, HttpsSource
from shakenkit.service.app import Reply, Request, ServiceApp
from shakenkit.testing import TestPKI, make_crl_signer, make_pki
from tests.https_server import HttpsServer, running_https_server

ORIG, DEST = "12155551212", "12155551213"


class Clock:
    """Cache-age clock the test moves (timeouts still use the real monotonic clock)."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


def _refusal(fetcher: Fetcher[bytes], url: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.get(url)
    return info.value


# ---- refused URLs ------------------------------------------------------------------------------


def test_refused_url_is_remembered_with_the_same_error_then_checked_again() -> None:
    """The first refusal runs the URL checks; a repeat within negative_ttl is answered from the
    negative cache with the same kind and sentence (nothing downstream can tell), and after
    negative_ttl the URL is checked again."""
    clock = Clock()
    fetcher: Fetcher[bytes] = Fetcher(bytes, policy=FetchPolicy(negative_ttl=30.0), clock=clock)
    url = "http://crl.example.com/sti-pa.crl"
    first = _refusal(fetcher, url)
    assert first.kind == "policy" and "scheme 'http' is not allowed" in str(first)
    again = _refusal(fetcher, url)
    assert (again.kind, str(again)) == (first.kind, str(first))
    stats = fetcher.stats()
    assert stats["negative_hits"] == 1 and stats["failures_by_kind"] == {"policy": 1}
    clock.t += 31
    assert str(_refusal(fetcher, url)) == str(first)
    assert fetcher.stats()["failures_by_kind"] == {"policy": 2}
    fetcher.close()


def test_many_refused_urls_stay_within_the_negative_budget() -> None:
    """Attack (many): distinct URLs the policy refuses (a sender's x5u values) are remembered
    within the negative cache's byte and entry budget, not beyond."""
    limits = CacheLimits(negative_entries=100, negative_bytes=64 * 1024)
    fetcher: Fetcher[bytes] = Fetcher(bytes, policy=FetchPolicy(cache_limits=limits))
    for i in range(5_000):
        _refusal(fetcher, f"http://attacker{i}.example/{'x' * 200}.pem")
    stats = fetcher.stats()
    assert 0 < stats["negative_entries"] <= 100  # type: ignore[operator]
    assert stats["negative_bytes"] <= 64 * 1024  # type: ignore[operator]
    fetcher.close()


def test_policy_refused_crl_gives_the_same_verdict_on_every_call() -> None:
    """A certificate whose CRL URL the default policy refuses (loopback, a port other than 443):
    soft-fail passes with a failed ``crl`` check; later calls, answered from the remembered
    refusal, say exactly the same."""
    pki = make_pki(crl_url="https://127.0.0.1:9/crl/sti-pa.crl")
    v = Verifier(trust_anchors=[pki.root_pem], source=_layered(pki))
    header = pki.sign(orig=ORIG, dest=DEST)
    verdicts = [v.verify(header, orig=ORIG, dest=DEST) for _ in range(3)]
    first = verdicts[0]
    assert first.passed and any(c.name == "crl" and not c.ok for c in first.checks)
    assert "port 9 is not allowed" in next(c.detail for c in first.checks if c.name == "crl")
    assert all(x.model_dump() == first.model_dump() for x in verdicts[1:])
    crl = v.stats()["crl"]
    assert crl["failures_by_kind"] == {"policy": 1} and crl["negative_hits"] >= 2
    v.close()


def _layered(pki: TestPKI) -> object:
    from shakenkit.repository import LayeredSource

    return LayeredSource(pki.certificates(), HttpsSource(FetchPolicy()))


# ---- the CRL outcome memo ----------------------------------------------------------------------


def _revoking_setup(srv: HttpsServer) -> tuple[TestPKI, object, str, Clock, HttpsSource]:
    sti_pa = make_crl_signer()
    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=srv.url("/sti-pa.crl"))
    srv.route("/sp.pem", body=pki.chain_pem)
    srv.route("/sti-pa.crl", status=503)  # the CRL host is down at first
    clock = Clock()
    source = HttpsSource(
        FetchPolicy(
            allow_hosts=frozenset({srv.host_port}),
            tls_ca_file=srv.ca_pem_path,
            negative_ttl=30.0,
            total_timeout=2.0,
        ),
        clock=clock,
    )
    return pki, sti_pa, pki.sign(orig=ORIG, dest=DEST), clock, source


def _revoked(v: Verdict) -> bool:
    return v.error is not None and (v.error.sip_code, v.error.check) == (437, "crl")


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_crl_back_and_revoking_is_not_hidden_by_the_remembered_outcome(
    srv: HttpsServer, driver: str
) -> None:
    """Attack (stale): the CRL host is down while the outcome "CRL unavailable" is built and
    remembered; it comes back with a CRL revoking the certificate. Past negative_ttl the next
    call must see the revocation (the remembered outcome belongs to the old answer only)."""
    pki, sti_pa, header, clock, source = _revoking_setup(srv)
    v = Verifier(trust_anchors=[pki.root_pem], source=source, crl_signers=[sti_pa.pem])  # type: ignore[attr-defined]

    def verify() -> Verdict:
        if driver == "sync":
            return v.verify(header, orig=ORIG, dest=DEST)
        return asyncio.run(v.averify(header, orig=ORIG, dest=DEST))

    for _ in range(3):  # down: soft-fail passes, the outcome is remembered
        down = verify()
        assert down.passed and any(c.name == "crl" and not c.ok for c in down.checks)
    srv.route("/sti-pa.crl", body=sti_pa.crl([pki.leaf_der]))  # type: ignore[attr-defined]
    clock.t += 10  # within negative_ttl: still the remembered failure, no request
    assert verify().passed and srv.count("/sti-pa.crl") == 1
    clock.t += 25  # past negative_ttl: fetched, and it revokes
    later = verify()
    assert _revoked(later), (later.verstat, later.checks)
    assert _revoked(verify())  # and stays so (the CRL is cached)
    v.close()


# ---- the service's answer without a task --------------------------------------------------------


def _request(pki: TestPKI, header: str) -> Request:
    body = {"verificationRequest": {"from": {"tn": ORIG}, "to": {"tn": [DEST]}, "identity": header}}
    return Request(
        "POST",
        "/stir/v1/verification",
        b"",
        [(b"content-type", b"application/json")],
        json.dumps(body).encode(),
        "127.0.0.1",
    )


async def test_warm_verification_is_answered_at_once_and_a_cold_one_waits(
    srv: HttpsServer,
) -> None:
    """``ServiceApp.answer`` gives the Reply itself when the certificate is at hand, and a
    coroutine (the fetch to wait for) when it is not; both answers say what ``verify`` says."""
    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=None)
    srv.route("/sp.pem", body=pki.chain_pem)
    policy = FetchPolicy(allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path)
    app = ServiceApp(lambda: Verifier(trust_anchors=[pki.root_pem], fetch=policy))
    header = pki.sign(orig=ORIG, dest=DEST)
    cold = app.answer(_request(pki, header))
    assert not isinstance(cold, Reply)  # the certificate must be fetched: a coroutine
    cold_reply = await cold
    warm = app.answer(_request(pki, header))
    assert isinstance(warm, Reply)  # fetched and cached: answered without waiting
    expected = {"verificationResponse": {"verstat": "TN-Validation-Passed"}}
    assert json.loads(cold_reply.body) == json.loads(warm.body) == expected
    forged = pki.sign(orig=ORIG, dest="12155550000")  # numbers that do not match
    wrong = app.answer(_request(pki, forged))
    assert isinstance(wrong, Reply)
    direct = app.verifier.verify(forged, orig=ORIG, dest=DEST)
    got = json.loads(wrong.body)["verificationResponse"]
    assert direct.error is not None
    assert (got["verstat"], got["reasoncode"]) == (direct.verstat, direct.error.sip_code)
    await app.verifier.aclose()
