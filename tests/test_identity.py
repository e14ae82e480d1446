"""SIP Identity header parsing and formatting (RFC 8224 §4; standards digest §1.1, §1.2, §10)."""

from __future__ import annotations

import itertools

import pytest

from shakenkit import IdentityHeader, IdentityHeaderError, Verifier
from shakenkit.core.identity import format_identity, parse_identity, parse_identity_headers
from shakenkit.core.passport import b64url_encode, canonical_json, sign_passport
from tests.conftest import DEST, DEST_TN, NOW, ORIG, ORIG_TN, identity, jose, signed

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjF9.c2lnbmF0dXJl"
INFO = "https://cr.example.com/sp/123A.pem"


def test_identity_full_form():
    """RFC 8224 §4 (digest §1.1): ``jws;info=<uri>;alg=..;ppt=..`` is read field by field."""
    h = parse_identity(f"{TOKEN};info=<{INFO}>;alg=ES256;ppt=shaken")
    assert h.token == TOKEN
    assert h.info == INFO
    assert h.alg == "ES256"
    assert h.ppt == "shaken"
    assert h.params == ()
    assert not h.compact
    assert h.segments == tuple(TOKEN.split("."))


@pytest.mark.parametrize(
    "order", list(itertools.permutations([f"info=<{INFO}>", "alg=ES256", "ppt=shaken"]))
)
def test_identity_parameters_in_any_order(order):
    """RFC 8224 §4 (digest §1.1): parameters are a set; their order carries no meaning."""
    h = parse_identity(TOKEN + ";" + ";".join(order))
    assert (h.info, h.alg, h.ppt) == (INFO, "ES256", "shaken")


def test_identity_parameter_names_case_insensitive():
    """RFC 3261 §7.3.1 / RFC 8224 §4 (digest §1.1, §10 item 4): ``INFO``, ``Alg``, ``PPT``."""
    h = parse_identity(f"{TOKEN};INFO=<{INFO}>;Alg=ES256;PPT=shaken;X-Foo=1")
    assert (h.info, h.alg, h.ppt) == (INFO, "ES256", "shaken")
    assert h.params == (("x-foo", "1"),)


def test_identity_quoted_values_unquoted():
    """Digest §1.1: ``ppt="shaken"`` (ATIS examples) is a quoted-string; unquote it, including
    backslash escapes."""
    h = parse_identity(f'{TOKEN};info=<{INFO}>;alg="ES256";ppt="shaken";note="a \\"b\\"; c"')
    assert h.alg == "ES256"
    assert h.ppt == "shaken"
    assert h.params == (("note", 'a "b"; c'),)


def test_identity_whitespace_around_semicolon_and_equals():
    """RFC 3261 §25.1 SEMI/EQUAL (digest §1.1, §10 item 4): linear whitespace around ``;``/``=``."""
    h = parse_identity(f'  {TOKEN} ;  info = <{INFO}>\t;\talg= ES256 ; ppt ="shaken"  ')
    assert (h.token, h.info, h.alg, h.ppt) == (TOKEN, INFO, "ES256", "shaken")


@pytest.mark.parametrize("fold", ["\r\n ", "\r\n\t", "\n  "])
def test_identity_folded_lines(fold):
    """RFC 3261 §7.3.1 (digest §1.1): CRLF followed by SP/HTAB is unfolded before parsing."""
    h = parse_identity(f"{TOKEN}{fold};info=<{INFO}>{fold};alg=ES256;{fold}ppt=shaken")
    assert (h.token, h.info, h.alg, h.ppt) == (TOKEN, INFO, "ES256", "shaken")


@pytest.mark.parametrize("prefix", ["Identity: ", "identity:", "IDENTITY :  ", "y: ", "Y:"])
def test_identity_header_name_prefix_tolerated(prefix):
    """Digest §1.1: the header name (``Identity`` or compact ``y``, any case) may be included."""
    assert parse_identity(f"{prefix}{TOKEN};info=<{INFO}>").token == TOKEN


def test_identity_several_values_as_a_list():
    """RFC 8224 §6.2 step 1 (digest §1.1): several Identity header fields are given as a list."""
    hs = parse_identity_headers(
        [f"{TOKEN};info=<{INFO}>;ppt=shaken", f"{TOKEN};info=<https://b.example/x.pem>;ppt=div"]
    )
    assert [(h.info, h.ppt) for h in hs] == [(INFO, "shaken"), ("https://b.example/x.pem", "div")]


def test_identity_several_values_comma_separated():
    """RFC 3261 §7.3.1 (digest §1.1): one header line may hold comma-separated values."""
    hs = parse_identity_headers(f"{TOKEN};info=<{INFO}>, {TOKEN};info=<https://b.example/x.pem>")
    assert [h.info for h in hs] == [INFO, "https://b.example/x.pem"]


def test_identity_comma_inside_angle_brackets_does_not_split():
    """Digest §1.1: an ``info`` URI may contain a comma; only commas outside ``<...>`` and
    quoted strings separate values."""
    hs = parse_identity_headers(
        f'{TOKEN};info=<https://a.example/x,y.pem>;note="1,2", {TOKEN};info=<{INFO}>'
    )
    assert [h.info for h in hs] == ["https://a.example/x,y.pem", INFO]
    assert hs[0].params == (("note", "1,2"),)


def test_identity_unknown_params_kept():
    """RFC 8224 §4 ``ident-info-extension`` (digest §1.1): unknown params are kept, in order,
    names lower-cased; a parameter without ``=`` has the value None."""
    h = parse_identity(f'{TOKEN};info=<{INFO}>;Foo=bar;flag;x="q v";ppt=shaken')
    assert h.params == (("foo", "bar"), ("flag", None), ("x", "q v"))
    assert h.ppt == "shaken"


@pytest.mark.parametrize(
    "params",
    [
        f"info=<{INFO}>;info=<https://b.example/x.pem>",
        f"info=<{INFO}>;alg=ES256;alg=ES256",
        f"info=<{INFO}>;ppt=shaken;PPT=shaken",
        f"info=<{INFO}>;foo=1;foo=2",
    ],
    ids=["info", "alg", "ppt-case", "unknown"],
)
def test_identity_repeated_param_refused_438(params):
    """Digest §1.1 [impl]: a repeated parameter makes the header malformed (438)."""
    with pytest.raises(IdentityHeaderError) as ei:
        parse_identity(f"{TOKEN};{params}")
    assert ei.value.sip_code == 438


@pytest.mark.parametrize("value", [f"{TOKEN}", f"{TOKEN};alg=ES256;ppt=shaken", f"{TOKEN};info"])
def test_identity_missing_info_436(value):
    """RFC 8224 §4, §6.2.2 (digest §1.2): ``info`` is mandatory; without it -> 436."""
    with pytest.raises(IdentityHeaderError) as ei:
        parse_identity(value)
    assert ei.value.sip_code == 436


@pytest.mark.parametrize("info", ["<cert.pem>", "</sp/123A.pem>", "<>", "<1https://x>", "<a b:c>"])
def test_identity_info_not_absolute_uri_436(info):
    """RFC 8224 §4 ``ident-info-uri = LAQUOT absoluteURI RAQUOT`` (digest §1.2): not an
    absolute URI -> 436 Bad Identity Info."""
    with pytest.raises(IdentityHeaderError) as ei:
        parse_identity(f"{TOKEN};info={info}")
    assert ei.value.sip_code == 436


@pytest.mark.parametrize("info", [INFO, f'"{INFO}"'])
def test_identity_info_without_angle_brackets_tolerated_with_warning(info):
    """Digest §10 item 5: ``info=https://...`` or quoted is non-conformant but seen; accept it
    and record a warning."""
    h = parse_identity(f"{TOKEN};info={info}")
    assert h.info == INFO
    assert h.warnings


def test_identity_compact_form_recognised():
    """RFC 8225 §7 (digest §1.1, §2.6): ``..signature`` is the compact form."""
    h = parse_identity(f"..c2lnbmF0dXJl;info=<{INFO}>")
    assert h.compact
    assert h.segments == ("", "", "c2lnbmF0dXJl")
    assert not parse_identity(f"{TOKEN};info=<{INFO}>").compact


@pytest.mark.parametrize(
    "token",
    [
        "eyJh+GciOiJ9.eyJpYXQiOjF9.c2ln",
        "eyJhbGciOiJ9.eyJp/XQiOjF9.c2ln",
        "eyJhbGciOiJ9.eyJpYXQiOjF9.c2ln==",
        "eyJhbGciOiJ9.eyJpYXQiOjF9",
        "eyJhbGciOiJ9.eyJpYXQiOjF9.c2ln.ZXh0cmE",
        "eyJhbGciOiJ9.eyJpYXQiOjF9.",
        "eyJhbGciOiJ9.eyJp YXQiOjF9.c2ln",
    ],
    ids=["plus", "slash", "padding", "two-segments", "four-segments", "no-signature", "space"],
)
def test_identity_token_outside_base64url_refused_438(token):
    """RFC 8224 errata 6499, RFC 7515 §7.1 (digest §1.1): the digest is three base64url
    segments; ``+``, ``/``, ``=``, spaces or another segment count -> 438."""
    with pytest.raises(IdentityHeaderError) as ei:
        parse_identity(f"{token};info=<{INFO}>")
    assert ei.value.sip_code == 438


@pytest.mark.parametrize("value", [None, 42, b"bytes", "", "   ", ";info=<https://a.example/>"])
def test_identity_not_a_header_refused(value):
    """RFC 8224 §4: no token, or not text at all -> IdentityHeaderError (438)."""
    with pytest.raises(IdentityHeaderError):
        parse_identity(value)


def test_identity_oversized_header_refused():
    """Digest §6.4/§10 item 22 (input limits): a header over ``max_bytes`` is refused."""
    with pytest.raises(IdentityHeaderError):
        parse_identity(f"{TOKEN};info=<{INFO}>;pad={'a' * 20_000}")
    with pytest.raises(IdentityHeaderError):
        parse_identity(f"{TOKEN};info=<{INFO}>", max_bytes=20)


def test_identity_format_back_to_header_value():
    """RFC 8224 §4 (digest §1.1): a parsed header formats back to a canonical header value
    (``info`` in angle brackets, known params first, quoting only where needed) that parses to
    the same header."""
    raw = f'Identity: {TOKEN} ; PPT="shaken";x=<y>;INFO=<{INFO}>;alg=ES256;flag;note="a;b"'
    h = parse_identity(raw)
    text = format_identity(h)
    assert text == f'{TOKEN};info=<{INFO}>;alg=ES256;ppt=shaken;x=y;flag;note="a;b"'
    assert h.format() == text
    assert parse_identity(text) == h


def test_identity_format_builds_header_from_fields():
    """RFC 8224 §4: formatting a constructed header gives the wire form; optional params are
    omitted when None."""
    h = IdentityHeader(TOKEN, INFO)
    assert format_identity(h) == f"{TOKEN};info=<{INFO}>"
    h2 = IdentityHeader(TOKEN, INFO, "ES256", "shaken", (("q", "a b"),))
    assert format_identity(h2) == f'{TOKEN};info=<{INFO}>;alg=ES256;ppt=shaken;q="a b"'


# -- compact form through the verifier (RFC 8225 §7, RFC 8224 §4.1; digest §2.6) ---------------


def test_compact_shaken_form_refused_438(pki, verifier, good_header):
    """Digest §2.6 (RFC 8588, ATIS-1000074): ``attest``/``origid`` cannot be rebuilt from SIP, so
    a compact-form SHAKEN PASSporT fails with 438."""
    sig = good_header.split(";")[0].split(".")[2]
    v = verifier.verify(identity(".." + sig, pki.x5u), orig=ORIG, dest=DEST, now=NOW, date=NOW)
    assert v.verstat == "TN-Validation-Failed"
    assert v.error is not None
    assert (v.error.sip_code, v.error.check) == (438, "compact_form")


def _compact_plain(pki, iat=NOW):
    """A plain (no ppt) PASSporT signed over the canonical header/claims the verifier rebuilds
    (RFC 8225 §9), sent in compact form ``..sig``."""
    header = {"alg": "ES256", "typ": "passport", "x5u": pki.x5u}
    payload = {"dest": {"tn": [DEST_TN]}, "iat": iat, "orig": {"tn": ORIG_TN}}
    token = sign_passport(header, payload, pki.leaf_key)
    assert token.split(".")[0] == b64url_encode(canonical_json(header))
    return identity(".." + token.split(".")[2], pki.x5u, ppt=None)


def test_compact_plain_passport_rebuilt_and_verifies(pki, verifier):
    """RFC 8225 §7, RFC 8224 §4.1 (digest §2.6): a compact plain PASSporT is rebuilt from the
    calling/called numbers and the Date, and its signature verifies. No ``attest``, so the
    caller ID is not "verified"."""
    v = verifier.verify(_compact_plain(pki), orig=ORIG, dest=DEST, now=NOW + 5, date=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert v.attest is None
    assert v.caller_id == "unverified"
    assert (v.orig_tn, v.dest_tns, v.iat) == (ORIG_TN, [DEST_TN], NOW)


def test_compact_plain_passport_fails_when_date_was_rewritten(pki, verifier):
    """Digest §2.6 pitfall: the rebuilt ``iat`` is the Date header; a rewritten Date breaks the
    signature (438)."""
    v = verifier.verify(_compact_plain(pki), orig=ORIG, dest=DEST, now=NOW, date=NOW - 1)
    assert v.error is not None
    assert (v.error.sip_code, v.error.check) == (438, "signature")


def test_compact_plain_passport_needs_the_numbers(pki, verifier):
    """RFC 8224 §4.1: without the call's numbers the compact form cannot be rebuilt (438)."""
    v = verifier.verify(_compact_plain(pki), now=NOW, date=NOW)
    assert v.error is not None
    assert v.error.sip_code == 438


def test_identity_header_parsed_by_verifier_with_name_and_folding(pki):
    """Digest §10 item 4: a real-world header (``y:`` name, quoted ppt, folded) verifies."""
    token = signed(pki, header=jose(pki.x5u)).partition(";")[0]
    raw = f'y: {token}\r\n ; PPT="shaken" ;INFO=<{pki.x5u}> ; alg=ES256'
    v = Verifier(trust_anchors=[pki.root_pem], certificates=pki.certificates()).verify(
        raw, orig=ORIG, dest=DEST, now=NOW
    )
    assert v.verstat == "TN-Validation-Passed", v.error
