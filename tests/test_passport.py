"""PASSporT decoding and checks (RFC 8225, RFC 8588; standards digest §2, §3, §5.3 steps 3-5, §9).

Decoder-level rules are tested on :func:`shakenkit.decode_passport`; the value rules that the
verifier applies (``alg``, ``typ``, ``ppt``, ``x5u``, ``attest``, ``origid``, ``iat``, signature)
through :meth:`shakenkit.Verifier.verify`.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from shakenkit import PassportError, Verifier, decode_passport
from shakenkit.core.passport import (
    b64url_decode,
    b64url_encode,
    canonical_json,
    sign_passport,
    verify_signature,
)
from shakenkit.errors import CertificateFetchError
from tests.conftest import (
    DEST,
    DEST_TN,
    NOW,
    ORIG,
    ORIG_TN,
    ORIGID,
    claims,
    identity,
    jose,
    sign_raw,
    signed,
)

H = b64url_encode(b'{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://a.example/c"}')
P = b64url_encode(canonical_json(claims()))
S = b64url_encode(bytes(range(64)))


def _err(v):
    assert v.error is not None, f"expected a failure, got {v.verstat}"
    return v.error.sip_code, v.error.check


# -- decoding (RFC 7515 §2/§7.1, RFC 8225 §4-§5) ------------------------------------------------


def test_passport_full_form_decoded():
    """RFC 8225 §4-§5 (digest §2.1, §2.2): header and claims are read; the signing input is the
    RECEIVED ``header.payload`` bytes (digest §2.4)."""
    p = decode_passport(f"{H}.{P}.{S}")
    assert (p.header.alg, p.header.typ, p.header.ppt) == ("ES256", "passport", "shaken")
    assert p.header.x5u == "https://a.example/c"
    c = p.claims
    assert (c.attest, c.origid, c.iat, c.orig_tn, c.dest_tns) == (
        "A",
        ORIGID,
        NOW,
        ORIG_TN,
        (DEST_TN,),
    )
    assert p.signing_input == f"{H}.{P}".encode()
    assert p.signature == bytes(range(64))


def test_decoded_passport_equals_one_built_by_the_dataclass_constructors():
    """decode_passport fills the frozen objects' slots directly (a hot path): the result is
    the same object the dataclass constructors build, every field set, still frozen."""
    import dataclasses

    from shakenkit.core.passport import Passport, PassportClaims

    p = decode_passport(f"{H}.{P}.{S}")
    c = p.claims
    same = Passport(
        p.header,
        PassportClaims(**{f.name: getattr(c, f.name) for f in dataclasses.fields(PassportClaims)}),
        p.signing_input, p.signature, p.raw_header, p.raw_claims,
    )
    assert p == same and hash(p.signing_input) == hash(same.signing_input)
    assert (c.attest, c.origid, c.iat, c.orig_tn, c.dest_tns) == ("A", ORIGID, NOW, ORIG_TN,
                                                                  (DEST_TN,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.attest = "C"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.signature = b""  # type: ignore[misc]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda seg: seg + "=",
        lambda seg: seg + "==",
        lambda seg: seg[:4] + "+" + seg[5:],
        lambda seg: seg[:4] + "/" + seg[5:],
        lambda seg: seg[:4] + " " + seg[4:],
        lambda seg: seg[:4] + "\n" + seg[4:],
        lambda seg: seg[:4] + "é" + seg[5:],
        lambda seg: seg + "A" * ((1 - len(seg)) % 4 or 4),  # 4n+1 characters: not base64
    ],
    ids=["pad1", "pad2", "plus", "slash", "space", "newline", "non-ascii", "length"],
)
@pytest.mark.parametrize("segment", [0, 1, 2], ids=["header", "payload", "signature"])
def test_base64url_strict(segment, mutate):
    """RFC 7515 §2 (digest §1.1, §2.3): base64url WITHOUT padding, no ``+``/``/``, no whitespace;
    anything else -> PassportError (438)."""
    parts = [H, P, S]
    parts[segment] = mutate(parts[segment])
    with pytest.raises(PassportError) as ei:
        decode_passport(".".join(parts))
    assert ei.value.sip_code == 438


def test_base64url_non_canonical_trailing_bits_rejected():
    """RFC 4648 §3.5, RFC 7515 §2: the unused bits of the last character must be zero, otherwise
    several spellings decode to one signature and an altered token would still verify."""
    # 64 bytes -> 86 characters: the last one carries 2 data bits and 4 bits that must be 0.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert alphabet.index(S[-1]) % 16 == 0
    assert b64url_decode(S) == bytes(range(64))
    for extra in range(1, 16):
        variant = S[:-1] + alphabet[alphabet.index(S[-1]) + extra]
        with pytest.raises(PassportError):
            b64url_decode(variant)
        with pytest.raises(PassportError):
            decode_passport(f"{H}.{P}.{variant}")


def test_non_utf8_json_rejected():
    """RFC 7519 §7.2 / RFC 8259 §8.1: JSON text is UTF-8; other bytes -> 438."""
    latin1 = b64url_encode(b'{"iat":"\xff\xfe"}')
    with pytest.raises(PassportError, match="UTF-8"):
        decode_passport(f"{H}.{latin1}.{S}")


def test_duplicate_json_keys_rejected():
    """RFC 7515 §5.2 step 4, RFC 8225 §9 item 6: member names are unique; duplicates -> 438."""
    dup = b'{"attest":"A","attest":"C","dest":{"tn":["1"]},"iat":1,"orig":{"tn":"1"}}'
    with pytest.raises(PassportError, match="duplicate"):
        decode_passport(f"{H}.{b64url_encode(dup)}.{S}")
    dup_header = b'{"alg":"ES256","alg":"none"}'
    with pytest.raises(PassportError):
        decode_passport(f"{b64url_encode(dup_header)}.{P}.{S}")


@pytest.mark.parametrize("doc", [b"[]", b'"passport"', b"1", b"null", b"true", b"[{}]"])
@pytest.mark.parametrize("segment", [0, 1], ids=["header", "payload"])
def test_non_object_json_rejected(segment, doc):
    """RFC 7515 §4 / RFC 7519 §7.2: the header and the claims are JSON OBJECTS -> else 438."""
    parts = [H, P, S]
    parts[segment] = b64url_encode(doc)
    with pytest.raises(PassportError, match="not a JSON object"):
        decode_passport(".".join(parts))


@pytest.mark.parametrize("doc", [b"{", b"{'a':1}", b'{"a":1,}', b"\x00", b"nul", b"{} {}"])
def test_invalid_json_rejected(doc):
    """RFC 8259: text that is not JSON -> 438."""
    with pytest.raises(PassportError, match="not valid JSON"):
        decode_passport(f"{H}.{b64url_encode(doc)}.{S}")


@pytest.mark.parametrize("token", [f"{H}..{S}", f".{P}.{S}", f"{H}.{P}.", f"{H}.{P}", "..x"])
def test_empty_or_missing_segment_rejected(token):
    """RFC 7515 §7.1: the full form has three non-empty segments (438)."""
    with pytest.raises(PassportError, match="full-form"):
        decode_passport(token)


def test_passport_size_limit():
    """Digest §10 item 22 (input limits): a PASSporT over ``max_bytes`` is refused before
    decoding, directly and through the verifier (438)."""
    token = f"{H}.{P}.{S}"
    with pytest.raises(PassportError, match="limit"):
        decode_passport(token, max_bytes=len(token) - 1)
    assert decode_passport(token, max_bytes=len(token))
    big = b64url_encode(canonical_json(claims(pad="x" * 9000)))
    with pytest.raises(PassportError, match="limit"):
        decode_passport(f"{H}.{big}.{S}")


def test_deeply_nested_json_is_438_not_exception(pki, verifier):
    """Digest §5.3 step 3: any undecodable PASSporT is 438; a JSON bomb nested deeper than the
    recursion limit must not escape as RecursionError."""
    deep = b'{"attest":' + b"[" * 5000 + b"]" * 5000 + b"}"
    token = f"{H}.{b64url_encode(deep)}.{S}"
    with pytest.raises(PassportError):
        decode_passport(token, max_bytes=100_000)
    shallow = b'{"attest":' + b"[" * 2000 + b"]" * 2000 + b"}"
    v = verifier.verify(
        identity(f"{H}.{b64url_encode(shallow)}.{S}", pki.x5u), orig=ORIG, dest=DEST, now=NOW
    )
    assert _err(v)[0] == 438


@pytest.mark.parametrize(
    ("orig", "dest"),
    [
        ({"tn": ["12155551212", "12155551299"]}, {"tn": [DEST_TN]}),
        ({"tn": 12155551212}, {"tn": [DEST_TN]}),
        ("12155551212", {"tn": [DEST_TN]}),
        ({}, {"tn": [DEST_TN]}),
        ({"tn": ORIG_TN}, {"tn": []}),
        ({"tn": ORIG_TN}, {"tn": [DEST_TN, 5]}),
        ({"tn": ORIG_TN}, None),
        ({"uri": ["sip:a@example.com", "sip:b@example.com"]}, {"tn": [DEST_TN]}),
    ],
    ids=[
        "orig-two-tns",
        "orig-int",
        "orig-string",
        "orig-empty",
        "dest-empty",
        "dest-int",
        "dest-missing",
        "orig-two-uris",
    ],
)
def test_orig_dest_shape_enforced(orig, dest):
    """RFC 8225 §5.2.1 (digest §2.2): ``orig`` is ONE identity, ``dest`` at least one; wrong
    shapes -> 438."""
    c = claims(orig=orig, dest=dest)
    if dest is None:
        c.pop("dest", None)
    with pytest.raises(PassportError) as ei:
        decode_passport(f"{H}.{b64url_encode(canonical_json(c))}.{S}")
    assert ei.value.sip_code == 438


def test_unknown_claims_and_header_members_kept():
    """RFC 8225 §8.3, digest §5.1: unknown claims (``rcd``, ``crn``, ...) and header members are
    kept as received in ``raw_claims``/``extra``."""
    hdr = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": "https://a/c", "foo": [1]}
    c = claims(rcd={"nam": "Alice"}, crn="Dinner")
    p = decode_passport(
        f"{b64url_encode(canonical_json(hdr))}.{b64url_encode(canonical_json(c))}.{S}"
    )
    assert p.claims.extra == {"rcd": {"nam": "Alice"}, "crn": "Dinner"}
    assert p.raw_claims["rcd"] == {"nam": "Alice"}
    assert p.header.extra == {"foo": [1]}
    assert p.raw_header == hdr


def test_dest_tn_bare_string_read_as_one_tn():
    """Digest §10 item 1: ``"dest":{"tn":"1215..."}`` is read as one TN and flagged."""
    c = claims(dest={"tn": DEST_TN})
    p = decode_passport(f"{H}.{b64url_encode(canonical_json(c))}.{S}")
    assert p.claims.dest_tns == (DEST_TN,)
    assert p.claims.dest_tn_was_string


# -- header checks through the verifier (RFC 8225 §4, digest §5.3 step 4) -----------------------


class _CountingSource:
    """A certificate source that records every lookup (to prove no key was fetched)."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    def get(self, url):
        self.calls += 1
        return self.inner.get(url)

    async def aget(self, url):
        self.calls += 1
        return self.inner.get(url)


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "ES384", "es256", "", None])
def test_alg_none_rejected_before_any_key_is_used(pki, alg):
    """RFC 8225 §4.2, digest §2.1/§5.3 step 4: only ES256; ``none``, HMAC, RSA, ES384 -> 438,
    decided before any certificate (key) is fetched or used."""
    src = _CountingSource(pki.verifier().source)
    v = Verifier(trust_anchors=[pki.root_pem], source=src)
    h = signed(pki, header=jose(pki.x5u, alg=alg), alg=None)
    verdict = v.verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert _err(verdict) == (438, "passport_header")
    assert src.calls == 0
    assert verdict.signer is None


def test_alg_param_must_match_jose_alg(pki, verifier):
    """Digest §1.2: the ``alg`` Identity parameter, if present, equals the JOSE ``alg`` (438)."""
    v = verifier.verify(signed(pki, alg="ES384"), orig=ORIG, dest=DEST, now=NOW)
    assert _err(v) == (438, "passport_header")
    ok = verifier.verify(signed(pki, alg=None), orig=ORIG, dest=DEST, now=NOW)
    assert ok.verstat == "TN-Validation-Passed"


@pytest.mark.parametrize("typ", ["JWT", "Passport", "passport ", None, 1])
def test_typ_must_be_passport(pki, verifier, typ):
    """RFC 8225 §4.1 (digest §2.1): ``typ`` is exactly ``"passport"``; anything else -> 438."""
    v = verifier.verify(signed(pki, header=jose(pki.x5u, typ=typ)), orig=ORIG, dest=DEST, now=NOW)
    assert _err(v) == (438, "passport_header")


@pytest.mark.parametrize(
    ("param", "token_ppt"), [("shaken", "div"), ("div", "shaken"), ("SHAKEN", "shaken")]
)
def test_ppt_param_differs_from_token_ppt_438(pki, verifier, param, token_ppt):
    """RFC 8224 §4 / digest §1.2: the ``ppt`` parameter must equal the JOSE ``ppt`` (438)."""
    h = signed(pki, header=jose(pki.x5u, ppt=token_ppt), ppt=param)
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (438, "passport_header")


@pytest.mark.parametrize(
    "x5u",
    [
        "https://cr.example.com/sp/123A.pem/",
        "http://cr.example.com/sp/123A.pem",
        "https://CR.example.com/sp/123A.pem",
        "https://cr.example.com/sp/123A%2Epem",
    ],
)
def test_x5u_differs_from_info_438(pki, verifier, x5u):
    """ATIS-1000074, digest §5.3 step 4 and §10 item 6: ``x5u`` equals ``info`` byte for byte;
    trailing slash, scheme, case or percent-encoding differences -> 438."""
    h = signed(pki, header=jose(x5u), info=pki.x5u)
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (438, "passport_header")


@pytest.mark.parametrize("x5u", [None, "", 5])
def test_x5u_missing_438(pki, verifier, x5u):
    """RFC 8225 §4.3, ATIS-1000074 (digest §2.1): SHAKEN requires ``x5u`` (438)."""
    hdr = jose(pki.x5u)
    if x5u is None:
        hdr.pop("x5u")
    else:
        hdr["x5u"] = x5u
    assert _err(verifier.verify(signed(pki, header=hdr), orig=ORIG, dest=DEST, now=NOW)) == (
        438,
        "passport_header",
    )


def test_crit_header_rejected_438(pki, verifier):
    """RFC 7515 §4.1.11 (digest §2.1): PASSporT defines no ``crit`` extension -> 438."""
    h = signed(pki, header=jose(pki.x5u, crit=["foo"], foo=1))
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (438, "passport_header")


def test_jose_key_parameters_ignored_with_warning(pki, verifier):
    """RFC 8225 §4.3, digest §5.3: the key comes from ``x5u`` only; ``jwk``/``x5c``/``kid`` are
    ignored (a warning), never used to verify."""
    h = signed(pki, header=jose(pki.x5u, jwk={"kty": "EC"}, x5c=["MII..."], kid="k1"))
    v = verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert any("ignored" in w for w in v.warnings)


def test_unknown_claims_kept_and_call_passes(pki, verifier):
    """Digest §5.1: unknown claims are ignored by the checks (but signed over) -> Passed."""
    h = signed(pki, payload=claims(rcd={"nam": "Alice"}, crn="Lunch"))
    v = verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error


# -- claim checks (RFC 8588 §4-5, RFC 8225 §5.1.1; digest §3, §5.3 step 5) ----------------------


@pytest.mark.parametrize("attest", ["D", "a", "", "AB", 1, None, True])
def test_attest_not_a_b_c_rejected_438(pki, verifier, attest):
    """RFC 8588 §4 (digest §3): ``attest`` is exactly ``"A"``, ``"B"`` or ``"C"``; missing or any
    other value -> 438."""
    h = signed(pki, payload=claims(attest=attest))
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (438, "passport_claims")


@pytest.mark.parametrize("attest", [["A"], {"level": "A"}])
def test_attest_of_unhashable_json_type_rejected_438(pki, verifier, attest):
    """RFC 8588 §4: an array/object ``attest`` is just another invalid value -> 438, no raise."""
    h = signed(pki, payload=claims(attest=attest))
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (438, "passport_claims")


@pytest.mark.parametrize("origid", [None, "", "   ", 5, ["x"]])
def test_origid_missing_rejected_438(pki, verifier, origid):
    """RFC 8588 §5 (digest §3): ``origid`` is a required non-empty string -> else 438."""
    h = signed(pki, payload=claims(origid=origid))
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (438, "passport_claims")


@pytest.mark.parametrize("iat", [str(NOW), float(NOW), NOW + 0.5, True, None, [NOW]], ids=repr)
def test_iat_not_integer_rejected_438(pki, verifier, iat):
    """RFC 8225 §5.1.1, RFC 8588 errata 6656 (digest §2.2, §10 item 3): ``iat`` is an integer
    NumericDate; a string, float, bool or missing value -> 438."""
    h = signed(pki, payload=claims(iat=iat))
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (438, "passport_claims")


def test_dest_tn_bare_string_tolerated_with_warning(pki, verifier):
    """Digest §10 item 1: a bare-string ``dest.tn`` from an older signer verifies (the signature
    is over what was sent) and the verdict carries a warning."""
    h = signed(pki, payload=claims(dest={"tn": DEST_TN}))
    v = verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert v.dest_tns == [DEST_TN]
    assert any("dest.tn" in w for w in v.warnings)


# -- signature (RFC 8225 §6, RFC 7518 §3.4; digest §2.3, §10 items 13 and 15) -------------------


def test_signature_der_encoded_rejected_438(pki, verifier):
    """RFC 7518 §3.4 (digest §2.3, §10 item 13): an ES256 JWS signature is 64-byte R||S; a DER
    signature (70-72 bytes), even a mathematically valid one, -> 438 naming the length."""
    si = f"{b64url_encode(canonical_json(jose(pki.x5u)))}.{b64url_encode(canonical_json(claims()))}"
    der = pki.leaf_key.sign(si.encode(), ec.ECDSA(hashes.SHA256()))
    assert 68 <= len(der) <= 72
    v = verifier.verify(
        identity(f"{si}.{b64url_encode(der)}", pki.x5u), orig=ORIG, dest=DEST, now=NOW
    )
    assert _err(v) == (438, "signature")
    assert f"{len(der)} bytes" in v.error.detail


def _flip(segment: str, index: int, bit: int = 0) -> str:
    raw = bytearray(b64url_decode(segment))
    raw[index] ^= 1 << bit
    return b64url_encode(bytes(raw))


@pytest.mark.parametrize(
    ("segment", "index"),
    [(1, 2), (1, -3), (2, 0), (2, 40), (2, -1)],
    ids=["payload-start", "payload-end", "sig-r", "sig-s", "sig-last"],
)
def test_one_bit_change_rejected_438(pki, verifier, good_header, segment, index):
    """RFC 7515 §5.2 (digest §5.3 step 9): flipping one bit of the signed payload or of the
    signature -> the signature does not verify -> 438."""
    token, _, params = good_header.partition(";")
    parts = token.split(".")
    parts[segment] = _flip(parts[segment], index)
    v = verifier.verify(".".join(parts) + ";" + params, orig=ORIG, dest=DEST, now=NOW)
    assert v.error is not None
    assert v.error.sip_code == 438


def test_one_bit_change_in_header_rejected_438(pki, verifier, good_header):
    """RFC 7515 §5.2: a one-bit change in the protected header also fails (438)."""
    token, _, params = good_header.partition(";")
    h, p, s = token.split(".")
    raw = b64url_decode(h).replace(b'"passport"', b'"passpors"')
    v = verifier.verify(f"{b64url_encode(raw)}.{p}.{s};{params}", orig=ORIG, dest=DEST, now=NOW)
    assert _err(v)[0] == 438


def test_signature_verified_over_received_bytes_not_reserialized(pki, verifier):
    """Digest §2.4, §10 item 15: non-canonical JSON (spaces, key order) is valid; the signature
    is checked over the received segments, never over re-serialized JSON."""
    header = json.dumps(jose(pki.x5u), indent=1).encode()
    payload = json.dumps(dict(reversed(list(claims().items()))), separators=(", ", " : ")).encode()
    token = sign_raw(pki.leaf_key, header, payload)
    v = verifier.verify(identity(token, pki.x5u), orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error


def test_verify_signature_requires_64_byte_r_s(pki):
    """RFC 7518 §3.4: ``verify_signature`` accepts exactly 64-byte R||S with the right key."""
    token = sign_passport(jose(pki.x5u), claims(), pki.leaf_key)
    p = decode_passport(token)
    key = pki.leaf_key.public_key()
    assert verify_signature(p, key)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert not verify_signature(p, other)
    h, pl, s = token.split(".")
    short = decode_passport(f"{h}.{pl}.{b64url_encode(b64url_decode(s)[:63])}")
    assert not verify_signature(short, key)


def test_forged_signature_from_other_key_rejected_438(pki, rogue_pki, verifier):
    """RFC 8224 §6.2 step 5: a PASSporT signed by a key other than the certificate's -> 438."""
    h = signed(pki, key=rogue_pki.leaf_key)
    assert _err(verifier.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (438, "signature")


def test_no_network_for_undecodable_passport(pki):
    """Digest §5.3 order note: decoding failures are decided before the certificate fetch."""

    class Refuse:
        def get(self, url):
            raise CertificateFetchError("must not be called")

        async def aget(self, url):
            raise CertificateFetchError("must not be called")

    v = Verifier(trust_anchors=[pki.root_pem], source=Refuse())
    bad = identity(f"{H}.{base64.urlsafe_b64encode(b'[1]').decode().rstrip('=')}.{S}", pki.x5u)
    assert _err(v.verify(bad, orig=ORIG, dest=DEST, now=NOW))[1] == "passport_decode"


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=64, max_size=64), st.integers(0, 40), st.integers(0, 40))
def test_raw_rs_signature_converts_to_the_der_cryptography_expects(sig, zr, zs):
    """RFC 7518 §3.4: R||S -> DER ECDSA-Sig-Value, equal to ``encode_dss_signature`` (leading
    zero bytes and high bits included)."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from shakenkit.core.passport import _raw_to_der

    sig = bytes(zr) + sig[zr:32] + bytes(zs) + sig[32 + zs :] if zr <= 32 and zs <= 32 else sig
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    assert _raw_to_der(sig) == encode_dss_signature(r, s)


@pytest.mark.parametrize(
    "text",
    [b'{"a":1} {"b":2}', b'{"a":1}}', b'{"a":1}x', b"", b"{", b'{"a":1,"a":2}'],
    ids=["two-objects", "extra-brace", "trailing-garbage", "empty", "open", "duplicate"],
)
def test_payload_json_must_be_exactly_one_object(text):
    """RFC 8259 / RFC 7515 §5.2: the decoded segment is one JSON object and nothing else."""
    from shakenkit.core.passport import _json_object

    with pytest.raises(PassportError):
        _json_object(text, "payload")


def test_payload_json_whitespace_around_the_object_is_json():
    """Whitespace around the object is valid JSON (signers may emit it)."""
    from shakenkit.core.passport import _json_object

    assert _json_object(b' {"a": 1}\n', "payload") == {"a": 1}
