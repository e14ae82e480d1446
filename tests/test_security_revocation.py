"""Revocation an attacker cannot forge (issue 16 item 1): a CRL counts only when it is
authenticated, covers the certificate and is current.

Rules: RFC 5280 §5.2.5 (IssuingDistributionPoint, indirect CRLs), §5.3.3 (certificateIssuer),
§6.3.3 (CRL processing: scope, issuer, signature, nextUpdate); standards digest §6.1 (the STI-PA
CRL is indirect, signed by the STI-PA's "STI-PA CRL" certificate) and §6.3 item 5 (revocation of
leaf and intermediates, soft-fail by default). Every test is named after the attack it stops and
runs through the library API, the command line (``shakenkit verify``) or ``shakenkit serve``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shakenkit import CertificateError, Policy, Verdict, Verifier
from shakenkit.cli import main
from shakenkit.repository import FetchPolicy
from shakenkit.testing import (
    STI_PA_CRL_ISSUER,
    STI_PA_CRL_URL,
    TestPKI,
    issue_certificate,
    make_crl,
    make_crl_signer,
    make_pki,
)
from tests.conftest import DAY, DEST, NOW, ORIG, serial_of
from tests.https_server import HttpsServer, running_https_server

HARD = Policy(crl_hard_fail=True)
LEAF_CN = "SHAKEN 123A"
CA_CN = "shakenkit Test STI-CA SHAKEN Issuing"


# -- the cast ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sti_pa() -> Any:
    """The genuine "STI-PA CRL" signer (its certificate is what operators configure)."""
    return make_crl_signer()


@pytest.fixture(scope="module")
def fake_sti_pa() -> Any:
    """A forger's signer: the same name "STI-PA CRL", another key."""
    return make_crl_signer()


@pytest.fixture(scope="module")
def plain_pki() -> TestPKI:
    """A PKI whose certificates name no CRL distribution point (so only the leaf needs a CRL
    under hard-fail; see docs/security.md "Revocation")."""
    return make_pki(crl_url=None, not_before=NOW - 30 * DAY, not_after=NOW + 300 * DAY)


@pytest.fixture(scope="module")
def unrelated_ca() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """An STI-CA with its own name and key, unrelated to the caller's chain."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Unrelated CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Unrelated STI-CA SHAKEN"),
        ]
    )
    der = issue_certificate(subject=name, key=key, ca=True, not_before=NOW - 90 * DAY)
    return key, der


def _verify(pki: TestPKI, *, now: float = NOW, **kw: Any) -> Verdict:
    v: Verdict = pki.verifier(**kw).verify(
        pki.sign(orig=ORIG, dest=DEST, iat=int(now)), orig=ORIG, dest=DEST, now=now
    )
    return v


def _crl_check(v: Verdict) -> Any:
    return next(c for c in v.checks if c.name == "crl")


def _unverified_437(v: Verdict, *names: str) -> str:
    """A hard-fail refusal: 437 on the crl check, not evidence of forgery, naming the
    certificates whose revocation could not be established."""
    assert v.error is not None, v
    assert (v.error.sip_code, v.error.check, v.caller_id) == (437, "crl", "unverified")
    for n in names:
        assert n in v.error.detail, v.error.detail
    return v.error.detail


def _revoked_437(v: Verdict, name: str) -> None:
    assert v.error is not None, v
    assert (v.error.sip_code, v.error.check, v.caller_id) == (437, "crl", "likely_spoofed")
    assert "revoked" in v.error.detail and name in v.error.detail, v.error.detail


def _passed_with_note(v: Verdict, note: str) -> None:
    """Verified; the CRL was reported on the crl check, never used."""
    assert v.passed and v.caller_id == "verified", v.error
    check = _crl_check(v)
    assert not check.ok and note in check.detail, check.detail
    assert any("revocation" in w for w in v.warnings), v.warnings


# -- forged CRLs --------------------------------------------------------------------------------


def test_forged_crl_signature_does_not_satisfy_hard_fail(plain_pki, rogue_pki):
    """A CRL under the STI-CA's name signed with another key is no evidence: under hard-fail
    the call is refused (437) and the detail names the leaf."""
    forged = make_crl(rogue_pki.ca_key, rogue_pki.ca_der, [])
    detail = _unverified_437(_verify(plain_pki, crls=[forged], policy=HARD), LEAF_CN)
    assert "signature" in detail


def test_forged_crl_signature_does_not_revoke(plain_pki, rogue_pki):
    """RFC 5280 §6.3.3 (f)-(g): the CRL's signature must verify with the issuer's key."""
    forged = make_crl(rogue_pki.ca_key, rogue_pki.ca_der, [serial_of(plain_pki.leaf_der)])
    _passed_with_note(_verify(plain_pki, crls=[forged]), "signature")


def test_forged_indirect_crl_does_not_revoke(pki, fake_sti_pa):
    """The STI-PA CRL is indirect (its issuer is "STI-PA CRL", not the certificate's CA): a
    CRL made with any key under that name must not revoke a valid carrier."""
    forged = fake_sti_pa.crl([pki.leaf_der])
    _passed_with_note(_verify(pki, crls=[forged]), "CRL signer")


def test_forged_indirect_crl_does_not_revoke_with_the_real_signer_configured(
    pki, sti_pa, fake_sti_pa
):
    forged = fake_sti_pa.crl([pki.leaf_der])
    _passed_with_note(_verify(pki, crls=[forged], crl_signers=[sti_pa.pem]), "signature")


def test_empty_forged_indirect_crl_does_not_satisfy_hard_fail(pki, fake_sti_pa):
    _unverified_437(_verify(pki, crls=[fake_sti_pa.crl([])], policy=HARD), LEAF_CN, CA_CN)


def test_empty_forged_indirect_crl_does_not_satisfy_hard_fail_with_the_real_signer(
    pki, sti_pa, fake_sti_pa
):
    v = _verify(pki, crls=[fake_sti_pa.crl([])], crl_signers=[sti_pa.pem], policy=HARD)
    assert "signature" in _unverified_437(v, LEAF_CN)


# -- stale CRLs ---------------------------------------------------------------------------------


def test_stale_crl_does_not_satisfy_hard_fail(plain_pki):
    """RFC 5280 §6.3.3 (a): a CRL past its nextUpdate (beyond Policy.crl_grace) is stale."""
    stale = make_crl(plain_pki.ca_key, plain_pki.ca_der, [], next_update=NOW - DAY)
    assert "nextUpdate" in _unverified_437(_verify(plain_pki, crls=[stale], policy=HARD), LEAF_CN)


def test_stale_crl_does_not_revoke(plain_pki):
    stale = make_crl(
        plain_pki.ca_key, plain_pki.ca_der, [serial_of(plain_pki.leaf_der)], next_update=NOW - DAY
    )
    _passed_with_note(_verify(plain_pki, crls=[stale]), "nextUpdate")


def test_stale_indirect_crl_does_not_satisfy_hard_fail(pki, sti_pa):
    stale = sti_pa.crl([], next_update=NOW - DAY)
    _unverified_437(_verify(pki, crls=[stale], crl_signers=[sti_pa.pem], policy=HARD), LEAF_CN)


def test_crl_issued_after_the_verification_time_does_not_satisfy_hard_fail(plain_pki):
    """thisUpdate after the verification time (beyond the grace): not current."""
    future = make_crl(plain_pki.ca_key, plain_pki.ca_der, [], this_update=NOW + DAY)
    assert "thisUpdate" in _unverified_437(
        _verify(plain_pki, crls=[future], policy=HARD), LEAF_CN
    )


def test_stale_crl_within_the_grace_still_counts(plain_pki):
    """Policy.crl_grace: a CRL just past nextUpdate (publication lag, clock skew) still counts;
    beyond the grace it does not."""
    late = make_crl(plain_pki.ca_key, plain_pki.ca_der, [], next_update=NOW - 60)
    assert _verify(plain_pki, crls=[late], policy=HARD).passed
    strict = Policy(crl_hard_fail=True, crl_grace=0)
    _unverified_437(_verify(plain_pki, crls=[late], policy=strict), LEAF_CN)


def test_crl_grace_must_be_finite_and_not_negative(plain_pki):
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="crl_grace"):
            plain_pki.verifier(policy=Policy(crl_grace=bad))


# -- irrelevant CRLs ----------------------------------------------------------------------------


def test_unrelated_ca_crl_does_not_satisfy_hard_fail(plain_pki, unrelated_ca):
    key, der = unrelated_ca
    other = make_crl(key, der, [])
    assert "covers" in _unverified_437(_verify(plain_pki, crls=[other], policy=HARD), LEAF_CN)


def test_unrelated_ca_crl_does_not_revoke(plain_pki, unrelated_ca):
    key, der = unrelated_ca
    other = make_crl(key, der, [serial_of(plain_pki.leaf_der)])
    _passed_with_note(_verify(plain_pki, crls=[other]), "covers")


def test_indirect_crl_entry_for_another_issuer_does_not_revoke(pki, sti_pa, unrelated_ca):
    """RFC 5280 §5.3.3: an indirect CRL's entry names its certificate by issuer AND serial; a
    certificate of another CA with the same serial number is not this one."""
    key, der = unrelated_ca
    twin = issue_certificate(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SHAKEN 999Z")]),
        key=ec.generate_private_key(ec.SECP256R1()),
        issuer=x509.load_der_x509_certificate(der).subject,
        issuer_key=key,
        spc="999Z",
        serial=serial_of(pki.leaf_der),
    )
    v = _verify(pki, crls=[sti_pa.crl([twin])], crl_signers=[sti_pa.pem])
    assert v.passed and _crl_check(v).ok, v.error


def test_indirect_crl_scoped_to_another_distribution_point_does_not_satisfy_hard_fail(
    pki, sti_pa
):
    """RFC 5280 §6.3.3 (b)(2)(i): a CRL whose IssuingDistributionPoint names another
    distribution point does not cover the certificate."""
    idp = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier("https://crl.other.example/partition-7.crl")],
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=True,
        only_contains_attribute_certs=False,
    )
    v = _verify(pki, crls=[sti_pa.crl([], idp=idp)], crl_signers=[sti_pa.pem], policy=HARD)
    assert "distribution point" in _unverified_437(v, LEAF_CN)


def test_ca_only_crl_does_not_cover_the_leaf(pki, sti_pa):
    """RFC 5280 §5.2.5 onlyContainsCACerts: such a CRL says nothing about an SP certificate."""
    idp = x509.IssuingDistributionPoint(
        full_name=None,
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=True,
        only_some_reasons=None,
        indirect_crl=True,
        only_contains_attribute_certs=False,
    )
    v = _verify(pki, crls=[sti_pa.crl([], idp=idp)], crl_signers=[sti_pa.pem], policy=HARD)
    detail = _unverified_437(v, LEAF_CN)
    assert CA_CN not in detail  # the intermediate is covered by that CRL


def test_crl_declaring_itself_direct_does_not_cover_another_issuers_certificates(pki, sti_pa):
    """An IssuingDistributionPoint without indirectCRL says the CRL lists only its issuer's
    own certificates (RFC 5280 §5.2.5)."""
    idp = x509.IssuingDistributionPoint(
        full_name=None,
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=frozenset({x509.ReasonFlags.key_compromise}),
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )
    v = _verify(pki, crls=[sti_pa.crl([], idp=idp)], crl_signers=[sti_pa.pem], policy=HARD)
    _unverified_437(v, LEAF_CN)


def test_hard_fail_names_each_certificate_without_a_covering_crl(pki):
    """Under hard-fail every certificate on the path that names a CRL needs one: a CRL from
    the STI-CA covers the SP certificate, not the STI-CA itself (issued by the root)."""
    direct = make_crl(pki.ca_key, pki.ca_der, [])
    detail = _unverified_437(_verify(pki, crls=[direct], policy=HARD), CA_CN)
    assert f"CN={LEAF_CN}" not in detail
    root_crl = make_crl(pki.root_key, pki.root_der, [])
    assert _verify(pki, crls=[direct, root_crl], policy=HARD).passed


def test_no_crl_at_all_fails_hard_fail(plain_pki):
    _unverified_437(_verify(plain_pki, policy=HARD), LEAF_CN)


# -- the configured CRL signer ------------------------------------------------------------------


def test_indirect_crl_from_configured_signer_revokes(pki, sti_pa):
    _revoked_437(_verify(pki, crls=[sti_pa.crl([pki.leaf_der])], crl_signers=[sti_pa.pem]),
                 LEAF_CN)


def test_indirect_crl_from_configured_signer_revokes_the_intermediate(pki, sti_pa):
    _revoked_437(_verify(pki, crls=[sti_pa.crl([pki.ca_der])], crl_signers=[sti_pa.pem]), CA_CN)


def test_indirect_crl_from_configured_signer_satisfies_hard_fail(pki, sti_pa):
    v = _verify(pki, crls=[sti_pa.crl([])], crl_signers=[sti_pa.pem], policy=HARD)
    assert v.passed and v.caller_id == "verified", v.error
    assert _crl_check(v).ok


def test_crl_signer_given_as_a_file_path(pki, sti_pa, tmp_path):
    path = tmp_path / "sti-pa-crl-signer.pem"
    path.write_bytes(sti_pa.pem)
    crl = tmp_path / "sti-pa.crl"
    crl.write_bytes(sti_pa.crl([pki.leaf_der]))
    _revoked_437(_verify(pki, crls=[crl], crl_signers=[str(path)]), LEAF_CN)


def test_crl_issuer_named_in_another_attribute_order_is_the_same_issuer(pki):
    """Live certificates name the STI-PA CRL issuer with its attributes in different orders
    (corpus: "O=STI-PA,C=US,CN=STI-PA CRL,ST=NJ,L=Bridgewater" and
    "CN=STI-PA CRL,O=STI-PA,L=Bridgewater,ST=NJ,C=US"): one issuer."""
    reordered = x509.Name(list(reversed(list(STI_PA_CRL_ISSUER))))
    signer = make_crl_signer(name=reordered)
    _revoked_437(_verify(pki, crls=[signer.crl([pki.leaf_der])], crl_signers=[signer.pem]),
                 LEAF_CN)


def test_crl_signer_claiming_an_anchor_with_a_bad_signature_is_refused(pki, rogue_pki):
    """A signer certificate that names a trust anchor as its issuer must verify with that
    anchor's key: one issued by a forger's root of the same name is refused at configuration."""
    claimed = make_crl_signer(issuer_key=rogue_pki.root_key, issuer_der=rogue_pki.root_der)
    with pytest.raises(CertificateError, match=r"CRL signer.*trust anchor"):
        pki.verifier(crl_signers=[claimed.pem])


def test_crl_signer_chaining_to_an_anchor_is_accepted(pki):
    signer = make_crl_signer(issuer_key=pki.root_key, issuer_der=pki.root_der)
    _revoked_437(_verify(pki, crls=[signer.crl([pki.leaf_der])], crl_signers=[signer.pem]),
                 LEAF_CN)


def test_crl_signer_without_crl_sign_key_usage_is_refused(pki):
    """RFC 5280 §4.2.1.3 / §6.3.3 (f): a CRL issuer's keyUsage must include cRLSign."""
    with pytest.raises(CertificateError, match="cRLSign"):
        pki.verifier(crl_signers=[make_crl_signer(crl_sign=False).pem])


def test_crl_from_an_expired_signer_does_not_satisfy_hard_fail(pki):
    old = make_crl_signer(not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    v = _verify(pki, crls=[old.crl([])], crl_signers=[old.pem], policy=HARD)
    assert "validity" in _unverified_437(v, LEAF_CN)


def test_crl_with_an_unknown_critical_extension_is_not_used(plain_pki):
    """RFC 5280 §5.2: a CRL with a critical extension the verifier cannot process must not be
    used to determine status."""
    crl = x509.load_pem_x509_crl(make_crl(plain_pki.ca_key, plain_pki.ca_der, []))
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(crl.issuer)
        .last_update(crl.last_update_utc)
        .next_update(crl.next_update_utc)  # type: ignore[arg-type]
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"),
            critical=True,
        )
    )
    from cryptography.hazmat.primitives import hashes, serialization

    odd = b.sign(plain_pki.ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    assert "critical" in _unverified_437(_verify(plain_pki, crls=[odd], policy=HARD), LEAF_CN)


# -- fetched over HTTPS -------------------------------------------------------------------------


@pytest.fixture
def srv() -> Iterator[HttpsServer]:
    with running_https_server() as server:
        yield server


def _fetching_pki(srv: HttpsServer, **kw: Any) -> TestPKI:
    pki = make_pki(x5u=srv.url("/sp.pem"), crl_url=srv.url("/sti-pa.crl"), **kw)
    srv.route("/sp.pem", body=pki.chain_pem)
    return pki


def _fetching_verifier(srv: HttpsServer, pki: TestPKI, **kw: Any) -> Verifier:
    fetch = FetchPolicy(
        allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path, min_ttl=0.0,
        total_timeout=5.0, connect_timeout=2.0,
    )
    return Verifier(trust_anchors=[pki.root_pem], fetch=fetch, **kw)


def _call(v: Verifier, pki: TestPKI) -> Verdict:
    now = int(time.time())
    return v.verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG, dest=DEST, now=now)


def test_fetched_forged_sti_pa_crl_does_not_revoke(srv, fake_sti_pa):
    """The CRL fetched from the certificate's own distribution point is attacker-reachable
    data like the x5u: a forged STI-PA CRL there revokes nothing."""
    pki = _fetching_pki(srv)
    srv.route("/sti-pa.crl", body=fake_sti_pa.crl([pki.leaf_der]))
    _passed_with_note(_call(_fetching_verifier(srv, pki), pki), "CRL signer")


def test_fetched_sti_pa_crl_from_configured_signer_revokes(srv, sti_pa):
    pki = _fetching_pki(srv)
    srv.route("/sti-pa.crl", body=sti_pa.crl([pki.leaf_der]))
    _revoked_437(_call(_fetching_verifier(srv, pki, crl_signers=[sti_pa.pem]), pki), LEAF_CN)


def test_fetched_empty_forged_crl_does_not_satisfy_hard_fail(srv, sti_pa, fake_sti_pa):
    pki = _fetching_pki(srv)
    srv.route("/sti-pa.crl", body=fake_sti_pa.crl([]))
    v = _fetching_verifier(srv, pki, crl_signers=[sti_pa.pem], policy=HARD)
    _unverified_437(_call(v, pki), LEAF_CN, CA_CN)
    srv.route("/sti-pa.crl", body=sti_pa.crl([]))
    v = _fetching_verifier(srv, pki, crl_signers=[sti_pa.pem], policy=HARD)
    assert _call(v, pki).passed


def test_fetched_crl_for_a_distribution_point_without_crl_issuer(srv, sti_pa):
    """Certificates issued before ATIS-1000080 v004 name the STI-PA CRL's URL without a
    cRLIssuer. The STI-PA CRL fetched from that very URL and signed by the configured signer
    covers them (docs/security.md "Revocation"); the same CRL given as a file does not."""
    pki = _fetching_pki(srv, crl_issuer=None)
    srv.route("/sti-pa.crl", body=sti_pa.crl([pki.leaf_der]))
    _revoked_437(_call(_fetching_verifier(srv, pki, crl_signers=[sti_pa.pem]), pki), LEAF_CN)
    srv.route("/sti-pa.crl", body=sti_pa.crl([]))
    v = _fetching_verifier(srv, pki, crl_signers=[sti_pa.pem], policy=HARD)
    assert _call(v, pki).passed
    offline = Verifier(
        trust_anchors=[pki.root_pem], certificates=pki.certificates(), crls=[sti_pa.crl([])],
        crl_signers=[sti_pa.pem], policy=HARD,
    )
    _unverified_437(_call(offline, pki), LEAF_CN)


def _https_source(srv: HttpsServer, clock: Any = time.time) -> Any:
    from shakenkit.repository import HttpsSource

    return HttpsSource(
        FetchPolicy(
            allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path, min_ttl=0.0,
            total_timeout=5.0, connect_timeout=2.0, negative_ttl=30.0,
        ),
        clock=clock,
    )


def test_remembered_crl_failure_keeps_hard_fail_437_on_every_warm_call(srv):
    """The CRL host is down (404): under hard-fail the first call is 437. The failure is then
    remembered and answered from the cache without I/O (issue 20); a warm call answered that
    way must still be 437, sync and async, not a pass for want of an exception."""
    import asyncio

    pki = _fetching_pki(srv)  # /sti-pa.crl is not routed: 404
    v = Verifier(trust_anchors=[pki.root_pem], source=_https_source(srv), policy=HARD)
    for _ in range(3):
        _unverified_437(_call(v, pki), LEAF_CN)
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    for _ in range(3):
        _unverified_437(asyncio.run(v.averify(h, orig=ORIG, dest=DEST, now=now)), LEAF_CN)
    assert srv.count("/sti-pa.crl") == 1  # the failure was remembered, never fetched again
    v.close()


def test_remembered_crl_failure_does_not_outlive_negative_ttl(srv, sti_pa):
    """An attacker who can make the CRL host fail once must not make the verifier skip
    revocation for longer than ``negative_ttl``: the soft-fail outcome a remembered failure
    gives is reused only while that failure is remembered; once it expires the CRL is fetched
    again and, revoking the certificate, counts (437)."""
    pki = _fetching_pki(srv)
    clock = [time.time()]
    source = _https_source(srv, clock=lambda: clock[0])
    v = Verifier(trust_anchors=[pki.root_pem], source=source, crl_signers=[sti_pa.pem])
    for _ in range(3):  # soft-fail: passes, with the failed crl check and the warning
        verdict = _call(v, pki)
        assert verdict.passed and not _crl_check(verdict).ok, verdict.checks
        assert "CRL unavailable" in _crl_check(verdict).detail
        assert any("soft-fail" in w for w in verdict.warnings)
    srv.route("/sti-pa.crl", body=sti_pa.crl([pki.leaf_der]))
    clock[0] += 29  # still remembered: not fetched
    assert _call(v, pki).passed and srv.count("/sti-pa.crl") == 1
    clock[0] += 2  # past negative_ttl: fetched again, and it revokes
    _revoked_437(_call(v, pki), LEAF_CN)
    assert srv.count("/sti-pa.crl") == 2
    v.close()


def _decoy_then(srv: HttpsServer, revoked: TestPKI) -> tuple[TestPKI, str, str]:
    """A decoy chain whose path names its own CRL URL (reachable), and the two headers."""
    decoy = make_pki(x5u=srv.url("/decoy.pem"), crl_url=srv.url("/decoy.crl"), spc="999Z")
    srv.route("/decoy.pem", body=decoy.chain_pem)
    srv.route("/decoy.crl", body=make_crl_signer().crl([]))
    now = int(time.time())
    return (
        decoy,
        decoy.sign(orig="19995550000", dest=DEST, iat=now),
        revoked.sign(orig=ORIG, dest=DEST, iat=now),
    )


def test_budget_refused_crl_is_437_even_when_its_failure_is_remembered(srv):
    """The leaked key's CRL host was made to fail once (remembered: soft-fail warns). A decoy
    header placed first spends Policy.max_crl_urls_per_call, so the leaked key's CRL request is
    refused by the budget. A remembered failure is answered from the cache, but past the
    budget the refusal must stand (437, docs/security.md): else the sender's own decoy would
    turn "not checked" into a soft-fail pass."""
    import asyncio

    revoked = _fetching_pki(srv)  # its CRL URL answers 404: the failure is remembered
    decoy, decoy_header, mine = _decoy_then(srv, revoked)
    v = Verifier(
        trust_anchors=[revoked.root_pem, decoy.root_pem], source=_https_source(srv),
        policy=Policy(max_crl_urls_per_call=1),
    )
    assert _call(v, revoked).passed  # alone: soft-fail, the failure now remembered
    now = int(time.time())
    behind = v.verify([decoy_header, mine], orig=ORIG, dest=DEST, now=now)
    assert not behind.passed, behind.checks
    assert behind.headers[1].error is not None, behind.headers
    assert (behind.headers[1].error.check, behind.headers[1].error.sip_code) == ("crl", 437)
    abehind = asyncio.run(v.averify([decoy_header, mine], orig=ORIG, dest=DEST, now=now))
    assert not abehind.passed, abehind.checks
    assert abehind.headers[1].error is not None
    assert (abehind.headers[1].error.check, abehind.headers[1].error.sip_code) == ("crl", 437)
    v.close()


def test_https_source_peek_crl_answers_a_remembered_failure_without_io(srv):
    """peek_crl: None for a URL it knows nothing of, the CRL once fetched, and a remembered
    failure as the CertificateFetchError get_crl raises, returned, with no request made."""
    from shakenkit import CertificateFetchError

    source = _https_source(srv)
    url = srv.url("/down.crl")
    assert source.peek_crl(url) is None
    with pytest.raises(CertificateFetchError) as raised:
        source.get_crl(url)
    assert srv.count("/down.crl") == 1
    peeked = source.peek_crl(url)
    assert isinstance(peeked, CertificateFetchError), peeked
    assert peeked.kind == raised.value.kind
    with pytest.raises(CertificateFetchError) as again:
        source.get_crl(url)
    assert again.value.detail == peeked.detail and "negative_ttl" in peeked.detail
    assert srv.count("/down.crl") == 1
    source.close()


def test_crl_source_protocol_replaces_probing(pki, sti_pa):
    """A user's own source is asked for CRLs only when it is a CrlSource (get_crl/aget_crl);
    a plain CertificateSource (get/aget) keeps working without them."""
    from shakenkit.certs import load_crls
    from shakenkit.repository.sources import CrlSource, StaticSource

    asked: list[str] = []
    static = StaticSource(pki.certificates())

    class WithCrls:
        def get(self, url: str) -> Any:
            return static.get(url)

        async def aget(self, url: str) -> Any:
            return static.get(url)

        def get_crl(self, url: str) -> Any:
            asked.append(url)
            return tuple(load_crls(sti_pa.crl([pki.leaf_der])))

        async def aget_crl(self, url: str) -> Any:
            return self.get_crl(url)

    class Plain:
        def get(self, url: str) -> Any:
            return static.get(url)

        async def aget(self, url: str) -> Any:
            return static.get(url)

    assert isinstance(WithCrls(), CrlSource) and not isinstance(Plain(), CrlSource)
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    v = Verifier(trust_anchors=[pki.root_pem], source=WithCrls(), crl_signers=[sti_pa.pem])
    _revoked_437(v.verify(h, orig=ORIG, dest=DEST, now=NOW), LEAF_CN)
    assert asked == [STI_PA_CRL_URL]  # leaf and STI-CA name one distribution point
    import asyncio

    _revoked_437(asyncio.run(v.averify(h, orig=ORIG, dest=DEST, now=NOW)), LEAF_CN)
    plain = Verifier(trust_anchors=[pki.root_pem], source=Plain(), crl_signers=[sti_pa.pem])
    assert plain.verify(h, orig=ORIG, dest=DEST, now=NOW).passed


# -- the command line ---------------------------------------------------------------------------


def _cli(pki: TestPKI, tmp_path: Path, capsys: Any, *extra: str) -> tuple[int, Verdict | None]:
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_pem)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pki.chain_pem)
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    args = [
        "verify", "--json", "--no-crl-fetch", "--offline", "--trust", str(root),
        "--cert", f"{pki.x5u}={chain}", "--now", str(NOW), "--orig", ORIG, "--dest", DEST,
        *extra, h,
    ]
    code = main(args)
    got = capsys.readouterr()
    out = got.out.strip()
    _cli.err = got.err  # type: ignore[attr-defined]
    return code, (Verdict.model_validate_json(out.splitlines()[0]) if out else None)


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_cli_forged_crl_does_not_satisfy_hard_fail(plain_pki, rogue_pki, tmp_path, capsys):
    forged = _file(tmp_path, "forged.crl", make_crl(rogue_pki.ca_key, rogue_pki.ca_der, []))
    code, v = _cli(plain_pki, tmp_path, capsys, "--crl", forged, "--crl-hard-fail")
    assert code == 1 and v is not None
    _unverified_437(v, LEAF_CN)


def test_cli_stale_crl_does_not_satisfy_hard_fail(plain_pki, tmp_path, capsys):
    stale = make_crl(plain_pki.ca_key, plain_pki.ca_der, [], next_update=NOW - DAY)
    code, v = _cli(plain_pki, tmp_path, capsys, "--crl", _file(tmp_path, "s.crl", stale),
                   "--crl-hard-fail")
    assert code == 1 and v is not None
    _unverified_437(v, LEAF_CN)


def test_cli_unrelated_ca_crl_does_not_satisfy_hard_fail(plain_pki, unrelated_ca, tmp_path,
                                                          capsys):
    key, der = unrelated_ca
    code, v = _cli(plain_pki, tmp_path, capsys, "--crl",
                   _file(tmp_path, "u.crl", make_crl(key, der, [])), "--crl-hard-fail")
    assert code == 1 and v is not None
    _unverified_437(v, LEAF_CN)


def test_cli_genuine_crl_satisfies_hard_fail(plain_pki, tmp_path, capsys):
    good = make_crl(plain_pki.ca_key, plain_pki.ca_der, [])
    code, v = _cli(plain_pki, tmp_path, capsys, "--crl", _file(tmp_path, "g.crl", good),
                   "--crl-hard-fail")
    assert code == 0 and v is not None and v.passed


def test_cli_forged_indirect_crl_does_not_revoke(pki, fake_sti_pa, tmp_path, capsys):
    forged = _file(tmp_path, "sti-pa.crl", fake_sti_pa.crl([pki.leaf_der]))
    code, v = _cli(pki, tmp_path, capsys, "--crl", forged)
    assert code == 0 and v is not None and v.passed


def test_cli_indirect_crl_from_crl_signer_revokes(pki, sti_pa, fake_sti_pa, tmp_path, capsys):
    crl = _file(tmp_path, "sti-pa.crl", sti_pa.crl([pki.leaf_der]))
    signer = _file(tmp_path, "signer.pem", sti_pa.pem)
    code, v = _cli(pki, tmp_path, capsys, "--crl", crl, "--crl-signer", signer)
    assert code == 1 and v is not None
    _revoked_437(v, LEAF_CN)
    # The forger's signer certificate configured instead: the CRL is unauthenticated.
    other = _file(tmp_path, "other.pem", fake_sti_pa.pem)
    code, v = _cli(pki, tmp_path, capsys, "--crl", crl, "--crl-signer", other)
    assert code == 0 and v is not None and v.passed


def test_cli_empty_indirect_crl_from_crl_signer_satisfies_hard_fail(pki, sti_pa, tmp_path,
                                                                    capsys):
    crl = _file(tmp_path, "sti-pa.crl", sti_pa.crl([]))
    signer = _file(tmp_path, "signer.pem", sti_pa.pem)
    code, v = _cli(pki, tmp_path, capsys, "--crl", crl, "--crl-signer", signer, "--crl-hard-fail")
    assert code == 0 and v is not None and v.passed


def test_cli_crl_signer_claiming_an_anchor_with_a_bad_signature_is_a_usage_error(
    pki, rogue_pki, tmp_path, capsys
):
    claimed = make_crl_signer(issuer_key=rogue_pki.root_key, issuer_der=rogue_pki.root_der)
    code, v = _cli(pki, tmp_path, capsys, "--crl-signer", _file(tmp_path, "c.pem", claimed.pem))
    assert code == 2 and v is None
    assert "trust anchor" in _cli.err  # type: ignore[attr-defined]


def test_cli_crl_grace(plain_pki, tmp_path, capsys):
    """``--crl-grace``: 300 s by default; a CRL 10 minutes past nextUpdate is stale unless the
    grace is raised, one a minute past is stale with no grace."""
    late = _file(tmp_path, "late.crl",
                 make_crl(plain_pki.ca_key, plain_pki.ca_der, [], next_update=NOW - 600))
    assert _cli(plain_pki, tmp_path, capsys, "--crl", late, "--crl-hard-fail")[0] == 1
    assert _cli(plain_pki, tmp_path, capsys, "--crl", late, "--crl-hard-fail",
                "--crl-grace", "3600")[0] == 0
    just = _file(tmp_path, "just.crl",
                 make_crl(plain_pki.ca_key, plain_pki.ca_der, [], next_update=NOW - 60))
    assert _cli(plain_pki, tmp_path, capsys, "--crl", just, "--crl-hard-fail")[0] == 0
    assert _cli(plain_pki, tmp_path, capsys, "--crl", just, "--crl-hard-fail",
                "--crl-grace", "0")[0] == 1
    assert _cli(plain_pki, tmp_path, capsys, "--crl-grace", "-1")[0] == 2


@pytest.mark.parametrize("command", ["scan", "traceback", "serve"])
def test_every_verifying_command_takes_crl_signer(command, pki, sti_pa, tmp_path):
    """``--crl-signer`` is a shared verification option: scan, traceback and serve read it
    the same way verify does."""
    from shakenkit.cli.app import build_parser
    from shakenkit.cli.options import crl_signer_inputs

    signer = _file(tmp_path, "signer.pem", sti_pa.pem)
    extra = {"scan": ["cap.pcap"], "traceback": ["analyze", "cap.pcap"], "serve": []}[command]
    try:
        args = build_parser().parse_args([command, *extra, "--crl-signer", signer])
    except SystemExit:  # traceback's sub-commands
        args = build_parser().parse_args([command, "--crl-signer", signer, *extra])
    assert crl_signer_inputs(args) == [sti_pa.pem]


def test_traceback_config_carries_crl_signers(pki, sti_pa):
    from shakenkit.traceback.config import VerifierConfig

    config = VerifierConfig.load(
        [pki.root_pem], pki.certificates(), [sti_pa.crl([pki.leaf_der])],
        crl_signers=[sti_pa.pem],
    )
    v = config.build()
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    _revoked_437(v.verify(h, orig=ORIG, dest=DEST, now=NOW), LEAF_CN)


# -- shakenkit serve ----------------------------------------------------------------------------


def test_serve_crl_signer_and_reload(tmp_path, sti_pa, fake_sti_pa):
    """``serve --crl-signer``: the signer file is re-read on reload like the CRLs."""
    pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")
    from tests.serve_process import ServeProcess

    with running_https_server() as repo:
        pki = make_pki(x5u=repo.url("/sp.pem"))
        repo.route("/sp.pem", body=pki.chain_pem)
        (tmp_path / "root.pem").write_bytes(pki.root_pem)
        crl = _file(tmp_path, "sti-pa.crl", sti_pa.crl([pki.leaf_der]))
        signer = tmp_path / "signer.pem"
        signer.write_bytes(fake_sti_pa.pem)  # the wrong certificate at first
        args = [
            "--trust", str(tmp_path / "root.pem"), "--tls-ca", repo.ca_pem_path,
            "--allow-host", repo.host_port, "--no-crl-fetch", "--crl", crl,
            "--crl-signer", str(signer),
        ]
        now = int(time.time())
        body = {"verificationRequest": {
            "from": {"tn": ORIG}, "to": {"tn": [DEST]}, "time": now,
            "identity": pki.sign(orig=ORIG, dest=DEST, iat=now),
        }}
        with ServeProcess(args) as server:
            r = httpx.post(server.url + "/stir/v1/verification", json=body, timeout=30)
            assert r.json()["verificationResponse"] == {"verstat": "TN-Validation-Passed"}
            signer.write_bytes(sti_pa.pem)
            assert httpx.post(server.url + "/admin/reload", timeout=30).status_code == 200
            r = httpx.post(server.url + "/stir/v1/verification", json=body, timeout=30)
            got = r.json()["verificationResponse"]
            assert (got["verstat"], got["reasoncode"]) == ("TN-Validation-Failed", 437), got
            signer.write_bytes(json.dumps({"not": "a certificate"}).encode())
            r = httpx.post(server.url + "/admin/reload", timeout=30)
            assert r.status_code == 422  # a bad signer file keeps the running configuration


# -- the checker's memo -------------------------------------------------------------------------


def test_memoized_good_status_does_not_outlive_the_crls_next_update(plain_pki):
    """The checker remembers results, but only for as long as no CRL or signer time boundary
    is crossed: a CRL that was current at the first call does not satisfy hard-fail once it
    is stale (the old memo, keyed by object ids only, ignored time)."""
    crl = make_crl(plain_pki.ca_key, plain_pki.ca_der, [], next_update=NOW + 3600)
    v = plain_pki.verifier(crls=[crl], policy=HARD)
    h = plain_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    assert v.verify(h, orig=ORIG, dest=DEST, now=NOW).passed
    later = NOW + 3600 + 301 + 10
    h2 = plain_pki.sign(orig=ORIG, dest=DEST, iat=later)
    _unverified_437(v.verify(h2, orig=ORIG, dest=DEST, now=later), LEAF_CN)
    assert v.verify(h, orig=ORIG, dest=DEST, now=NOW).passed


def test_many_distinct_crls_keep_the_memo_bounded(plain_pki):
    """Per-CRL work and results are memoised in the checker, bounded in entries."""
    from shakenkit.certs import RevocationChecker, load_certificate, load_crls

    checker = RevocationChecker(memo_crls=8, memo_results=16)
    path = [load_certificate(plain_pki.leaf_der), load_certificate(plain_pki.ca_der),
            load_certificate(plain_pki.root_der)]
    for _ in range(40):
        crls = load_crls(make_crl(plain_pki.ca_key, plain_pki.ca_der, []))
        assert checker.check(path, crls, NOW).status == "good"
    stats = checker.stats()
    assert stats["crls"] <= 8 and stats["results"] <= 16


def test_crl_entry_with_an_unknown_critical_extension_is_not_used(plain_pki):
    """RFC 5280 §5.3: an entry extension the verifier cannot process, marked critical, makes
    the CRL unusable for status."""
    from cryptography.hazmat.primitives import hashes, serialization

    ca = x509.load_der_x509_certificate(plain_pki.ca_der)
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(12345)
        .revocation_date(ca.not_valid_before_utc)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.2"), b"\x05\x00"),
            critical=True,
        )
        .build()
    )
    odd = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(ca.not_valid_before_utc)
        .next_update(ca.not_valid_after_utc)
        .add_revoked_certificate(entry)
        .sign(plain_pki.ca_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    assert "unreadable" in _unverified_437(_verify(plain_pki, crls=[odd], policy=HARD), LEAF_CN)
