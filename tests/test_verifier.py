"""The verification service end to end: freshness, number matching, the verdict, several headers,
policy, async, and hostile input (RFC 8224 §6.2; standards digest §1.4, §1.5, §5.3-§5.5, §9, §10).
"""

from __future__ import annotations

import dataclasses
import json
import random

import pydantic
import pytest

from shakenkit import Policy, Verdict, Verifier
from shakenkit.errors import CertificateFetchError
from tests.conftest import (
    DEST,
    DEST_TN,
    NOW,
    ORIG,
    ORIG_TN,
    ORIGID,
    claims,
    jose,
    signed,
)


def _err(v):
    assert v.error is not None, f"expected a failure, got {v.verstat}"
    return v.error.sip_code, v.error.check


class _NoFetch:
    """A certificate source that must not be consulted."""

    calls = 0

    def get(self, url):
        self.calls += 1
        raise CertificateFetchError("unexpected fetch")

    async def aget(self, url):
        return self.get(url)


# -- freshness (RFC 8224 §6.2 step 4; digest §5.3 step 6, §10 items 3 and 11) -------------------


@pytest.mark.parametrize("age", [0, 1, 59, 60, -1, -59, -60])
def test_iat_within_window_passes(pki, verifier, age):
    """RFC 8224 §6.2 step 4, ATIS-1000074 (digest §5.3 step 6): ``|now - iat| <= 60`` passes."""
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW - age)
    v = verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error


@pytest.mark.parametrize("age", [61, 3600, 86_400 * 365])
def test_stale_iat_rejected_403(pki, verifier, age):
    """RFC 8224 §6.2 step 4 (digest §1.5): ``iat`` older than the window -> 403 Stale Date."""
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW - age)
    v = verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert _err(v) == (403, "freshness")
    assert v.error.reason == "Stale Date"


@pytest.mark.parametrize("ahead", [61, 3600, 86_400 * 365])
def test_far_future_iat_rejected_403(pki, verifier, ahead):
    """Digest §5.3 step 6, §10 item 11: a future ``iat`` beyond the skew allowance is refused
    too (OpenSIPS fixed exactly this bypass) -> 403."""
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW + ahead)
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (403, "freshness")


def test_milliseconds_iat_rejected_403_with_hint(pki, verifier):
    """Digest §10 item 3: an ``iat`` in milliseconds fails freshness (403) and the detail says
    it looks like milliseconds."""
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW * 1000)
    v = verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert _err(v) == (403, "freshness")
    assert "milliseconds" in v.error.detail


def test_freshness_window_is_local_policy(pki):
    """RFC 8224 §6.2 step 4: the window is local policy (``Policy.max_age``)."""
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW - 200)
    assert _err(pki.verifier().verify(h, orig=ORIG, dest=DEST, now=NOW))[0] == 403
    relaxed = pki.verifier(policy=Policy(max_age=300))
    assert relaxed.verify(h, orig=ORIG, dest=DEST, now=NOW).passed


def test_stale_call_decided_before_certificate_fetch(pki):
    """Digest §5.3 order note: freshness before the fetch avoids network work for stale calls."""
    src = _NoFetch()
    v = Verifier(trust_anchors=[pki.root_pem], source=src)
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW - 3600)
    assert _err(v.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (403, "freshness")
    assert src.calls == 0


# -- numbers (RFC 8224 §6.2 step 6; digest §5.3 step 10, §10 items 2 and 19-20) -----------------


@pytest.mark.parametrize("orig", ["+12155559999", "2155551213", "tel:+44-20-7946-0000", "alice"])
def test_orig_mismatch_rejected_438(pki, verifier, good_header, orig):
    """Digest §5.3 step 10: the canonical ``orig.tn`` must equal the calling number -> 438
    (check ``orig_tn``)."""
    v = verifier.verify(good_header, orig=orig, dest=DEST, now=NOW)
    assert _err(v) == (438, "orig_tn")
    assert v.caller_id == "likely_spoofed"


@pytest.mark.parametrize(
    "orig",
    [
        "+1 (215) 555-1212",
        "tel:+1-215-555-1212",
        "sip:+12155551212@pai.example.com;user=phone",
        "<sip:+12155551212@pai.example.com;user=phone>",
        "2155551212",
        "12155551212",
    ],
)
def test_orig_matches_in_any_sip_form(verifier, good_header, orig):
    """RFC 8224 §8.3 (digest §10 item 2): both sides are canonicalized before comparing."""
    v = verifier.verify(good_header, orig=orig, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error


@pytest.mark.parametrize("dest", ["+12155559999", "sip:bob@example.com", "+44 20 7946 0000"])
def test_dest_not_in_dest_tn_rejected_438(verifier, good_header, dest):
    """Digest §5.3 step 10: the canonical called number must be a member of ``dest.tn`` (438)."""
    assert _err(verifier.verify(good_header, orig=ORIG, dest=dest, now=NOW)) == (438, "dest_tn")


def test_dest_any_member_of_dest_tn(pki, verifier):
    """RFC 8225 §5.2.1: ``dest.tn`` is an array; the called number may be any member."""
    h = pki.sign(orig=ORIG, dest=["+12155550001", DEST, "+12155550002"], iat=NOW)
    v = verifier.verify(h, orig=ORIG, dest="+1 215 555 0002", now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert DEST_TN in v.dest_tns
    assert _err(verifier.verify(h, orig=ORIG, dest="+12155550003", now=NOW)) == (438, "dest_tn")


def test_orig_uri_passport_does_not_match_a_tn(pki, verifier):
    """RFC 8225 §5.2.1: an ``orig.uri`` identity is not the calling TN -> 438."""
    h = signed(pki, payload=claims(orig={"uri": "sip:alice@example.com"}))
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (438, "orig_tn")


@pytest.mark.parametrize(
    ("orig", "dest"), [(None, DEST), (ORIG, None), (None, None)], ids=["no-orig", "no-dest", "none"]
)
def test_numbers_not_given_are_reported_and_not_verified(verifier, good_header, orig, dest):
    """Digest §5.3 step 10, §5.4: without the call's numbers the identity match cannot run, so no
    TN was validated: the verstat is No-TN-Validation (never Passed: a forgotten number must not
    stamp Passed on a possibly replayed PASSporT), "unverified", no error; the signature result
    stays visible (``signature_verified``, the ``signature`` check) and warnings say why."""
    v = verifier.verify(good_header, orig=orig, dest=dest, now=NOW)
    assert v.verstat == "No-TN-Validation", v.error
    assert not v.passed and not v.failed
    assert v.error is None
    assert v.signature_verified
    assert v.attest == "A"
    assert v.caller_id == "unverified"
    assert not v.likely_spoofed
    missing = [w for w in v.warnings if "not compared" in w]
    assert len(missing) == (orig is None) + (dest is None)
    not_compared = [c for c in v.checks if "not compared" in c.detail]
    assert not_compared and not any(c.ok for c in not_compared)


def test_replayed_passport_without_numbers_is_not_passed(verifier, pki):
    """Issue 18 point 3 (attack: replay a PASSporT signed for another call to a screening hook
    that forgot the numbers). The PASSporT is genuine but for other numbers; without orig/dest
    the verdict must not be TN-Validation-Passed."""
    stolen = pki.sign(orig="+12025550100", dest="+12025550101", iat=NOW)
    v = verifier.verify(stolen, now=NOW)
    assert v.verstat != "TN-Validation-Passed"
    assert v.verstat == "No-TN-Validation" and v.caller_id == "unverified"
    # With the numbers of the call it is replayed into, it fails.
    bad = verifier.verify(stolen, orig=ORIG, dest=DEST, now=NOW)
    assert bad.failed and bad.error is not None and bad.error.check == "orig_tn"


def test_wrong_number_is_still_a_failure_when_the_other_is_not_given(verifier, good_header):
    """Compare what was given: a wrong calling number fails (438) even without the called one."""
    v = verifier.verify(good_header, orig="+12025550199", now=NOW)
    assert v.failed and v.error is not None and v.error.check == "orig_tn"
    assert v.signature_verified


# -- the verdict (digest §5.4, §5.5, §9; docs/verdicts.md) --------------------------------------


def test_caller_id_verified_for_attest_a_with_everything_passed(verifier, good_header):
    """Digest §5.4, ATIS-1000081: "verified" only for a Passed result with attestation A."""
    v = verifier.verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    assert (v.verstat, v.attest, v.caller_id, v.likely_spoofed) == (
        "TN-Validation-Passed",
        "A",
        "verified",
        False,
    )
    assert v.error is None
    assert v.passed


@pytest.mark.parametrize("attest", ["B", "C"])
def test_caller_id_unverified_for_attest_b_and_c(pki, verifier, attest):
    """Digest §5.4: B and C are still TN-Validation-Passed, but the caller ID is not vouched
    for -> "unverified"."""
    h = pki.sign(orig=ORIG, dest=DEST, attest=attest, iat=NOW)
    v = verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert (v.verstat, v.attest, v.caller_id, v.likely_spoofed) == (
        "TN-Validation-Passed",
        attest,
        "unverified",
        False,
    )


@pytest.mark.parametrize("identity_value", [None, "", [], ["", "  "]], ids=repr)
def test_caller_id_unverified_without_identity_header(verifier, identity_value):
    """RFC 8224 §6.2 step 1, digest §5.4: no Identity header -> No-TN-Validation, unverified,
    no error (428 only when policy requires a header)."""
    v = verifier.verify(identity_value, orig=ORIG, dest=DEST, now=NOW)
    assert (v.verstat, v.caller_id, v.likely_spoofed, v.error) == (
        "No-TN-Validation",
        "unverified",
        False,
        None,
    )


def test_caller_id_unverified_when_certificate_unavailable_436(pki):
    """RFC 8224 §6.2 step 3 (digest §1.5): the credential cannot be obtained -> 436; that is no
    evidence of forgery, so the caller ID is "unverified", not "likely_spoofed"."""
    v = Verifier(trust_anchors=[pki.root_pem], certificates={})
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=NOW), orig=ORIG, dest=DEST, now=NOW)
    assert _err(verdict) == (436, "x5u_fetch")
    assert verdict.verstat == "TN-Validation-Failed"
    assert (verdict.caller_id, verdict.likely_spoofed) == ("unverified", False)


def test_unusable_certificate_body_is_436(pki):
    """Digest §9: an x5u body that is not a certificate is a fetch failure (436)."""
    v = Verifier(trust_anchors=[pki.root_pem], certificates={pki.x5u: b"<html>oops</html>"})
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=NOW), orig=ORIG, dest=DEST, now=NOW)
    assert verdict.error is not None
    assert verdict.error.sip_code == 436


@pytest.mark.parametrize(
    ("code", "phrase"),
    [
        (403, "Stale Date"),
        (428, "Use Identity Header"),
        (436, "Bad Identity Info"),
        (437, "Unsupported Credential"),
        (438, "Invalid Identity Header"),
    ],
)
def test_error_reason_header_values(pki, rogue_pki, code, phrase):
    """RFC 8224 §13, RFC 3326, RFC 9410 (digest §1.5, §5.5): the error carries the reason phrase
    and ready ``Reason`` header values for the SIP and STIR protocols."""
    rogue_url = "https://cr.example.com/r.pem"
    v = Verifier(
        trust_anchors=[pki.root_pem],
        certificates={**pki.certificates(), rogue_url: rogue_pki.chain_pem},
        policy=Policy(require_identity=True),
    )
    headers = {
        403: pki.sign(orig=ORIG, dest=DEST, iat=NOW - 3600),
        428: None,
        436: pki.sign(orig=ORIG, dest=DEST, iat=NOW, x5u="https://cr.example.com/none.pem"),
        437: rogue_pki.sign(orig=ORIG, dest=DEST, iat=NOW, x5u=rogue_url),
        438: "garbage",
    }
    e = v.verify(headers[code], orig=ORIG, dest=DEST, now=NOW).error
    assert e is not None
    assert (e.sip_code, e.reason) == (code, phrase)
    assert e.reason_sip == f'SIP ;cause={code} ;text="{phrase}"'
    assert e.reason_stir == f'STIR ;cause={code} ;text="{phrase}"'
    assert e.detail


def _verdict_zoo(pki, rogue_pki, verifier):
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    return [
        verifier.verify(h, orig=ORIG, dest=DEST, now=NOW),
        verifier.verify(h, now=NOW),
        verifier.verify(None, now=NOW),
        verifier.verify("garbage;info=<https://a.example/>", now=NOW),
        verifier.verify(h, orig="+19999999999", dest=DEST, now=NOW),
        verifier.verify(signed(pki, key=rogue_pki.leaf_key), orig=ORIG, dest=DEST, now=NOW),
        verifier.verify(pki.sign(orig=ORIG, dest=DEST, iat=NOW, attest="C"), now=NOW),
        verifier.verify(
            pki.sign(orig=ORIG, dest=DEST, iat=NOW, x5u="https://x.example/y"),
            orig=ORIG,
            dest=DEST,
            now=NOW,
        ),
        verifier.verify(pki.sign(orig=ORIG, dest=DEST, iat=NOW - 999), orig=ORIG, now=NOW),
    ]


def test_likely_spoofed_flag_matches_caller_id(pki, rogue_pki, verifier):
    """docs/verdicts.md: ``likely_spoofed`` is true exactly when ``caller_id`` is
    "likely_spoofed"; ``passed`` exactly when verstat is TN-Validation-Passed; an error is
    present exactly when verification failed (or 428)."""
    zoo = _verdict_zoo(pki, rogue_pki, verifier)
    assert {v.caller_id for v in zoo} == {"verified", "unverified", "likely_spoofed"}
    for v in zoo:
        assert v.likely_spoofed == (v.caller_id == "likely_spoofed")
        assert v.passed == (v.verstat == "TN-Validation-Passed")
        assert (v.error is not None) == (v.verstat == "TN-Validation-Failed")
        if v.caller_id == "verified":
            assert v.passed
            assert v.attest == "A"


def test_verdict_json_round_trip(pki, rogue_pki, verifier):
    """Digest §9: the verdict is data: ``model_dump_json`` and ``Verdict.model_validate_json``
    round-trip every kind of verdict (with error, signer, checks and warnings)."""
    for v in _verdict_zoo(pki, rogue_pki, verifier):
        text = v.model_dump_json()
        json.loads(text)
        back = Verdict.model_validate_json(text)
        assert back == v
        assert back.model_dump() == v.model_dump()


def test_verdict_is_frozen(verifier, good_header):
    """docs/verdicts.md: a verdict is immutable (it may be cached and shared)."""
    v = verifier.verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    with pytest.raises((pydantic.ValidationError, TypeError, AttributeError)):
        v.caller_id = "likely_spoofed"
    assert v.signer is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.signer.spc = "666F"  # type: ignore[misc]
    failed = verifier.verify(good_header, orig="+19999999999", dest=DEST, now=NOW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        failed.error.sip_code = 200  # type: ignore[misc, union-attr]


def test_verdict_carries_traceback_data(pki, verifier, good_header):
    """Digest §5.3 step 11, §9: attestation, origid, numbers, iat, ppt, x5u, SPC and certificate
    subject are in the verdict; ``checks`` lists every step that ran, in order."""
    v = verifier.verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    assert (v.origid, v.orig_tn, v.dest_tns, v.iat, v.ppt) == (
        ORIGID,
        ORIG_TN,
        [DEST_TN],
        NOW,
        "shaken",
    )
    assert v.signer is not None
    assert (v.signer.x5u, v.signer.spc) == (pki.x5u, "123A")
    assert "SHAKEN 123A" in v.signer.subject
    assert v.signer.organization == "Example Telecom"
    names = [c.name for c in v.checks]
    assert names == [
        "identity_header",
        "passport_decode",
        "passport_header",
        "passport_claims",
        "freshness",
        "x5u_fetch",
        "certificate_chain",
        *(["crl"] if "crl" in names else []),
        "signature",
        "orig_tn",
        "dest_tn",
    ]
    assert all(c.ok for c in v.checks)


def test_failed_verdict_names_the_failing_check_last(verifier, good_header):
    """Digest §5.3: the first failing step decides; it is the last entry of ``checks``."""
    v = verifier.verify(good_header, orig=ORIG, dest="+19999999999", now=NOW)
    assert v.checks[-1].name == "dest_tn"
    assert not v.checks[-1].ok
    assert all(c.ok for c in v.checks[:-1])


# -- several headers and ppt selection (RFC 8224 §6.2 step 1; digest §1.1, §5.3 step 2) ---------


@pytest.mark.parametrize(
    "bad",
    ['junk, "unterminated', "x, <unterminated", "a.b.c;info=<https://a.example/>, " * 1000, 5],
    ids=["quote", "angle", "oversized", "not-text"],
)
def test_malformed_header_does_not_veto_a_good_one(verifier, good_header, bad):
    """RFC 8224 §6.2 step 1 (digest §1.1, §10 item 18): each header is verified independently;
    the request passes if any header passes, whatever is wrong with the others."""
    v = verifier.verify([bad, good_header], orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error


@pytest.mark.parametrize("good_first", [True, False])
def test_one_bad_one_good_header_passes(pki, rogue_pki, verifier, good_header, good_first):
    """RFC 8224 §6.2 step 1 (digest §10 item 18): the request passes if ANY header passes."""
    bad = signed(pki, key=rogue_pki.leaf_key)
    headers = [good_header, bad] if good_first else [bad, good_header]
    v = verifier.verify(headers, orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert v.caller_id == "verified"
    joined = verifier.verify(", ".join(headers), orig=ORIG, dest=DEST, now=NOW)
    assert joined.verstat == "TN-Validation-Passed", joined.error


def test_best_attestation_wins(pki, verifier):
    """Digest §5.3 (several SHAKEN headers): report the best result."""
    b = pki.sign(orig=ORIG, dest=DEST, attest="B", iat=NOW)
    a = pki.sign(orig=ORIG, dest=DEST, attest="A", iat=NOW)
    v = verifier.verify([b, a], orig=ORIG, dest=DEST, now=NOW)
    assert (v.attest, v.caller_id) == ("A", "verified")


def test_all_headers_bad_first_failure_decides(pki, verifier):
    """RFC 8224 §6.2 step 1: 4xx only when no header succeeded; the first failure is reported."""
    stale = pki.sign(orig=ORIG, dest=DEST, iat=NOW - 3600)
    v = verifier.verify([stale, "garbage"], orig=ORIG, dest=DEST, now=NOW)
    assert _err(v) == (403, "freshness")


def _div_header(pki):
    hdr = jose(pki.x5u, ppt="div")
    payload = {
        "dest": {"tn": [DEST_TN]},
        "div": {"tn": "12155550000"},
        "iat": NOW,
        "orig": {"tn": ORIG_TN},
    }
    return signed(pki, header=hdr, payload=payload, ppt="div")


def _rph_header(pki):
    payload = {"dest": {"tn": [DEST_TN]}, "iat": NOW, "orig": {"tn": ORIG_TN},
               "rph": {"auth": ["ets.0"]}}
    return signed(pki, header=jose(pki.x5u, ppt="rph"), payload=payload, ppt="rph")


@pytest.mark.parametrize("where", ["param-and-token", "token-only"])
def test_unsupported_ppt_skipped(pki, where):
    """RFC 8224 §6.2 step 1, digest §1.2/§5.3 step 2: a header whose ``ppt`` is not supported
    (``rph``, RFC 8443) is skipped, not failed -> No-TN-Validation; no certificate is fetched."""
    src = _NoFetch()
    v = Verifier(trust_anchors=[pki.root_pem], source=src)
    h = _rph_header(pki)
    if where == "token-only":
        h = h.replace(";ppt=rph", "")
    verdict = v.verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert (verdict.verstat, verdict.caller_id, verdict.error) == (
        "No-TN-Validation",
        "unverified",
        None,
    )
    assert verdict.ppt == "rph"
    assert src.calls == 0


def test_unsupported_ppt_next_to_a_good_shaken_header(pki, verifier, good_header):
    """RFC 8224 §6.2 step 1: an ``rph`` header next to the ``shaken`` one is skipped."""
    v = verifier.verify([_rph_header(pki), good_header], orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert v.ppt == "shaken"


def test_div_that_continues_nothing_next_to_a_passing_shaken_header(pki, verifier, good_header):
    """RFC 8946, RFC 8224 §6.2 step 1: the SHAKEN header matched the called number itself; a
    div header that continues none of its numbers is listed ``unlinked``, nothing more."""
    v = verifier.verify([_div_header(pki), good_header], orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert v.ppt == "shaken" and v.caller_id == "verified"
    assert [(d.result, d.div_tn, d.header) for d in v.diversion] == [("unlinked", "12155550000", 0)]
    assert not v.diverted


@pytest.mark.parametrize("identity_value", [None, "", []], ids=repr)
def test_policy_require_identity_gives_428(pki, identity_value):
    """RFC 8224 §6.2 step 1 (digest §1.5): no Identity header and local policy requires one ->
    428 Use Identity Header."""
    v = pki.verifier(policy=Policy(require_identity=True))
    verdict = v.verify(identity_value, orig=ORIG, dest=DEST, now=NOW)
    assert verdict.verstat == "No-TN-Validation"
    assert verdict.error is not None
    assert verdict.error.sip_code == 428
    assert verdict.caller_id == "unverified"


def test_policy_require_identity_gives_428_when_only_unsupported_ppt(pki):
    """RFC 8224 §6.2 step 1: ignore headers with an unsupported ``ppt`` (``rph``, RFC 8443; not
    ``div``, which is supported since RFC 8946 support); if none remain and policy requires one
    -> 428, No-TN-Validation, and no certificate is fetched."""
    src = _NoFetch()
    v = Verifier(trust_anchors=[pki.root_pem], source=src,
                 policy=Policy(require_identity=True))
    for headers in (_rph_header(pki), [_rph_header(pki), _rph_header(pki)]):
        verdict = v.verify(headers, orig=ORIG, dest=DEST, now=NOW)
        assert verdict.verstat == "No-TN-Validation" and verdict.caller_id == "unverified"
        assert verdict.error is not None
        assert (verdict.error.sip_code, verdict.error.check) == (428, "identity_present")
        assert verdict.ppt == "rph"
    assert src.calls == 0


def test_div_alone_is_no_tn_validation_and_not_an_unsupported_ppt(pki, verifier):
    """RFC 8946 §4: ``div`` is supported; alone (without the SHAKEN PASSporT it continues) the
    call has no TN validated: No-TN-Validation with a failed ``div_chain`` check, and the div
    header verified on its own (listed ``unlinked``)."""
    verdict = verifier.verify(_div_header(pki), orig=ORIG, dest=DEST, now=NOW)
    assert (verdict.verstat, verdict.caller_id, verdict.error) == (
        "No-TN-Validation", "unverified", None)
    assert verdict.ppt == "div"
    assert ("div_chain", False) in [(c.name, c.ok) for c in verdict.checks]
    assert [d.result for d in verdict.diversion] == ["unlinked"]
    assert [h.verstat for h in verdict.headers] == ["TN-Validation-Passed"]


def test_require_identity_does_not_change_a_verified_call(pki, good_header):
    """Policy only matters when no usable header is present."""
    v = pki.verifier(policy=Policy(require_identity=True))
    assert v.verify(good_header, orig=ORIG, dest=DEST, now=NOW).caller_id == "verified"


# -- async twin ------------------------------------------------------------------------------------


def _scenarios(pki, rogue_pki):
    good = pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    return {
        "verified": (good, ORIG, DEST),
        "attest-b": (pki.sign(orig=ORIG, dest=DEST, attest="B", iat=NOW), ORIG, DEST),
        "no-header": (None, ORIG, DEST),
        "stale": (pki.sign(orig=ORIG, dest=DEST, iat=NOW - 3600), ORIG, DEST),
        "forged": (signed(pki, key=rogue_pki.leaf_key), ORIG, DEST),
        "mismatch": (good, "+19999999999", DEST),
        "fetch": (pki.sign(orig=ORIG, dest=DEST, iat=NOW, x5u="https://x.example/y"), ORIG, DEST),
        "malformed": ("garbage", ORIG, DEST),
        "several": ([signed(pki, key=rogue_pki.leaf_key), good], ORIG, DEST),
        "div": (_div_header(pki), ORIG, DEST),
    }


@pytest.mark.parametrize(
    "name",
    [
        "verified",
        "attest-b",
        "no-header",
        "stale",
        "forged",
        "mismatch",
        "fetch",
        "malformed",
        "several",
        "div",
    ],
)
async def test_averify_gives_the_same_verdict_as_verify(pki, rogue_pki, name):
    """``averify`` is the async twin of ``verify``: same inputs, same verdict."""
    header, orig, dest = _scenarios(pki, rogue_pki)[name]
    sync = pki.verifier().verify(header, orig=orig, dest=dest, now=NOW)
    asyn = await pki.verifier().averify(header, orig=orig, dest=dest, now=NOW)
    assert asyn.model_dump() == sync.model_dump()


# -- hostile input never raises (digest §10 item 22) --------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        [None],
        [b"eyJ.eyJ.sig;info=<https://a.example/>"],
        ["", 5],
        [object()],
        "x" * 1_000_000,
        "a.b.c;info=<https://a.example/>;p=" + "x" * 1_000_000,
        ("a.b.c;info=<https://a.example/>, " * 40_000),
        "\x00\x01\x02",
        ",,,",
        ";;;",
        "<<<>>>",
        '"',
        "..",
        "...",
        "a.b.c;info=<",
        "a.b.c;info=<https://a.example/>;info",
        "Identity:",
        "y:",
        "\r\n \r\n ",
    ],
    ids=lambda v: repr(v)[:30],
)
def test_bad_input_never_raises(verifier, value):
    """``verify`` never raises on bad input, and the verdict is the documented one: a value
    that is not an Identity header is 438 ``identity_header`` (likely spoofed); one with no
    header in it at all (only separators or whitespace) is No-TN-Validation."""
    v = verifier.verify(value, orig=ORIG, dest=DEST, now=NOW)
    assert isinstance(v, Verdict)
    if value in (",,,", "\r\n \r\n "):
        assert (v.verstat, v.caller_id, v.error) == ("No-TN-Validation", "unverified", None)
        assert v.headers == []
    else:
        assert v.failed and v.likely_spoofed and v.caller_id == "likely_spoofed"
        assert v.error is not None
        assert (v.error.sip_code, v.error.check) == (438, "identity_header")
        assert v.error.reason_sip == 'SIP ;cause=438 ;text="Invalid Identity Header"'
        assert not v.signature_verified and v.signer is None
    Verdict.model_validate_json(v.model_dump_json())  # and it serializes


def test_random_bytes_as_latin1_never_raise(pki, verifier, good_header):
    """Random bytes decoded as latin-1 (any code point 0-255), alone, spliced into a real
    header, or next to it, never make ``verify`` raise or pass."""
    rnd = random.Random(8224)
    params = good_header.partition(";")[2]
    for _ in range(300):
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))).decode("latin-1")
        cut = rnd.randrange(len(good_header))
        for value in (junk, good_header[:cut] + junk + good_header[cut + 1 :], f"{junk};{params}"):
            v = verifier.verify(value, orig=ORIG, dest=DEST, now=NOW)
            assert isinstance(v, Verdict)
            assert not v.passed, value
            # Failed with an RFC 8224 code and a check name, or no header found at all.
            if v.failed:
                assert v.error is not None and v.error.sip_code in (403, 436, 437, 438)
                assert v.error.check and v.error.detail
            else:
                assert v.verstat == "No-TN-Validation" and v.error is None
                assert not v.signature_verified
        v = verifier.verify([junk, good_header], orig=ORIG, dest=DEST, now=NOW)
        assert v.passed, junk  # a junk extra header never vetoes the good one


def test_non_text_identity_value_never_raises(verifier):
    """``verify`` never raises on bad input, whatever its type."""
    v = verifier.verify(12345, orig=ORIG, dest=DEST, now=NOW)  # type: ignore[arg-type]
    assert v.verstat == "TN-Validation-Failed"


def test_non_text_numbers_never_raise(verifier, good_header):
    """``verify`` never raises on bad input: an int is read as its digits (the same TN);
    anything else that is not text is a number no TN matches (438 ``orig_tn``/``dest_tn``)."""
    v = verifier.verify(good_header, orig=12155551212, dest=DEST, now=NOW)  # type: ignore[arg-type]
    assert v.caller_id == "verified", v.error
    for bad in (1.5, b"12155551212", ["12155551212"], True):
        v = verifier.verify(good_header, orig=bad, dest=DEST, now=NOW)  # type: ignore[arg-type]
        assert v.failed and v.error is not None and v.error.check == "orig_tn", bad
        v = verifier.verify(good_header, orig=ORIG, dest=bad, now=NOW)  # type: ignore[arg-type]
        assert v.failed and v.error is not None and v.error.check == "dest_tn", bad


def test_huge_integer_iat_never_raises(pki, verifier):
    """RFC 8225 §5.1.1: an absurd ``iat`` is stale (403) or invalid (438); it never raises."""
    h = signed(pki, payload=claims(iat=10**400))
    v = verifier.verify(h, orig=ORIG, dest=DEST, now=float(NOW))
    assert v.verstat == "TN-Validation-Failed"


def test_identity_with_unicode_and_controls_is_438(pki, verifier):
    """RFC 8224 errata 6499: anything outside base64url in the token -> 438, not an exception."""
    for value in ("é.b.c;info=<https://a.example/>", "a\u2028.b.c;info=<https://a.example/>"):
        assert _err(verifier.verify(value, orig=ORIG, dest=DEST, now=NOW))[0] == 438


@pytest.mark.parametrize("empty", ["", "   "])
def test_empty_number_counts_as_not_given(pki, verifier, empty):
    """An empty calling or called number is a number not given: not compared (so not
    "verified"), and no evidence of spoofing."""
    h = pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    for kw in ({"orig": empty, "dest": DEST}, {"orig": ORIG, "dest": empty}):
        v = verifier.verify(h, now=NOW, **kw)
        assert v.verstat == "No-TN-Validation" and v.caller_id == "unverified"
        assert v.signature_verified and not v.likely_spoofed
        assert any("not compared" in c.detail for c in v.checks)


def test_header_result_of_a_verdict_equals_the_constructed_one():
    """HeaderResult.of fills the frozen slots directly (one per header of every call): it is
    the object the dataclass constructor builds from the verdict, and frozen."""
    import time

    from shakenkit.core.verdict import HeaderResult
    from shakenkit.testing import make_pki

    pki = make_pki(crl_url=None)
    now = int(time.time())
    verdict = pki.verifier().verify(pki.sign(orig=ORIG, dest=DEST, iat=now), orig=ORIG,
                                    dest=DEST, now=now)
    got = verdict.headers[0]
    assert type(got) is HeaderResult
    assert got == HeaderResult(0, verdict.ppt, verdict.verstat, verdict.caller_id,
                               verdict.attest, verdict.error, verdict.signer)
    assert got.passed and got.signer is not None and got.attest == "A"
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.attest = "C"  # type: ignore[misc]
