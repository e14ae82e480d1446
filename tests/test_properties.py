"""Property tests (hypothesis): signing and verification agree, tampering never passes, the
parsers only ever raise their own errors, formatting round-trips, canonicalization is idempotent
(RFC 8224 §4 and §8.3, RFC 8225, RFC 8588; standards digest §1.1, §1.6, §2, §5.3)."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shakenkit import (
    IdentityHeader,
    IdentityHeaderError,
    PassportError,
    Verdict,
    canonicalize_tn,
    decode_passport,
)
from shakenkit.core.identity import format_identity, parse_identity
from shakenkit.core.passport import b64url_encode
from tests.conftest import NOW

SETTINGS = settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
B64URL = string.ascii_letters + string.digits + "-_"
TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"  # RFC 3261 token


@pytest.fixture(scope="module")
def shared_verifier(pki):
    """One verifier for all examples (its certificate chain is validated once)."""
    return pki.verifier()


# -- sign -> verify (RFC 8225 §6, RFC 8588) --------------------------------------------------------

nanp = st.builds(
    lambda a, b, c: f"1{a}{b}{c}",
    st.sampled_from("23456789"),
    st.text("0123456789", min_size=2, max_size=2),
    st.text("0123456789", min_size=7, max_size=7),
)
other_tn = st.text("0123456789", min_size=5, max_size=15).filter(
    lambda s: not (len(s) == 10 and s[0] not in "01")
)
tns = st.one_of(nanp, other_tn)
sip_forms = st.sampled_from(["{}", "+{}", "tel:+{}", "sip:+{}@example.com;user=phone", "<tel:+{}>"])


@SETTINGS
@given(
    orig=tns,
    dests=st.lists(tns, min_size=1, max_size=3, unique=True),
    pick=st.integers(min_value=0, max_value=2),
    attest=st.sampled_from("ABC"),
    origid=st.uuids().map(str),
    age=st.integers(min_value=-60, max_value=60),
    orig_form=sip_forms,
    dest_form=sip_forms,
)
def test_sign_then_verify_passes(
    pki, shared_verifier, orig, dests, pick, attest, origid, age, orig_form, dest_form
):
    """RFC 8225 §6 / RFC 8588: whatever valid claims are signed (TNs, attest A/B/C, origid,
    ``iat`` within the window), the verifier accepts them, matching the numbers in any SIP form."""
    dest = dests[pick % len(dests)]
    h = pki.sign(orig=orig, dest=dests, attest=attest, origid=origid, iat=NOW - age)
    v = shared_verifier.verify(h, orig=orig_form.format(orig), dest=dest_form.format(dest), now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert (v.attest, v.origid, v.iat) == (attest, origid, NOW - age)
    assert v.caller_id == ("verified" if attest == "A" else "unverified")


@pytest.fixture(scope="module")
def signed_header(pki):
    return pki.sign(orig="+12155551212", dest="+12155551213", iat=NOW)


@SETTINGS
@given(data=st.data())
def test_any_single_character_change_fails(shared_verifier, signed_header, data):
    """RFC 7515 §5.2 (digest §5.3 step 9): any change of one character inside the token's
    header, payload or signature segment makes the call fail; it never passes, never raises."""
    token, _, params = signed_header.partition(";")
    pos = data.draw(st.integers(min_value=0, max_value=len(token) - 1), label="pos")
    if token[pos] == ".":
        pos = pos + 1
    repl = data.draw(
        st.one_of(st.sampled_from(B64URL), st.characters()).filter(lambda c: c != token[pos]),
        label="replacement",
    )
    tampered = token[:pos] + repl + token[pos + 1 :]
    v = shared_verifier.verify(
        tampered + ";" + params, orig="+12155551212", dest="+12155551213", now=NOW
    )
    assert isinstance(v, Verdict)
    assert v.verstat != "TN-Validation-Passed"
    # What it is: a failure (438; 403 when the change lands on a stale or future iat), evidence
    # of tampering, and never a verified signature.
    assert v.failed and v.likely_spoofed, v.error
    assert v.error is not None and v.error.sip_code in (403, 438), v.error
    assert not v.signature_verified


# -- Identity header: format -> parse -> format (RFC 8224 §4) -------------------------------------

segment = st.text(B64URL, min_size=1, max_size=12)
param_name = (
    st.text(TOKEN_CHARS, min_size=1, max_size=8)
    .map(str.lower)
    .filter(lambda n: n not in ("info", "alg", "ppt"))
)
param_value = st.one_of(
    st.none(),
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\r\n"),
        max_size=12,
    ),
)
uri = st.builds(
    lambda host, path: f"https://{host}.example/{path}",
    st.text(string.ascii_lowercase, min_size=1, max_size=8),
    st.text(string.ascii_letters + string.digits + "-._~/%,;=", max_size=16),
)
identity_headers = st.builds(
    IdentityHeader,
    token=st.builds(lambda h, p, s: f"{h}.{p}.{s}", segment, segment, segment)
    | segment.map(lambda s: ".." + s),
    info=uri,
    alg=st.none() | st.text(TOKEN_CHARS, min_size=1, max_size=6),
    ppt=st.none() | st.sampled_from(["shaken", "div", "rcd", "x y", 'q"t']),
    params=st.lists(st.tuples(param_name, param_value), max_size=4, unique_by=lambda p: p[0]).map(
        tuple
    ),
)


@SETTINGS
@given(h=identity_headers)
def test_identity_format_parse_format_is_stable(h):
    """RFC 8224 §4 (digest §1.1): a formatted header parses back to the same header, and
    formatting that again gives the same text."""
    text = format_identity(h)
    back = parse_identity(text)
    assert back == h
    assert format_identity(back) == text


@st.composite
def raw_identity_headers(draw):
    """Header text as senders write it: random param order, name case, quoting, whitespace."""
    ws = st.sampled_from(["", " ", "  ", "\t", "\r\n "])
    token = draw(st.builds(lambda h, p, s: f"{h}.{p}.{s}", segment, segment, segment))
    params = [f"info{draw(ws)}={draw(ws)}<{draw(uri)}>"]
    for name, value in (("alg", "ES256"), ("ppt", "shaken")):
        if draw(st.booleans()):
            name = "".join(c.upper() if draw(st.booleans()) else c for c in name)
            quoted = draw(st.booleans())
            params.append(f"{name}{draw(ws)}={draw(ws)}" + (f'"{value}"' if quoted else value))
    params = draw(st.permutations(params))
    prefix = draw(st.sampled_from(["", "Identity: ", "y: "]))
    return prefix + token + "".join(f"{draw(ws)};{draw(ws)}{p}" for p in params)


@SETTINGS
@given(raw=raw_identity_headers())
def test_identity_parse_format_parse_is_stable(raw):
    """RFC 8224 §4, digest §10 item 4: any legal spelling parses; its canonical formatting
    parses to the same header."""
    h = parse_identity(raw)
    text = format_identity(h)
    assert parse_identity(text) == h
    assert format_identity(parse_identity(text)) == text


header_alphabet = st.sampled_from(list('<>";=,.:/ \t\r\n\\') + list("aZ09-_") + ["info", "ppt"])


@SETTINGS
@given(text=st.one_of(st.text(), st.lists(header_alphabet, max_size=40).map("".join)))
def test_identity_parser_raises_only_identity_header_error(text):
    """RFC 8224 §4: arbitrary text either parses or raises IdentityHeaderError (438/436)."""
    for candidate in (text, f"a.b.c;info=<https://x.example/>;{text}", f"a.b.c{text}"):
        try:
            parse_identity(candidate)
        except IdentityHeaderError as e:
            assert e.sip_code in (436, 438)


# -- PASSporT decoder (RFC 8225, RFC 7515) ---------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


def _seg(obj) -> str:
    return b64url_encode(json.dumps(obj).encode())


@SETTINGS
@given(
    text=st.one_of(
        st.text(),
        st.builds("{}.{}.{}".format, st.text(B64URL), st.text(B64URL), st.text(B64URL)),
        st.builds(
            lambda h, c, s: f"{_seg(h)}.{_seg(c)}.{b64url_encode(s)}",
            json_values,
            json_values,
            st.binary(max_size=70),
        ),
        st.builds(
            lambda c: f"{_seg({'alg': 'ES256'})}.{_seg(c)}.AA",
            st.fixed_dictionaries(
                {},
                optional={
                    "orig": json_values | st.fixed_dictionaries({"tn": json_values}),
                    "dest": json_values | st.fixed_dictionaries({"tn": json_values}),
                    "iat": json_values,
                    "attest": json_values,
                },
            ),
        ),
    )
)
def test_decode_passport_raises_only_passport_error(text):
    """Digest §5.3 step 3: a token either decodes or raises PassportError (438)."""
    try:
        p = decode_passport(text)
    except PassportError as e:
        assert e.sip_code == 438
    else:
        assert p.signing_input == text.rsplit(".", 1)[0].encode()


# -- TN canonicalization (RFC 8224 §8.3) ----------------------------------------------------------

tn_like = st.one_of(
    st.text(),
    st.text("0123456789+-.() #*", max_size=20),
    st.builds(
        lambda s, n: s + n,
        st.sampled_from(["tel:", "sip:", "<sip:", "TEL:+"]),
        st.text("0123456789-;=@a.", max_size=20),
    ),
)


@SETTINGS
@given(value=tn_like)
def test_canonicalize_tn_is_idempotent(value):
    """RFC 8224 §8.3: the canonical form is a fixed point, and is ASCII ``0-9#*`` only."""
    c = canonicalize_tn(value)
    if c is not None:
        assert canonicalize_tn(c) == c
        assert set(c) <= set("0123456789#*")
        assert any(ch.isdigit() for ch in c)
