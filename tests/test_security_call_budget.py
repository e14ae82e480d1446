"""Bounded work per call (issue 16 item 3; docs/security.md "Bounded work per call").

Everything in an INVITE comes from whoever sent the call. Each test is the attack: many
Identity headers, many distinct x5u, slow repositories, a source that never answers, rcd
content named by a PASSporT whose signature does not verify. The repository is a real HTTPS
server on 127.0.0.1 that counts what reaches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shakenkit import Policy, Verifier
from shakenkit.certs import CertChain
from shakenkit.core.requests import FetchChain, FetchCrl, FetchRcd, RefreshChain
from shakenkit.repository import FetchPolicy, HttpsSource, LayeredSource
from shakenkit.testing import TestPKI, make_pki, rcd_claims, sign_identity
from tests.https_server import HttpsServer, running_https_server

ORIG, DEST = "12155551212", "12155551213"


@pytest.fixture
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


def _fetch(srv: HttpsServer, **kw: Any) -> FetchPolicy:
    base: dict[str, Any] = dict(
        allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path,
        total_timeout=2.0, connect_timeout=1.0,
    )
    base.update(kw)
    return FetchPolicy(**base)


def _headers(pki: TestPKI, srv: HttpsServer, n: int, now: int) -> list[str]:
    """``n`` Identity headers, each naming its own x5u on the server (none of them exists)."""
    return [
        pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=srv.url(f"/sp/{i}.pem")) for i in range(n)
    ]


def test_300_identity_headers_fetch_at_most_max_x5u_per_call(srv: HttpsServer) -> None:
    """One call with 300 headers naming 300 x5u: at most Policy.max_x5u_per_call fetches,
    the headers past Policy.max_identity_headers never parsed or fetched, and reported."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    v = Verifier(trust_anchors=[pki.root_pem], source=HttpsSource(_fetch(srv)))
    verdict = v.verify(_headers(pki, srv, 300, now), orig=ORIG, dest=DEST, now=now)
    v.close()
    assert srv.count() <= Policy().max_x5u_per_call == 8
    assert verdict.verstat == "TN-Validation-Failed" and not verdict.likely_spoofed
    dropped = [c for c in verdict.checks if c.name == "identity_headers"]
    assert len(dropped) == 1 and not dropped[0].ok
    assert "284 Identity header(s) beyond the first 16" in dropped[0].detail
    assert any("not examined" in w for w in verdict.warnings)


async def test_300_identity_headers_fetch_at_most_max_x5u_per_call_async(
    srv: HttpsServer,
) -> None:
    """The async twin keeps the same budget."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    v = Verifier(trust_anchors=[pki.root_pem], source=HttpsSource(_fetch(srv)),
                 policy=Policy(max_x5u_per_call=3))
    verdict = await v.averify(_headers(pki, srv, 300, now), orig=ORIG, dest=DEST, now=now)
    await v.aclose()
    assert srv.count() == 3
    limited = [c for c in verdict.checks if c.name == "identity_headers"]
    assert limited and "beyond the first 16" in limited[0].detail


def test_valid_header_after_limit_is_not_examined(srv: HttpsServer) -> None:
    """Headers beyond the limit are never verified, even a good one: the attacker cannot make
    the verifier work through them, and the verdict says they were skipped."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    good = pki.sign(orig=ORIG, dest=DEST, iat=now)
    junk = ["garbage;info=<https://x.example/a.pem>"] * 4
    v = pki.verifier(policy=Policy(max_identity_headers=4))
    assert v.verify([*junk, good], orig=ORIG, dest=DEST, now=now).verstat == (
        "TN-Validation-Failed"
    )
    assert v.verify([good, *junk], orig=ORIG, dest=DEST, now=now).verstat == (
        "TN-Validation-Passed"
    )


def test_slow_repositories_share_one_call_deadline(srv: HttpsServer) -> None:
    """Four x5u on a repository that answers after 3 s: without a call deadline each fetch
    waits its own total_timeout (4 x 2 s); with Policy.call_deadline=1 the first fetch is cut
    at 1 s and the others are never started."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    headers = []
    for i in range(4):
        headers.append(pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=srv.url(f"/slow/{i}.pem")))
        srv.route(f"/slow/{i}.pem", body=pki.chain_pem, delay=3.0)
    v = Verifier(trust_anchors=[pki.root_pem], source=HttpsSource(_fetch(srv)),
                 policy=Policy(call_deadline=1.0))
    t0 = time.monotonic()
    verdict = v.verify(headers, orig=ORIG, dest=DEST, now=now)
    elapsed = time.monotonic() - t0
    v.close()
    assert srv.count() == 1  # the first fetch only; the deadline refused the rest
    assert verdict.error is not None and verdict.error.check == "x5u_fetch"
    assert elapsed < 4 * 2.0  # a hang guard, not a speed claim: four fetches would take 8 s


class _NeverAnswers:
    """A user's own ChainSource whose repository never answers (no timeout of its own)."""

    def __init__(self) -> None:
        self.asked = 0

    def get(self, url: str) -> CertChain:
        raise AssertionError("sync path not used here")

    async def aget(self, url: str) -> CertChain:
        self.asked += 1
        await anyio.sleep(3600)
        raise AssertionError("unreachable")


async def test_source_that_never_answers_is_cut_at_call_deadline() -> None:
    """averify with a custom source that hangs: the verdict comes at the call deadline, 436
    'unverified' (an unreachable repository is no evidence of forgery)."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    src = _NeverAnswers()
    v = Verifier(trust_anchors=[pki.root_pem], source=src, policy=Policy(call_deadline=0.5))
    verdict = await asyncio.wait_for(
        v.averify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now), 30
    )
    assert src.asked == 1
    assert verdict.error is not None and verdict.error.sip_code == 436
    assert "deadline" in verdict.error.detail and verdict.caller_id == "unverified"


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_rcd_content_not_fetched_for_forged_signature(srv: HttpsServer, mode: str) -> None:
    """A PASSporT whose signature does not verify names rcd content on a host the sender
    chose: with Policy.fetch_rcd the verifier still never connects there."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    icn = srv.route("/logo.png", body=b"\x89PNG fake")
    extra = rcd_claims(nam="Bank", icn=icn, content={icn: b"\x89PNG fake"})
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = sign_identity(forger, x5u=pki.x5u, orig=ORIG, dest=DEST, iat=now,
                           extra_claims=extra)
    genuine = pki.sign(orig=ORIG, dest=DEST, iat=now, extra_claims=extra)
    v = Verifier(trust_anchors=[pki.root_pem],
                 source=LayeredSource(pki.certificates(), HttpsSource(_fetch(srv))),
                 policy=Policy(fetch_rcd=True))
    if mode == "sync":
        bad = v.verify(forged, orig=ORIG, dest=DEST, now=now)
    else:
        bad = await v.averify(forged, orig=ORIG, dest=DEST, now=now)
    assert bad.error is not None and bad.error.check == "signature"
    assert srv.count("/logo.png") == 0
    good = v.verify(genuine, orig=ORIG, dest=DEST, now=now)  # the control: it does fetch
    assert good.rcd is not None and good.rcd.integrity == "verified"
    assert srv.count("/logo.png") == 1
    v.close()


def test_verify_sip_with_100_headers_is_bounded(srv: HttpsServer) -> None:
    """A raw INVITE with 100 Identity headers (the 90 KB request to `serve`): at most
    max_identity_headers headers verified and at most max_x5u_per_call fetches for the call."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    lines = [f"Identity: {h}" for h in _headers(pki, srv, 100, now)]  # under the 64 KB cap
    msg = (
        "INVITE sip:+12155551213@example.com SIP/2.0\r\n"
        "From: <sip:+12155551212@example.com>;tag=1\r\nTo: <sip:+12155551213@example.com>\r\n"
        "Call-ID: x\r\nCSeq: 1 INVITE\r\n" + "\r\n".join(lines) + "\r\n\r\n"
    )
    with Verifier(trust_anchors=[pki.root_pem], source=HttpsSource(_fetch(srv))) as v:
        verdict = v.verify_sip(msg, now=now)
    assert srv.count() <= Policy().max_x5u_per_call
    assert len(verdict.headers) == Policy().max_identity_headers
    assert any("not examined" in w for w in verdict.warnings)


def test_typed_requests_refuse_bad_urls() -> None:
    """The sans-IO requests validate their URL on construction."""
    for cls in (FetchChain, RefreshChain, FetchCrl, FetchRcd):
        assert cls("https://a.example/x").url == "https://a.example/x"
        with pytest.raises(ValueError, match="non-empty"):
            cls("")
        with pytest.raises(ValueError):
            cls(None)  # type: ignore[arg-type]
