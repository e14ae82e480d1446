"""Property-based fuzzing (hypothesis) of the parsers and of ``Verifier.verify`` with hostile
input: arbitrary text, bytes, lists, mutations of a valid header, JSON shaped like a PASSporT.

Properties (docs/verdicts.md, module docstrings of identity.py and passport.py):

* ``parse_identity`` / ``parse_identity_headers`` return or raise ``IdentityHeaderError``;
* ``decode_passport`` returns or raises ``PassportError``;
* ``Verifier.verify`` never raises, returns a JSON-serializable Verdict, and passes only when
  a header carrying the genuinely signed token is present;
* every call finishes in bounded time (the hypothesis deadline).

The SIP parser and the capture reader are fuzzed elsewhere. Atheris harnesses for the same
targets live in fuzz/. ``SHAKENKIT_FUZZ_EXAMPLES`` raises the number of examples.
"""

from __future__ import annotations

import json
import os
import string
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shakenkit import IdentityHeaderError, PassportError, Verdict, Verifier
from shakenkit.core.identity import (
    IdentityHeader,
    parse_identity,
    parse_identity_headers,
    split_identity_values,
)
from shakenkit.core.passport import Passport, b64url_encode, decode_passport, sign_passport
from shakenkit.testing import TestPKI
from tests.conftest import DEST, NOW, ORIG, ORIGID, claims, jose

# SHAKENKIT_FUZZ_EXAMPLES=20000 for a deep run; 200 keeps the suite fast.
FUZZ = settings(
    max_examples=int(os.environ.get("SHAKENKIT_FUZZ_EXAMPLES", "200")),
    deadline=timedelta(milliseconds=1500),  # a hang guard: one call, not a benchmark
    database=None,  # no .hypothesis/ directory in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
B64URL = string.ascii_letters + string.digits + "-_"

# -- strategies -------------------------------------------------------------------------------

# Pieces of Identity headers, recombined in any order: grammar characters, parameter names,
# URIs, quoting, folding, huge repeats.
FRAGMENTS = [
    ".", "..", ";", ",", "=", "<", ">", '"', "\\", " ", "\t", "\r\n ", "\r\n", "\n", "\x00",
    "info", "INFO", "alg", "ppt", "=ES256", "=shaken", '="shaken"', "=div",
    "<https://cr.example.com/sp/123A.pem>", "https://cr.example.com/a,b.pem", "<>", "<<", ">>",
    "Identity:", "y:", "identity :", "eyJhbGciOiJFUzI1NiJ9", "e30", "AAAA", "+", "/", "==",
    "\u0661\u0662", "\ufeff", "\u202e", "\U0001f4de", "%00", "\\\"",
]
header_text = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(alphabet=B64URL, min_size=1, max_size=12),
        st.text(max_size=6),
    ),
    max_size=40,
).map("".join)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)
# A PASSporT-shaped claims object whose members are sometimes replaced by arbitrary JSON.
claim_sets = st.fixed_dictionaries(
    {},
    optional={
        "attest": st.one_of(st.sampled_from(["A", "B", "C", "D", ""]), json_values),
        "dest": st.one_of(st.just({"tn": ["12155551213"]}), json_values),
        "iat": st.one_of(st.integers(), st.just(NOW), json_values),
        "orig": st.one_of(st.just({"tn": "12155551212"}), json_values),
        "origid": st.one_of(st.just(ORIGID), json_values),
    },
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


def _segment(obj: Any) -> str:
    return b64url_encode(json.dumps(obj).encode())


raw_segments = st.one_of(
    st.binary(max_size=64).map(b64url_encode),
    json_objects.map(_segment),
    st.text(alphabet=B64URL, max_size=40),
    st.text(max_size=20),
)
tokens = st.one_of(
    st.tuples(raw_segments, raw_segments, raw_segments).map(".".join),
    st.tuples(json_objects.map(_segment), claim_sets.map(_segment), raw_segments).map(".".join),
    st.text(max_size=80),
)


# -- parse_identity / parse_identity_headers -------------------------------------------------


@FUZZ
@given(value=st.one_of(header_text, st.text(), tokens.map(lambda t: t + ";info=<https://x/>")))
@example(value="a.b.c;info=<https://x/>;" + "p;" * 3000)
@example(value='a.b.c;info=<https://x/>;x="' + "\\" * 5000)
def test_parse_identity_returns_or_raises_identity_header_error(value: str) -> None:
    try:
        h = parse_identity(value)
    except IdentityHeaderError as e:
        assert e.sip_code in (436, 438)
        return
    assert isinstance(h, IdentityHeader) and h.info
    assert h.token.count(".") == 2
    # What parsed once re-parses to the same header after formatting.
    assert parse_identity(h.format()) == h


@FUZZ
@given(value=st.one_of(header_text, st.binary(max_size=200),
                       st.lists(header_text, max_size=4), st.lists(st.binary(), max_size=3)))
def test_parse_identity_headers_returns_or_raises_identity_header_error(value: Any) -> None:
    try:
        out = parse_identity_headers(value)
    except IdentityHeaderError:
        return
    assert all(isinstance(h, IdentityHeader) for h in out)


@FUZZ
@given(value=st.binary(max_size=300))
def test_parse_identity_refuses_bytes(value: bytes) -> None:
    with pytest.raises(IdentityHeaderError):
        parse_identity(value)  # type: ignore[arg-type]


# -- decode_passport --------------------------------------------------------------------------


@FUZZ
@given(token=tokens)
@example(token="W1tb" * 2000 + "." + "e30" + ".AA")
@example(token="e30." + b64url_encode(b'{"iat":' + b"9" * 4400 + b"}") + ".AA")
def test_decode_passport_returns_or_raises_passport_error(token: str) -> None:
    try:
        p = decode_passport(token)
    except PassportError as e:
        assert e.sip_code == 438
        return
    assert isinstance(p, Passport)
    assert p.signing_input == token.rsplit(".", 1)[0].encode("ascii")
    assert isinstance(p.claims.dest_tns, tuple)


@FUZZ
@given(token=st.text(alphabet=B64URL + ".", min_size=1, max_size=64).map(
    lambda s: s * (8192 // len(s) + 1)))
def test_decode_passport_size_limit(token: str) -> None:
    with pytest.raises(PassportError):
        decode_passport(token)


@pytest.mark.parametrize("value", [b"e30.e30.AA", None, 5, ["e30", "e30", "AA"]])
def test_decode_passport_refuses_non_text_with_passport_error(value: Any) -> None:
    with pytest.raises(PassportError):
        decode_passport(value)


# -- Verifier.verify ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_verifier(pki: TestPKI) -> Verifier:
    return pki.verifier()


@pytest.fixture(scope="module")
def genuine(pki: TestPKI) -> str:
    return pki.sign(orig=ORIG, dest=DEST, attest="A", origid=ORIGID, iat=NOW)


numbers = st.one_of(
    st.none(), st.sampled_from([ORIG, DEST, "", "+", "tel:", "\u0661" * 11]), st.text(max_size=30),
    st.integers(), st.floats(), st.binary(max_size=10), st.lists(st.text(max_size=3), max_size=2),
)
identities = st.one_of(
    st.none(), header_text, st.text(), st.binary(max_size=300), st.integers(),
    st.lists(st.one_of(header_text, st.binary(max_size=20), st.integers()), max_size=4),
    tokens.map(lambda t: t + ";info=<https://cr.example.com/sp/123A.pem>;ppt=shaken"),
)


def _assert_sane(v: Verdict) -> None:
    assert isinstance(v, Verdict)
    assert v.verstat in ("TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation")
    assert (v.error is None) == (v.verstat != "TN-Validation-Failed")
    assert v.likely_spoofed == (v.caller_id == "likely_spoofed")
    Verdict.model_validate_json(v.model_dump_json())


@FUZZ
@given(identity=identities, orig=numbers, dest=numbers)
def test_verify_never_raises(fuzz_verifier: Verifier, identity: Any, orig: Any, dest: Any) -> None:
    v = fuzz_verifier.verify(identity, orig=orig, dest=dest, now=NOW)
    _assert_sane(v)
    assert not v.passed  # nothing here is signed by the PKI


def _mutate(data: st.DataObject, text: str) -> str:
    ops = data.draw(st.lists(st.tuples(
        st.sampled_from(["insert", "delete", "replace", "swap", "duplicate"]),
        st.integers(min_value=0, max_value=len(text)),
        st.one_of(st.sampled_from(FRAGMENTS), st.characters(), st.text(B64URL, min_size=1,
                                                                      max_size=3)),
    ), min_size=1, max_size=4))
    for op, pos, piece in ops:
        pos = min(pos, len(text))
        if op == "insert":
            text = text[:pos] + piece + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + len(piece):]
        elif op == "replace":
            text = text[:pos] + piece + text[pos + len(piece):]
        elif op == "swap" and 0 < pos < len(text):
            text = text[:pos - 1] + text[pos] + text[pos - 1] + text[pos + 1:]
        elif op == "duplicate":
            text = text[:pos] + text[pos:pos + 40] + text[pos:]
    return text


def _carries(value: str, token: str) -> bool:
    """Does some value of the (possibly comma-separated) header carry exactly ``token``?"""
    try:
        pieces = split_identity_values(value)
    except IdentityHeaderError:
        return False
    for piece in pieces:
        try:
            if parse_identity(piece).token == token:
                return True
        except IdentityHeaderError:
            continue
    return False


@FUZZ
@given(data=st.data())
def test_mutated_header_passes_only_with_the_signed_token(
    fuzz_verifier: Verifier, genuine: str, data: st.DataObject
) -> None:
    mutated = _mutate(data, genuine)
    v = fuzz_verifier.verify(mutated, orig=ORIG, dest=DEST, now=NOW)
    _assert_sane(v)
    if v.passed:
        assert _carries(mutated, genuine.split(";", 1)[0]), mutated


@FUZZ
@given(header=json_objects, payload=claim_sets, keep_x5u=st.booleans())
def test_verify_signed_hostile_json(
    fuzz_verifier: Verifier, pki: TestPKI, header: dict[str, Any], payload: dict[str, Any],
    keep_x5u: bool,
) -> None:
    """Arbitrary JSON, validly signed by the trusted key: never an exception; a pass needs
    the SHAKEN claims the documentation requires."""
    h = {**header, **jose(pki.x5u)} if keep_x5u else header
    token = sign_passport(h, payload, pki.leaf_key)
    v = fuzz_verifier.verify(f"{token};info=<{pki.x5u}>", orig=ORIG, dest=DEST, now=NOW)
    _assert_sane(v)
    if v.passed:
        assert payload.get("attest") in ("A", "B", "C")
        assert type(payload.get("iat")) is int and abs(payload["iat"] - NOW) <= 60
        assert isinstance(payload.get("origid"), str) and payload["origid"].strip()


@FUZZ
@given(now=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**80), 2**80),
       date=st.none() | st.integers(-(2**40), 2**40))
def test_verify_any_finite_time(fuzz_verifier: Verifier, genuine: str, now: float,
                                date: int | None) -> None:
    v = fuzz_verifier.verify(genuine, orig=ORIG, dest=DEST, now=now, date=date)
    _assert_sane(v)
    assert v.passed == (abs(now - NOW) <= 60)


@pytest.mark.parametrize("now", [float("nan"), float("inf"), float("-inf")])
def test_verify_non_finite_time_is_a_403_verdict(fuzz_verifier: Verifier, genuine: str,
                                                 now: float) -> None:
    """A NaN clock would pass every freshness comparison: it must fail, never raise."""
    v = fuzz_verifier.verify(genuine, orig=ORIG, dest=DEST, now=now)
    _assert_sane(v)
    assert v.error is not None and (v.error.sip_code, v.error.check) == (403, "freshness")


@pytest.mark.parametrize("identity", [None, "", []])
def test_verify_non_finite_time_without_identity(fuzz_verifier: Verifier,
                                                 identity: Any) -> None:
    v = fuzz_verifier.verify(identity, orig=ORIG, dest=DEST, now=float("nan"))
    assert v.verstat == "No-TN-Validation" and v.caller_id == "unverified"


def test_verify_with_claims_helper_baseline(fuzz_verifier: Verifier, pki: TestPKI) -> None:
    """The hand-built token used by the hostile-JSON property passes when well-formed."""
    token = sign_passport(jose(pki.x5u), claims(), pki.leaf_key)
    assert fuzz_verifier.verify(f"{token};info=<{pki.x5u}>", orig=ORIG, dest=DEST,
                                now=NOW).caller_id == "verified"
