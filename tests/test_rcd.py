"""Rich Call Data: ``rcd``, ``rcdi``, ``crn`` (RFC 9795; standards digest §7.2), the JSON
Canonicalization Scheme it digests JSON with (RFC 8785), and the rule that rcd never changes
the SHAKEN outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shakenkit import FetchPolicy, HttpsSource, Policy, Verifier
from shakenkit.core.rcd import jcs, rcd_digest, rcd_steps
from shakenkit.testing import TestPKI, make_pki, rcd_claims

try:
    from tests.https_server import HttpsServer, https_server
except ImportError:  # pragma: no cover
    from https_server import HttpsServer, https_server  # type: ignore[no-redef]  # noqa: F401

NOW = 1_767_225_600
A, B = "12155551212", "12155551213"
ICN = "https://brand.example/logo.png"
JCL = "https://brand.example/card.json"
LOGO = b"\x89PNG\r\n\x1a\n fake logo bytes"
CARD = ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Q Branch"]]]


@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return make_pki(not_before=NOW - 86_400, not_after=NOW + 300 * 86_400)


def sign(pki: TestPKI, extra: dict[str, Any], **kw: Any) -> str:
    return pki.sign(orig=A, dest=B, iat=NOW, extra_claims=extra, **kw)


def run(steps: Any, answers: dict[str, Any]) -> Any:
    """Drive an rcd_steps generator with fixed answers (sans-IO)."""
    try:
        req = next(steps)
        while True:
            req = steps.send(answers.get(req.url, Exception("no content")))
    except StopIteration as done:
        return done.value


# -- verdicts ------------------------------------------------------------------------------------


def test_rcd_with_correct_rcdi_is_verified(pki) -> None:
    """RFC 9795: the icn content matches its ``/icn`` digest; ``nam`` is the display name."""
    extra = rcd_claims(nam="Q Branch", icn=ICN, crn="Gadget pickup", content={ICN: LOGO})
    v = pki.verifier(rcd_content={ICN: LOGO}).verify(sign(pki, extra), orig=A, dest=B, now=NOW)
    assert v.caller_id == "verified"
    r = v.rcd
    assert r is not None and (r.integrity, r.display_name, r.nam, r.crn, r.icn) == (
        "verified", "Q Branch", "Q Branch", "Gadget pickup", ICN)
    assert [(d.pointer, d.ok) for d in r.digests] == [("/icn", True)]
    assert r.source == "shaken"


def test_tampered_content_fails_integrity_not_the_call(pki) -> None:
    """The logo at icn changed after signing: integrity failed, no display name, and the SHAKEN
    outcome is untouched (rcd never changes it)."""
    extra = rcd_claims(nam="Q Branch", icn=ICN, content={ICN: LOGO})
    v = pki.verifier(rcd_content={ICN: LOGO + b"!"}).verify(sign(pki, extra), orig=A, dest=B,
                                                              now=NOW)
    assert (v.verstat, v.caller_id, v.error) == ("TN-Validation-Passed", "verified", None)
    assert v.rcd is not None and (v.rcd.integrity, v.rcd.display_name) == ("failed", None)
    assert v.rcd.digests[0].ok is False and "does not match" in v.rcd.digests[0].detail


def test_tampered_rcdi_digest_fails(pki) -> None:
    extra = rcd_claims(nam="Q", jcd=CARD)
    extra["rcdi"]["/jcd"] = rcd_digest(b"something else")
    v = pki.verifier().verify(sign(pki, extra), orig=A, dest=B, now=NOW)
    assert v.rcd is not None and v.rcd.integrity == "failed" and v.passed


def test_inline_jcard_digest_over_jcs(pki) -> None:
    """``/jcd`` is digested over its JCS form (RFC 8785): no fetch needed."""
    v = pki.verifier().verify(sign(pki, rcd_claims(nam="Q", jcd=CARD)), orig=A, dest=B, now=NOW)
    assert v.rcd is not None and v.rcd.integrity == "verified" and v.rcd.jcd == CARD


def test_content_not_fetched_by_default_is_incomplete(pki) -> None:
    """Fetching rcd content is off by default (Policy.fetch_rcd): the digest is unchecked and
    integrity ``incomplete``; the signed name is still shown."""
    extra = rcd_claims(nam="Q Branch", icn=ICN, content={ICN: LOGO})
    v = pki.verifier().verify(sign(pki, extra), orig=A, dest=B, now=NOW)
    assert v.rcd is not None and (v.rcd.integrity, v.rcd.display_name) == ("incomplete", "Q Branch")
    assert v.rcd.digests[0].ok is None


def test_rcd_without_rcdi_is_absent(pki) -> None:
    v = pki.verifier().verify(sign(pki, rcd_claims(nam="Q", integrity=False)), orig=A, dest=B,
                              now=NOW)
    assert v.rcd is not None and (v.rcd.integrity, v.rcd.display_name) == ("absent", "Q")


def test_rcd_on_a_forged_passport_has_no_display_name(pki) -> None:
    rogue = make_pki(not_before=NOW - 86_400, not_after=NOW + 300 * 86_400)
    h = rogue.sign(orig=A, dest=B, iat=NOW, extra_claims=rcd_claims(nam="Bank", integrity=False),
                   x5u=pki.x5u)
    v = pki.verifier().verify(h, orig=A, dest=B, now=NOW)
    assert v.likely_spoofed and v.rcd is not None
    assert (v.rcd.nam, v.rcd.display_name) == ("Bank", None)


@pytest.mark.parametrize(
    ("extra", "note"),
    [
        ({"rcd": "Q Branch"}, "rcd claim is not a JSON object"),
        ({"rcd": {"nam": 7}}, "rcd nam is not a string"),
        ({"rcd": {"nam": "Q", "icn": "file:///etc/passwd"}}, "rcd icn is not an http(s) URL"),
        ({"rcd": {"nam": "Q"}, "rcdi": ["x"]}, "rcdi claim is not a JSON object"),
        ({"rcd": {"nam": "Q"}, "crn": 5}, "crn claim is not a string"),
    ],
)
def test_malformed_rcd_is_reported_never_fails_the_call(pki, extra, note) -> None:
    v = pki.verifier().verify(sign(pki, extra), orig=A, dest=B, now=NOW)
    assert v.caller_id == "verified" and v.rcd is not None
    assert any(note in n for n in v.rcd.notes), v.rcd.notes


def test_ppt_rcd_passport_lends_its_rcd_next_to_shaken(pki) -> None:
    """A ppt=rcd PASSporT (RFC 9795) beside the SHAKEN one: its Rich Call Data is reported;
    the verdict is the SHAKEN one."""
    rcd_hdr = pki.sign(orig=A, dest=B, iat=NOW, ppt="rcd",
                       extra_claims=rcd_claims(nam="Q", jcd=CARD))
    v = pki.verifier().verify([rcd_hdr, pki.sign(orig=A, dest=B, iat=NOW, attest="B")],
                              orig=A, dest=B, now=NOW)
    assert (v.ppt, v.attest, v.caller_id) == ("shaken", "B", "unverified")
    assert v.rcd is not None and (v.rcd.source, v.rcd.integrity) == ("rcd", "verified")


def test_fetch_over_https_with_the_x5u_policy(pki, https_server: HttpsServer) -> None:
    """Policy.fetch_rcd: content is fetched over HTTPS with the x5u fetch policy; a host the
    URL policy refuses is never contacted (SSRF, standards digest §6.4)."""
    icn = https_server.route("/logo.png", body=LOGO)
    extra = rcd_claims(nam="Q", icn=icn, content={icn: LOGO})
    fp = FetchPolicy(allow_hosts=frozenset({https_server.host_port}),
                     tls_ca_file=https_server.ca_pem_path)
    on = Verifier(trust_anchors=[pki.root_pem], source=_Layered(pki, fp),
                  policy=Policy(fetch_rcd=True))
    v = on.verify(sign(pki, extra), orig=A, dest=B, now=NOW)
    assert v.rcd is not None and v.rcd.integrity == "verified"
    assert https_server.count("/logo.png") == 1
    on.verify(sign(pki, extra), orig=A, dest=B, now=NOW)
    assert https_server.count("/logo.png") == 1  # cached like x5u
    refused = Verifier(trust_anchors=[pki.root_pem], source=_Layered(pki, FetchPolicy()),
                       policy=Policy(fetch_rcd=True))
    v = refused.verify(sign(pki, extra), orig=A, dest=B, now=NOW)
    assert v.rcd is not None and v.rcd.integrity == "incomplete"
    assert "not allowed" in v.rcd.digests[0].detail or "refused" in v.rcd.digests[0].detail
    assert https_server.count("/logo.png") == 1
    on.close()
    refused.close()


def _layered(pki: TestPKI, fp: FetchPolicy) -> Any:
    from shakenkit.repository import LayeredSource

    return LayeredSource(pki.certificates(), HttpsSource(fp))


_Layered = _layered


# -- the generator on its own ----------------------------------------------------------------------


def test_pointer_into_the_jcl_content() -> None:
    """A pointer may continue into the JSON fetched from jcl, one level (``/jcl/1/1/3``)."""
    card = json.dumps(CARD).encode()
    extra = {"rcd": {"nam": "Q", "jcl": JCL},
             "rcdi": {"/jcl": rcd_digest(jcs(CARD)), "/jcl/1/1/3": rcd_digest(jcs("Q Branch"))}}
    r = run(rcd_steps(extra, source="shaken", passed=True, obtainable=lambda u: True),
            {JCL: card})
    assert r.integrity == "verified", r.digests


def test_bad_digest_strings() -> None:
    extra = {"rcd": {"nam": "Q"},
             "rcdi": {"/nam": "md5-AAAA", "nam": rcd_digest(jcs("Q")), "/x": rcd_digest(b"")}}
    r = run(rcd_steps(extra, source="shaken", passed=True), {})
    assert r.integrity == "failed"
    assert [d.ok for d in r.digests] == [False, False, False]


def test_fetches_are_capped() -> None:
    urls = [f"https://b.example/{i}.png" for i in range(10)]
    extra = {"rcd": {"nam": "Q", "jcd": ["vcard", [["logo", {}, "uri", u] for u in urls]]},
             "rcdi": {f"/jcd/1/{i}/3": rcd_digest(b"x") for i in range(10)}}
    asked: list[str] = []

    def answers() -> Any:
        steps = rcd_steps(extra, source="shaken", passed=True, obtainable=lambda u: True,
                          max_fetches=3)
        try:
            req = next(steps)
            while True:
                asked.append(req.url)
                req = steps.send(b"x")
        except StopIteration as done:
            return done.value

    r = answers()
    assert len(asked) == 3 and r.integrity == "incomplete"


# -- JCS (RFC 8785) ------------------------------------------------------------------------------


def test_jcs_sorts_by_utf16_code_units() -> None:
    """RFC 8785 §3.2.3's example: keys sorted by UTF-16 code units."""
    obj = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    keys = list(json.loads(jcs(obj)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e30, "1e+30"), (4.5, "4.5"), (0.002, "0.002"), (1e-7, "1e-7"), (-0.0, "0"),
        (333333333.33333329, "333333333.3333333"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
        (123, "123"), ("\u20ac$\x0f\nA'B\"\\", '"\u20ac$\\u000f\\nA\'B\\"\\\\"'),
    ],
)
def test_jcs_values(value: Any, text: str) -> None:
    """RFC 8785 §3.2.2: ES6 number form, minimal string escapes."""
    assert jcs(value) == text.encode()


def test_jcs_refuses_integers_beyond_the_safe_range() -> None:
    """RFC 8785 §3.2.2.3: JCS numbers are IEEE 754 doubles. 2**53 - 1 is exact; beyond it an
    integer has no canonical form (the hand-written JCS printed 2**60 verbatim, a digest no
    JavaScript signer computes): refused with ValueError."""
    assert jcs(2**53 - 1) == b"9007199254740991"
    assert jcs([-(2**53) + 1]) == b"[-9007199254740991]"
    for big in (2**53, 2**60, -(2**53), {"n": 2**64}):
        with pytest.raises(ValueError, match="RFC 8785"):
            jcs(big)


def test_rcdi_over_jcd_with_a_huge_integer_fails_not_crashes(pki) -> None:
    """Attack: a signer digests ``/jcd`` holding 2**60 as its digits; the verifier cannot
    canonicalize it (RFC 8785) and reports the digest as failed, never as a match."""
    import base64
    import hashlib

    card = ["vcard", [["x-n", {}, "integer", 2**60]]]
    digits = json.dumps(card, separators=(",", ":")).encode()
    forged = "sha256-" + base64.b64encode(hashlib.sha256(digits).digest()).decode()
    extra = {"rcd": {"nam": "Q", "jcd": card}, "rcdi": {"/jcd": forged}}
    v = pki.verifier().verify(sign(pki, extra), orig=A, dest=B, now=NOW)
    assert v.passed  # rcd never changes the SHAKEN outcome
    assert v.rcd is not None and v.rcd.integrity == "failed"
    assert v.rcd.digests[0].ok is False and "RFC 8785" in v.rcd.digests[0].detail


def test_jcs_refuses_hostile_sizes_without_recursion() -> None:
    deep: Any = 0
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="too large or too deep"):
        jcs(deep)
    with pytest.raises(ValueError, match="too large or too deep"):
        jcs(list(range(20_000)))


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                               max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_json)
def test_jcs_round_trips(value: Any) -> None:
    """Hypothesis: JCS output is JSON for the same value, and canonical (idempotent)."""
    try:
        out = jcs(value)
    except ValueError:  # lone surrogates in generated text
        return
    assert json.loads(out) == value
    assert jcs(json.loads(out)) == out


@settings(max_examples=50, deadline=None)
@given(nam=st.text(min_size=1, max_size=40), logo=st.binary(max_size=64))
def test_rcd_claims_round_trip(nam: str, logo: bytes) -> None:
    """Hypothesis: what rcd_claims signs, rcd_steps verifies (and a flipped byte fails)."""
    extra = rcd_claims(nam=nam, icn=ICN, jcd=CARD, content={ICN: logo})
    good = run(rcd_steps(extra, source="shaken", passed=True, obtainable=lambda u: True),
               {ICN: logo})
    assert good.integrity == "verified" and good.nam == nam[:512]
    bad = run(rcd_steps(extra, source="shaken", passed=True, obtainable=lambda u: True),
              {ICN: logo + b"\0"})
    assert bad.integrity == "failed" and bad.display_name is None
