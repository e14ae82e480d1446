"""Diverted calls: ``div`` PASSporTs linked to the SHAKEN PASSporT they continue (RFC 8946;
standards digest §7.1; docs/verdicts.md "Diverted calls").

The call A -> B is forwarded by B's carrier (SPC 456B, its own x5u) to C, then maybe to D. Each
test names the rule it checks."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shakenkit import Policy, Verdict, Verifier
from shakenkit.core.div import Retargeting, embedded_original, is_div_value
from shakenkit.core.passport import decode_passport
from shakenkit.testing import TestPKI, make_pki, sign_div

NOW = 1_767_225_600
A, B, C, D = "12155551212", "12155551213", "12155551214", "12155551215"
X5U_B = "https://cr.carrier-b.example/456B.pem"


@pytest.fixture(scope="module")
def world() -> tuple[TestPKI, TestPKI]:
    pki = make_pki(not_before=NOW - 86_400, not_after=NOW + 300 * 86_400)
    other = pki.carrier(spc="456B", x5u=X5U_B, organization="Carrier B")
    return pki, other


@pytest.fixture()
def verifier(world: tuple[TestPKI, TestPKI]) -> Verifier:
    return world[0].verifier()


def shaken(world: tuple[TestPKI, TestPKI], dest: str = B, **kw: Any) -> str:
    return world[0].sign(orig="+" + A, dest=dest, iat=NOW - 2, **kw)


def div(world: tuple[TestPKI, TestPKI], frm: str, to: str, **kw: Any) -> str:
    kw.setdefault("iat", NOW - 1)
    kw.setdefault("orig", "+" + A)
    return world[1].sign_div(div=frm, dest=to, **kw)


def check(v: Verdict, name: str) -> tuple[bool, str]:
    c = next(c for c in v.checks if c.name == name)
    return c.ok, c.detail


def err(v: Verdict) -> tuple[int, str] | None:
    return None if v.error is None else (v.error.sip_code, v.error.check)


# -- the chain holds -----------------------------------------------------------------------------


def test_forwarded_call_a_b_c_passes_with_the_shaken_attestation(world, verifier) -> None:
    """RFC 8946 §3-§4: shaken A->B plus div B->C; the call arrives for C and passes; caller_id
    stays the SHAKEN attestation's answer; the link names the retargeting carrier."""
    v = verifier.verify([shaken(world), div(world, B, C)], orig=A, dest=C, now=NOW)
    assert (v.verstat, v.attest, v.caller_id, v.error) == (
        "TN-Validation-Passed", "A", "verified", None)
    assert v.diverted and v.ppt == "shaken" and v.dest_tns == [B]
    (link,) = v.diversion
    assert (link.result, link.position, link.header, link.div_tn, link.dest_tns) == (
        "valid", 1, 1, B, [C])
    assert link.signer is not None and (link.signer.spc, link.signer.organization) == (
        "456B", "Carrier B")
    assert v.signer is not None and v.signer.spc == "123A"  # the SHAKEN signer
    assert check(v, "dest_tn")[0] and check(v, "div_chain") == (
        True, "1 div link(s) verified and chained")


def test_b_attested_forwarded_call_stays_unverified(world, verifier) -> None:
    """The chain never raises the attestation: B stays ``unverified`` (RFC 8588 §4)."""
    v = verifier.verify([shaken(world, attest="B"), div(world, B, C)], orig=A, dest=C, now=NOW)
    assert (v.verstat, v.attest, v.caller_id) == ("TN-Validation-Passed", "B", "unverified")


def test_two_retargetings_a_b_c_d(world, verifier) -> None:
    """Nested diversions form a chain: div B->C then div C->D, in any header order."""
    headers = [div(world, C, D), shaken(world), div(world, B, C)]
    v = verifier.verify(headers, orig=A, dest=D, now=NOW)
    assert v.caller_id == "verified", v.error
    assert [(lk.position, lk.header, lk.div_tn, lk.result) for lk in v.diversion] == [
        (1, 2, B, "valid"), (2, 0, C, "valid")]


def test_to_kept_request_uri_retargeted_through_verify_sip(world, verifier) -> None:
    """To kept as B, Request-URI C (SHAKEN matches To itself): passes, the link is listed and
    reaches the Request-URI (standards digest §10 item 20)."""
    msg = invite(world, to=B, ruri=C, identity=[shaken(world), div(world, B, C)])
    v = verifier.verify_sip(msg, now=NOW)
    assert v.caller_id == "verified" and v.diverted
    assert [lk.result for lk in v.diversion] == ["valid"]


def test_history_info_agrees(world, verifier) -> None:
    """RFC 7044: History-Info lists B then C; the cross-check passes."""
    msg = invite(world, to=C, ruri=C, identity=[shaken(world), div(world, B, C)],
                 extra=[f"History-Info: <sip:+{B}@b.example>;index=1",
                        f"History-Info: <sip:+{C}@c.example;cause=302>;index=1.1"])
    v = verifier.verify_sip(msg, now=NOW)
    assert v.caller_id == "verified"
    assert check(v, "div_history") == (True, "History-Info/Diversion agree with the div chain")


def test_diversion_header_disagrees_only_warns(world, verifier) -> None:
    """RFC 5806 Diversion is unsigned: a disagreement is a warning and a failed check, never the
    outcome."""
    msg = invite(world, to=C, ruri=C, identity=[shaken(world), div(world, B, C)],
                 extra=[f"Diversion: <sip:+{D}@x.example>;reason=unconditional"])
    v = verifier.verify_sip(msg, now=NOW)
    assert v.caller_id == "verified"
    ok, detail = check(v, "div_history")
    assert not ok and B in detail and any("History-Info/Diversion" in w for w in v.warnings)


def test_div_o_carries_the_original_in_opt(world, verifier) -> None:
    """RFC 8946 §5: a div-o PASSporT carries the original PASSporT in ``opt``; alone in the
    call it is enough: the embedded original is verified like any header."""
    original = shaken(world)
    h = div(world, B, C, opt=original)
    assert is_div_value(h) and "ppt=div-o" in h
    assert embedded_original(h) is not None
    v = verifier.verify(h, orig=A, dest=C, now=NOW)
    assert v.caller_id == "verified", v.error
    assert v.ppt == "shaken" and [lk.ppt for lk in v.diversion] == ["div-o"]
    assert v.diversion[0].header == 0


async def test_averify_links_the_same_way(world) -> None:
    headers = [shaken(world), div(world, B, C)]
    sync = world[0].verifier().verify(headers, orig=A, dest=C, now=NOW)
    asyn = await world[0].verifier().averify(headers, orig=A, dest=C, now=NOW)
    assert asyn.model_dump() == sync.model_dump()


# -- broken links ----------------------------------------------------------------------------------


def test_div_signed_by_an_untrusted_key_fails_with_437(world) -> None:
    """A div signer's certificate is checked like a SHAKEN signer's (RFC 8224 §6.2 step 3):
    untrusted root -> 437 on that link, likely spoofed."""
    rogue = make_pki(x5u="https://cr.rogue.example/666X.pem", spc="666X",
                     not_before=NOW - 86_400, not_after=NOW + 300 * 86_400)
    v = world[0].verifier(
        certificates={**world[0].certificates(), rogue.x5u: rogue.chain_pem}
    ).verify(
        [shaken(world), rogue.sign_div(orig="+" + A, div=B, dest=C, iat=NOW)],
        orig=A, dest=C, now=NOW)
    assert err(v) == (437, "div_certificate_chain") and v.likely_spoofed
    assert v.attest == "A" and v.signer is not None and v.signer.spc == "123A"
    (link,) = v.diversion
    assert link.result == "failed" and link.error is not None
    assert link.error.detail.startswith(f"link 1 ({B} -> {C}): ")


def test_div_with_a_forged_signature_fails_with_438(world, verifier) -> None:
    """RFC 8224 §6.2 step 5 on the link: a key other than the certificate's -> 438."""
    forged = sign_div(ec.generate_private_key(ec.SECP256R1()), x5u=X5U_B, orig=A, div=B,
                      dest=C, iat=NOW)
    v = verifier.verify([shaken(world), forged], orig=A, dest=C, now=NOW)
    assert err(v) == (438, "div_signature") and v.caller_id == "likely_spoofed"


def test_stale_div_fails_with_403(world, verifier) -> None:
    """RFC 8224 §6.2 step 4 on the link: iat an hour old -> 403."""
    v = verifier.verify([shaken(world), div(world, B, C, iat=NOW - 3600)], orig=A, dest=C, now=NOW)
    assert err(v) == (403, "div_freshness") and v.likely_spoofed


def test_div_certificate_unreachable_is_436_not_evidence(world, verifier) -> None:
    """436 on a link is no evidence of forgery (as for SHAKEN): unverified."""
    h = div(world, B, C, x5u="https://cr.nowhere.example/x.pem")
    v = verifier.verify([shaken(world), h], orig=A, dest=C, now=NOW)
    assert err(v) == (436, "div_x5u_fetch") and v.caller_id == "unverified"


def test_div_orig_other_than_the_calling_number_fails(world, verifier) -> None:
    """RFC 8946 §3: ``orig`` is copied from the original PASSporT."""
    v = verifier.verify([shaken(world), div(world, B, C, orig="+12025550100")], orig=A, dest=C,
                        now=NOW)
    assert err(v) == (438, "div_orig_tn") and v.likely_spoofed


def test_div_whose_div_tn_does_not_match_leaves_the_dest_mismatch(world, verifier) -> None:
    """A div for another number (D -> C) continues nothing: the SHAKEN dest mismatch stands
    (438 dest_tn, likely spoofed) and the link is ``unlinked``."""
    v = verifier.verify([shaken(world), div(world, D, C)], orig=A, dest=C, now=NOW)
    assert err(v) == (438, "dest_tn") and v.likely_spoofed
    assert [lk.result for lk in v.diversion] == ["unlinked"]
    assert check(v, "div_chain") == (False, f"no div PASSporT continues the chain from {B}")


def test_missing_middle_link(world, verifier) -> None:
    """A -> B -> C -> D with only the C -> D link: the chain breaks at B."""
    v = verifier.verify([shaken(world), div(world, C, D)], orig=A, dest=D, now=NOW)
    assert err(v) == (438, "dest_tn")
    assert not v.diverted and v.diversion[0].result == "unlinked"


def test_loop_is_refused(world, verifier) -> None:
    """B -> C -> B never reaches D: the link back to B is a ``loop`` (438, likely spoofed)."""
    v = verifier.verify([shaken(world), div(world, B, C), div(world, C, B)], orig=A, dest=D,
                        now=NOW)
    assert err(v) == (438, "div_loop") and v.likely_spoofed
    assert [lk.result for lk in v.diversion] == ["valid", "loop"]


def test_chain_deeper_than_max_div_depth(world) -> None:
    """Policy.max_div_depth bounds the chain: a longer one fails 438 div_chain, unverified (a
    local limit, not evidence)."""
    nums = [B, C, D, "12155551216"]
    headers = [shaken(world)] + [div(world, a, b) for a, b in itertools.pairwise(nums)]
    v = world[0].verifier(policy=Policy(max_div_depth=2)).verify(
        headers, orig=A, dest=nums[-1], now=NOW)
    assert err(v) == (438, "div_chain") and v.caller_id == "unverified"
    assert [lk.result for lk in v.diversion] == ["valid", "valid", "beyond_depth"]
    assert world[0].verifier().verify(headers, orig=A, dest=nums[-1], now=NOW).passed


# -- div alone, malformed div --------------------------------------------------------------------


def test_div_alone_without_shaken_is_no_validation(world, verifier) -> None:
    """RFC 8946 §4: a div PASSporT continues an original one; alone it vouches for nobody's
    caller ID: No-TN-Validation (428 with require_identity)."""
    h = div(world, B, C)
    v = verifier.verify(h, orig=A, dest=C, now=NOW)
    assert (v.verstat, v.caller_id, v.error, v.ppt) == ("No-TN-Validation", "unverified", None,
                                                       "div")
    assert check(v, "div_chain")[0] is False and v.diversion[0].result == "unlinked"
    strict = world[0].verifier(policy=Policy(require_identity=True)).verify(h, orig=A, dest=C,
                                                                           now=NOW)
    assert err(strict) == (428, "identity_present")


def test_broken_div_alone_gives_its_failure(world, verifier) -> None:
    """A div header that is itself provably wrong fails like any header (RFC 8224 §6.2)."""
    forged = sign_div(ec.generate_private_key(ec.SECP256R1()), x5u=X5U_B, orig=A, div=B,
                      dest=C, iat=NOW)
    assert err(verifier.verify(forged, orig=A, dest=C, now=NOW)) == (438, "signature")


def test_div_claim_missing_is_438(world, verifier) -> None:
    h = world[1].sign(orig=A, dest=C, iat=NOW, ppt="div")  # ppt div, no div claim
    v = verifier.verify([shaken(world), h], orig=A, dest=C, now=NOW)
    assert err(v) == (438, "dest_tn")
    assert v.diversion[0].result == "failed" and v.diversion[0].error is not None
    assert v.diversion[0].error.check == "div_passport_claims"


def test_compact_div_is_438(world, verifier) -> None:
    """RFC 8946 §3: div PASSporTs MUST use the full form."""
    token = div(world, B, C).split(";")[0].split(".")
    compact = f"..{token[2]};info=<{X5U_B}>;ppt=div"
    assert err(verifier.verify(compact, orig=A, dest=C, now=NOW)) == (438, "compact_form")


# -- property: sign_div round trip and chain -------------------------------------------------------

_tn = st.from_regex(r"1[2-9][0-9]{9}", fullmatch=True)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=_tn, b=_tn, c=_tn, iat=st.integers(NOW - 50, NOW + 50))
def test_div_round_trip_and_chain(world, a: str, b: str, c: str, iat: int) -> None:
    """Hypothesis: a div PASSporT decodes to what was signed (RFC 8946 §3 claims), and a
    shaken a->b plus div b->c verifies for c whenever the numbers differ."""
    h = world[1].sign_div(orig=a, div=b, dest=c, iat=iat)
    p = decode_passport(h.split(";")[0])
    assert p.header.ppt == "div" and p.claims.extra["div"] == {"tn": b}
    assert (p.claims.orig_tn, p.claims.dest_tns, p.claims.iat) == (a, (c,), iat)
    if len({a, b, c}) == 3:
        v = world[0].verifier().verify(
            [world[0].sign(orig=a, dest=b, iat=iat), h], orig=a, dest=c, now=NOW)
        assert v.passed and v.diverted, v.error


# -- helpers -------------------------------------------------------------------------------------


def invite(world, *, to: str, ruri: str, identity: list[str], extra: list[str] = ()) -> bytes:
    lines = [
        f"INVITE sip:+{ruri}@c.example;user=phone SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1",
        f"From: <sip:+{A}@a.example;user=phone>;tag=1",
        f"To: <sip:+{to}@b.example;user=phone>",
        "Call-ID: div-1@a.example",
        "CSeq: 1 INVITE",
        *[f"Identity: {h}" for h in identity],
        *extra,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_retargeting_of_message_reads_request_uri_history_and_diversion(world) -> None:
    from shakenkit.sip import parse_sip

    msg = parse_sip(invite(world, to=B, ruri=C, identity=[],
                           extra=[f"History-Info: <sip:+{B}@b>;index=1, <tel:+{C}>;index=1.1",
                                  f"Diversion: <sip:+{B}@b>;reason=no-answer"]))
    assert Retargeting.of_message(msg) == Retargeting(C, (B, C), (B,))
