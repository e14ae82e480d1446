"""Review 3: attacks on the late changes (an unreachable CRL answered from the cache, the
memoised soft-fail outcome, the call deadline set only around source requests).

Each test is the attack, against a real HTTPS server on 127.0.0.1 and a real test PKI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from shakenkit import Policy, Verdict, Verifier
from shakenkit.repository import FetchPolicy, HttpsSource
from shakenkit.testing import TestPKI, make_crl_signer, make_pki
from tests.https_server import HttpsServer, running_https_server

ORIG, DEST = "12155551212", "12155551213"
LEAF_CN = "SHAKEN 123A"

# The CRL host answers in 1 s (well inside its own 5 s total_timeout); the sender's decoy x5u
# answers after 2.4 s, so a call with a 3 s deadline has at most 0.6 s left for the CRL.
CRL_DELAY, DECOY_DELAY, DEADLINE = 1.0, 2.4, 3.0


@pytest.fixture
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


def _source(srv: HttpsServer) -> HttpsSource:
    return HttpsSource(
        FetchPolicy(
            allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path, min_ttl=0.0,
            total_timeout=5.0, connect_timeout=2.0, negative_ttl=30.0,
        )
    )


def _setup(srv: HttpsServer) -> tuple[TestPKI, Any, str, str]:
    """A leaked key whose certificate the STI-PA CRL revokes, that CRL on a slowish (1 s) but
    healthy host, and a decoy header naming a slow x5u of the sender's own."""
    sti_pa = make_crl_signer()
    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=srv.url("/sti-pa.crl"))
    srv.route("/sp.pem", body=pki.chain_pem)
    srv.route("/sti-pa.crl", body=sti_pa.crl([pki.leaf_der]), delay=CRL_DELAY)
    srv.route("/decoy.pem", status=404, delay=DECOY_DELAY)
    now = int(time.time())
    decoy = pki.sign(orig=ORIG, dest=DEST, iat=now, x5u=srv.url("/decoy.pem"))
    mine = pki.sign(orig=ORIG, dest=DEST, iat=now)
    return pki, sti_pa, decoy, mine


def _verifier(srv: HttpsServer, pki: TestPKI, sti_pa: Any) -> Verifier:
    return Verifier(
        trust_anchors=[pki.root_pem], source=_source(srv), crl_signers=[sti_pa.pem],
        policy=Policy(call_deadline=DEADLINE),
    )


def _revoked(v: Verdict) -> bool:
    return (
        v.error is not None
        and (v.error.sip_code, v.error.check) == (437, "crl")
        and "revoked" in v.error.detail
    )


def _control(srv: HttpsServer, pki: TestPKI, sti_pa: Any, mine: str) -> None:
    """Without the decoy the healthy CRL host is reached within the budget: 437 revoked."""
    v = _verifier(srv, pki, sti_pa)
    verdict = v.verify(mine, orig=ORIG, dest=DEST)
    v.close()
    assert _revoked(verdict), verdict.checks


def test_decoy_spent_deadline_does_not_poison_the_crl_for_later_calls(srv: HttpsServer) -> None:
    """The attacker sends one call: a decoy header whose x5u (the sender's own server) answers
    just before the call's deadline, then the revoked certificate's header. The STI-PA CRL is
    asked for with a fraction of a second left and times out. That timeout is the call's
    budget running out, not the CRL host failing, yet it is written into the negative cache:
    for negative_ttl every call with the revoked certificate, sent alone with a full budget,
    is answered "CRL unavailable" from the cache (peek_crl) and passes under soft-fail."""
    pki, sti_pa, decoy, mine = _setup(srv)
    _control(srv, pki, sti_pa, mine)
    v = _verifier(srv, pki, sti_pa)
    v.verify([decoy, mine], orig=ORIG, dest=DEST)  # the poisoning call
    later = v.verify(mine, orig=ORIG, dest=DEST)  # alone, a full 3 s budget
    v.close()
    assert _revoked(later), (later.verstat, later.checks, later.warnings)


def test_decoy_spent_deadline_does_not_turn_a_revoking_crl_into_soft_fail(
    srv: HttpsServer,
) -> None:
    """The same decoy within the call: the budget-refusal rule (docs/security.md, "Bounded
    work per call") makes a CRL asked for *after* the deadline 437, but a CRL asked for just
    *before* it is cut by that deadline and reads as "unavailable": soft-fail verifies the
    revoked certificate in that very call."""
    pki, sti_pa, decoy, mine = _setup(srv)
    _control(srv, pki, sti_pa, mine)
    v = _verifier(srv, pki, sti_pa)
    call = v.verify([decoy, mine], orig=ORIG, dest=DEST)
    v.close()
    assert not call.passed, (call.verstat, call.checks, call.warnings)


async def test_decoy_spent_deadline_does_not_turn_a_revoking_crl_into_soft_fail_async(
    srv: HttpsServer,
) -> None:
    """The async twin: averify cuts the CRL wait at the call's deadline too; a wait the
    decoy left under half of the call's time is 'not checked' (437), never a soft-fail pass,
    and the CRL host is not remembered as failed."""
    pki, sti_pa, decoy, mine = _setup(srv)
    _control(srv, pki, sti_pa, mine)
    v = _verifier(srv, pki, sti_pa)
    call = await v.averify([decoy, mine], orig=ORIG, dest=DEST)
    later = await v.averify(mine, orig=ORIG, dest=DEST)
    await v.aclose()
    assert not call.passed, (call.verstat, call.checks, call.warnings)
    assert _revoked(later), (later.verstat, later.checks, later.warnings)
