"""STI certificates: TNAuthList, SHAKEN leaf profile, path validation, CRLs, caching, trust
anchors, and the real SHAKEN PKI corpus (RFC 8226 §9, RFC 5280; standards digest §4.1, §6.1-§6.3,
§10 items 8 and 16; corpus README)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import shakenkit.certs.path as pki_mod
from shakenkit import CertificateError, TrustStore, Verifier, parse_chain
from shakenkit.certs.certificate import load_certificate, parse_certificates
from shakenkit.certs.der import DERError
from shakenkit.certs.path import validate_chain
from shakenkit.certs.profile import leaf_profile
from shakenkit.certs.tnauthlist import parse_tnauthlist
from shakenkit.testing import issue_certificate, make_crl, make_pki
from tests.conftest import (
    CORPUS,
    DATA,
    DAY,
    DEST,
    NOW,
    ORIG,
    corpus_der,
    corpus_rows,
    der_to_pem_lenient,
    issue_leaf,
    jose,
    serial_of,
    signed,
    spc_tnauthlist,
    utc,
    verifier_for,
)

TMOBILE = DATA / "tmobile"
SAMPLE = corpus_rows(DATA / "corpus_sample.jsonl")

# The 6 real leaves (issued by "1RouteGroup SHAKEN Intermediate CA") whose TNAuthList is not
# valid DER: `30 08 a0 06 16 35 35 38 4a`, the IA5String length octet is missing, so the
# SEQUENCE claims 8 bytes and holds 7. Every outer length fits `16 04 "558J"` with the `04`
# lost, so the SPC is the 4-character "558J" (the corpus tool read the first character as a
# length and reported "58J"). They are read through that one narrow quirk and reported.
MALFORMED_TNAUTHLIST = {
    "0c7bf2cc1741b8036003876afadd109dfd5a6b0fb7af3662ae4d02e3340ad9ce",
    "d092ee80d10eb8c6656246f9ffa3d2100319fb217c50c8cc03e4d84e654da026",
    "81188428a77465a01dbc3a49509aa0486510c109472f8af6e5cb1887a682040e",
    "224a236b36499273c1a11a37e7df69b3dd72f4747dad0f3faf092b0069eb0b1d",
    "ea5813855308274fae05fdcae622a159efa47cde2ccf87a9cdf09d9ef43d93f2",
    "7e9f3377c97ba96475fb319a39341fb126f4d96175b09c0ea388618ee1749e50",
}
# T-Mobile's production root (issued twice) and sub-CA (two generations): NULL parameter in the
# ECDSA signature AlgorithmIdentifier (corpus README), readable only through the lenient repair.
NULL_PARAM = {
    "4378a3f136510465232246b4d6a72d600db7e11117ac0e3d59c65528f47c9c4f",
    "a22dda815630c32b2fa32fb3483ded024fe4d333b6865bf47dbb00a5194472ad",
    "c12a1d22654cc7c8bdcd4d502979b061750e11291d529a13a0b71bb7e96fcaff",
    "d54b8c44268da3eaee9c5483c289652d1bd7f82420891114475470adebf8bf1e",
}


def _err(v):
    assert v.error is not None, f"expected a failure, got {v.verstat}"
    return v.error.sip_code, v.error.check


# -- TNAuthList (RFC 8226 §9; digest §4.1) --------------------------------------------------------


def test_tnauthlist_spc_read_from_explicit_tag():
    """RFC 8226 §9 (EXPLICIT tags), digest §4.1 example: ``30 08 A0 06 16 04 '818H'``."""
    entries, quirks = parse_tnauthlist(bytes.fromhex("3008a006160438313848"))
    assert [(e.kind, e.value) for e in entries] == [("spc", "818H")]
    assert quirks == []


def test_tnauthlist_ranges_and_single_tns():
    """RFC 8226 §9: ``range [1] SEQUENCE {start, count}`` and ``one [2] TelephoneNumber``."""
    start = b"\x16\x0b12155550000"
    rng = b"\x30" + bytes([len(start) + 3]) + start + b"\x02\x01\x64"  # count 100
    one = b"\x16\x0b12155551212"
    body = b"\xa1" + bytes([len(rng)]) + rng + b"\xa2" + bytes([len(one)]) + one
    entries, quirks = parse_tnauthlist(b"\x30" + bytes([len(body)]) + body)
    assert [(e.kind, e.value, e.count) for e in entries] == [
        ("range", "12155550000", 100),
        ("one", "12155551212", None),
    ]
    assert quirks == []


def test_tnauthlist_implicit_spc_tolerated_as_quirk():
    """Digest §4.1 / §10 item 16: an IMPLICIT ``[0]`` SPC from a broken issuer is read and
    flagged."""
    entries, quirks = parse_tnauthlist(bytes.fromhex("3006800437313141"))
    assert [(e.kind, e.value) for e in entries] == [("spc", "711A")]
    assert quirks


@pytest.mark.parametrize(
    "der", [bytes.fromhex("13043735354a"), bytes.fromhex("300613043735354a")], ids=["bare", "seq"]
)
def test_tnauthlist_bare_printable_string_quirk(der):
    """Corpus README: 6 live leaves carry a PrintableString where the ``[0] EXPLICIT IA5String``
    SPC belongs; a lenient parser reads the SPC and reports the quirk."""
    entries, quirks = parse_tnauthlist(der)
    assert [(e.kind, e.value) for e in entries] == [("spc", "755J")]
    assert quirks


@pytest.mark.parametrize(
    "der",
    [
        "3000",  # empty SEQUENCE OF
        "3006a30416023132",  # unknown CHOICE tag [3]
        "3008a00616043831384800",  # trailing byte
        "3002a000",  # empty explicit [0]
        "3004a1023000",  # range without start/count
        "3006a004020101ff",  # SPC of the wrong type (INTEGER)
        "04023132",  # an OCTET STRING, not a SEQUENCE
    ],
)
def test_tnauthlist_malformed_raises_der_error(der):
    """RFC 8226 §9: malformed DER raises DERError (mapped to CertificateError), never anything
    else."""
    with pytest.raises(DERError):
        parse_tnauthlist(bytes.fromhex(der))


def test_tnauthlist_missing_length_octet_quirk():
    """6 live 1RouteGroup leaves: ``30 08 A0 06 16 "558J"`` (the IA5String lost its length
    octet); exactly that shape is read, with the quirk reported. Anything else stays an error."""
    entries, quirks = parse_tnauthlist(bytes.fromhex("3008a006163535384a"))
    assert [(e.kind, e.value) for e in entries] == [("spc", "558J")]
    assert quirks == ["SPC IA5String lacks its length octet (malformed DER)"]
    for bad in ("3008a006163535386a", "3009a006163535384a", "3008a106163535384a"):
        with pytest.raises(DERError):
            parse_tnauthlist(bytes.fromhex(bad))


def test_tnauthlist_of_test_pki_leaf(pki):
    """RFC 8226 §9 / ATIS-1000080 §6.4.1 (digest §6.2): the SP certificate carries one SPC."""
    leaf = load_certificate(pki.leaf_der)
    assert leaf.spc == "123A"
    assert [(e.kind, e.value) for e in leaf.tnauthlist] == [("spc", "123A")]
    assert not leaf.is_ca


def test_no_tnauthlist_rejected_437(pki):
    """RFC 8226 §9, digest §6.3 item 4: the leaf must carry a TNAuthList with an SPC (437)."""
    der, key = issue_leaf(pki, tnauthlist=None)
    v, url = verifier_for(pki, der)
    verdict = v.verify(
        signed(pki, key=key, header=jose(url), info=url), orig=ORIG, dest=DEST, now=NOW
    )
    assert _err(verdict) == (437, "certificate_tnauthlist")


def test_tnauthlist_without_spc_rejected_437(pki):
    """Digest §6.3 item 4: a TNAuthList holding only TNs yields no SPC -> 437."""
    one = b"\x16\x0b12155551212"
    der, key = issue_leaf(pki, tnauthlist=b"\x30\x0f\xa2\x0d" + one)
    assert load_certificate(der).spc is None
    v, url = verifier_for(pki, der)
    verdict = v.verify(
        signed(pki, key=key, header=jose(url), info=url), orig=ORIG, dest=DEST, now=NOW
    )
    assert _err(verdict) == (437, "certificate_tnauthlist")


def _verify_custom_leaf(pki, der, key, **kw):
    v, url = verifier_for(pki, der, **kw)
    return v.verify(signed(pki, key=key, header=jose(url), info=url), orig=ORIG, dest=DEST, now=NOW)


# -- leaf profile (ATIS-1000080 §6.4.1, SHAKEN CP; digest §6.2, §6.3 items 3-4) -------------------


def test_valid_custom_leaf_passes(pki):
    """Control for the profile tests below: a conformant leaf issued the same way passes."""
    der, key = issue_leaf(pki)
    v = _verify_custom_leaf(pki, der, key)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert v.signer is not None
    assert v.signer.spc == "123A"


@pytest.mark.parametrize("kind", ["p384", "rsa"])
def test_leaf_key_must_be_p256(pki, kind):
    """Digest §6.2 (ATIS-1000080 §6.4.1): the SP key is ECDSA P-256; a P-384 or RSA leaf is an
    unsupported credential (437), whatever the PASSporT signature."""
    leaf_key = (
        ec.generate_private_key(ec.SECP384R1())
        if kind == "p384"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    der, _ = issue_leaf(pki, key=leaf_key)
    signer = ec.generate_private_key(ec.SECP256R1())
    assert _err(_verify_custom_leaf(pki, der, signer)) == (437, "certificate_leaf_key")


def test_ca_flagged_leaf_rejected_437(pki):
    """Digest §6.2: the SP certificate has basicConstraints cA=FALSE; a CA cert cannot sign
    calls (437)."""
    der, key = issue_leaf(pki, ca=True)
    assert _err(_verify_custom_leaf(pki, der, key)) == (437, "certificate_leaf_not_ca")


def test_key_usage_without_digital_signature_rejected_437(pki):
    """Digest §6.2, §6.3 item 3: keyUsage must include digitalSignature on the leaf (437)."""
    ku = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    der, key = issue_leaf(pki, key_usage=ku)
    assert _err(_verify_custom_leaf(pki, der, key)) == (437, "certificate_leaf_key_usage")


def test_missing_key_usage_is_a_warning_unless_strict(pki):
    """Digest §6.3 item 4: profile deviations are warnings by default, failures (437) in strict
    mode (``Policy.strict_certificate_policy``)."""
    from shakenkit import Policy

    der, key = issue_leaf(pki, key_usage=None)
    v = _verify_custom_leaf(pki, der, key)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert any("keyUsage" in w for w in v.warnings)
    strict = _verify_custom_leaf(pki, der, key, policy=Policy(strict_certificate_policy=True))
    assert _err(strict) == (437, "certificate_leaf_key_usage")


def test_missing_shaken_policy_oid_is_a_warning_unless_strict(pki):
    """Digest §6.2 (CP OIDs), §10 item 17: no SHAKEN CP OID -> warning, 437 in strict mode."""
    from shakenkit import Policy

    der, key = issue_leaf(pki, policy=False)
    v = _verify_custom_leaf(pki, der, key)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert any("policy" in w for w in v.warnings)
    strict = _verify_custom_leaf(pki, der, key, policy=Policy(strict_certificate_policy=True))
    assert _err(strict) == (437, "certificate_certificate_policy")


# -- path validation (RFC 5280 §6; digest §6.3) ---------------------------------------------------


def test_expired_leaf_rejected_437(expired_pki):
    """RFC 5280 §6.1.3, digest §6.2/§6.3 item 3: every certificate valid at ``now`` -> else 437."""
    v = expired_pki.verifier()
    h = expired_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    assert _err(v.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (437, "certificate_chain")


def test_not_yet_valid_leaf_rejected_437():
    """RFC 5280 §6.1.3: a leaf whose notBefore is after ``now`` -> 437."""
    future = make_pki(not_before=NOW + DAY, not_after=NOW + 300 * DAY)
    h = future.sign(orig=ORIG, dest=DEST, iat=NOW)
    assert _err(future.verifier().verify(h, orig=ORIG, dest=DEST, now=NOW)) == (
        437,
        "certificate_chain",
    )


def test_untrusted_root_with_the_same_name_rejected_437(pki, rogue_pki, good_header):
    """Digest §6.3 item 2: anchors are matched by key, not by name; a root with the same
    subject but another key is not this chain's anchor (437)."""
    v = Verifier(trust_anchors=[rogue_pki.root_pem], certificates=pki.certificates())
    assert load_certificate(rogue_pki.root_der).subject == load_certificate(pki.root_der).subject
    assert _err(v.verify(good_header, orig=ORIG, dest=DEST, now=NOW)) == (437, "certificate_chain")


def test_root_inside_the_x5u_bundle_is_not_trusted(pki, rogue_pki):
    """Digest §6.3 item 2: ignore any root contained in the x5u body; trust configured anchors
    only. A forger's chain that ships its own root -> 437."""
    bundle = rogue_pki.chain_pem + rogue_pki.root_pem
    v = Verifier(trust_anchors=[pki.root_pem], certificates={rogue_pki.x5u: bundle})
    h = rogue_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    assert _err(v.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (437, "certificate_chain")


@pytest.mark.parametrize(
    "order", ["ca,leaf", "leaf,ca,root", "root,ca,leaf"], ids=["reversed", "root", "reversed-root"]
)
def test_chain_out_of_order_verifies(pki, good_header, order):
    """Digest §6.3 items 1-2, §10 item 8: the order is sometimes reversed or the root is
    included; build the path by issuer, do not rely on order."""
    parts = {"leaf": pki.leaf_pem, "ca": pki.ca_pem, "root": pki.root_pem}
    bundle = b"".join(parts[p] for p in order.split(","))
    v = Verifier(trust_anchors=[pki.root_pem], certificates={pki.x5u: bundle})
    verdict = v.verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    assert verdict.verstat == "TN-Validation-Passed", verdict.error
    assert verdict.signer is not None
    assert verdict.signer.spc == "123A"


def test_missing_intermediate_rejected_437(pki, good_header):
    """Digest §6.3 items 1-2: with only the leaf served and only the root trusted, no path can
    be built (437)."""
    v = Verifier(trust_anchors=[pki.root_pem], certificates={pki.x5u: pki.leaf_pem})
    assert _err(v.verify(good_header, orig=ORIG, dest=DEST, now=NOW)) == (437, "certificate_chain")


def test_no_trust_anchors_rejected_437(pki, good_header):
    """Digest §6.3 item 2: with no configured anchors nothing is trusted (437)."""
    v = Verifier(trust_anchors=[], certificates=pki.certificates())
    assert _err(v.verify(good_header, orig=ORIG, dest=DEST, now=NOW)) == (437, "certificate_chain")


# -- CRLs (digest §6.1, §6.3 item 5) -----------------------------------------------------------


def test_crl_revoked_leaf_rejected_437(pki, good_header):
    """Digest §6.3 item 5: a leaf listed on a CRL from its issuer -> 437 (check "crl")."""
    crl = make_crl(pki.ca_key, pki.ca_der, [serial_of(pki.leaf_der)])
    v = pki.verifier(crls=[crl])
    verdict = v.verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    assert _err(verdict) == (437, "crl")
    assert verdict.caller_id == "likely_spoofed"


def test_crl_revoked_intermediate_rejected_437(pki, good_header):
    """Digest §6.3 item 5: intermediates are checked too."""
    crl = make_crl(pki.root_key, pki.root_der, [serial_of(pki.ca_der)])
    assert _err(pki.verifier(crls=[crl]).verify(good_header, orig=ORIG, dest=DEST, now=NOW)) == (
        437,
        "crl",
    )


def test_crl_not_listing_the_chain_passes(pki, good_header):
    """Digest §6.3 item 5: CRLs that do not list the chain's serials are a passed check. Both
    certificates name a CRL, so each needs a CRL that covers it: the STI-CA's for the leaf, the
    root's for the STI-CA (docs/security.md "Revocation")."""
    crl = make_crl(pki.ca_key, pki.ca_der, [12345, 67890])
    root_crl = make_crl(pki.root_key, pki.root_der, [])
    v = pki.verifier(crls=[crl, root_crl]).verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert any(c.name == "crl" and c.ok for c in v.checks)


def test_crl_with_a_bad_signature_is_ignored(pki, rogue_pki, good_header):
    """Digest §6.1: the CRL's signature is verified with the issuer's key; a forged CRL (same
    issuer name, other key) cannot revoke anything."""
    forged = make_crl(rogue_pki.ca_key, rogue_pki.ca_der, [serial_of(pki.leaf_der)])
    v = pki.verifier(crls=[forged]).verify(good_header, orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error


# -- caching and trust-anchor reload (digest §6.1, §6.3) ------------------------------------------


@pytest.fixture
def path_validations(monkeypatch):
    """Count the real (uncached) path validations."""
    calls: list[float] = []
    real = pki_mod._validate_uncached

    def counting(chain, anchors, now):
        calls.append(now)
        return real(chain, anchors, now)

    monkeypatch.setattr(pki_mod, "_validate_uncached", counting)
    return calls


def test_validated_chain_cached(pki, path_validations):
    """Digest §6.4 (cache by URL) / CertChain: a chain validated once is reused for later calls
    while inside its validity window; path validation does not run again."""
    v = pki.verifier()
    for t in (NOW, NOW + 30, NOW + 3600):
        h = pki.sign(orig=ORIG, dest=DEST, iat=t)
        assert v.verify(h, orig=ORIG, dest=DEST, now=t).verstat == "TN-Validation-Passed"
    assert len(path_validations) == 1
    assert v._facts(v.source.get(pki.x5u)).validation is not None


def test_cached_chain_revalidated_after_the_window(pki, path_validations):
    """RFC 5280 §6.1.3: a cached result holds only inside [latest notBefore, earliest notAfter];
    after the leaf expires the chain is validated again and fails (437)."""
    v = pki.verifier()
    assert v.verify(pki.sign(orig=ORIG, dest=DEST, iat=NOW), orig=ORIG, dest=DEST, now=NOW).passed
    later = int(load_certificate(pki.leaf_der).not_after) + 60
    verdict = v.verify(pki.sign(orig=ORIG, dest=DEST, iat=later), orig=ORIG, dest=DEST, now=later)
    assert _err(verdict) == (437, "certificate_chain")
    assert len(path_validations) == 2


def test_trust_store_reload_swaps_anchors(pki, rogue_pki, good_header, path_validations):
    """Digest §6.1: roots may be added or removed at any time; ``TrustStore.reload`` swaps the
    anchors and cached validations made under the old set are not reused."""
    store = TrustStore([pki.root_pem])
    v = Verifier(trust_anchors=store, certificates=pki.certificates())
    assert v.verify(good_header, orig=ORIG, dest=DEST, now=NOW).passed
    store.reload([rogue_pki.root_pem])
    assert _err(v.verify(good_header, orig=ORIG, dest=DEST, now=NOW)) == (437, "certificate_chain")
    store.reload([pki.root_pem, rogue_pki.root_pem])
    assert len(store) == 2
    assert v.verify(good_header, orig=ORIG, dest=DEST, now=NOW).passed
    assert len(path_validations) == 3


def test_trust_store_reload_rereads_directory(pki, rogue_pki, good_header, tmp_path):
    """Digest §6.1: a directory of ``.pem``/``.crt``/``.cer``/``.der`` anchors is re-read on
    ``reload()``; other files are ignored."""
    (tmp_path / "notes.txt").write_text("not a certificate")
    (tmp_path / "rogue.pem").write_bytes(rogue_pki.root_pem)
    store = TrustStore.from_directory(tmp_path)
    assert len(store) == 1
    v = Verifier(trust_anchors=store, certificates=pki.certificates())
    assert _err(v.verify(good_header, orig=ORIG, dest=DEST, now=NOW))[0] == 437
    (tmp_path / "sti-pa.der").write_bytes(pki.root_der)
    store.reload()
    assert len(store) == 2
    assert v.verify(good_header, orig=ORIG, dest=DEST, now=NOW).passed


# -- bundle parsing (digest §6.3 item 1, §10 items 8-9) --------------------------------------------


def test_parse_chain_accepts_pem_variants_and_der(pki):
    """Digest §10 items 8-9: CRLF line ends, blank lines, ``TRUSTED CERTIFICATE`` labels, or a
    single DER certificate (content sniffed, never the Content-Type)."""
    crlf = pki.chain_pem.replace(b"\n", b"\r\n\r\n")
    assert [c.spc for c in parse_chain(crlf).certs] == ["123A", None]
    trusted = pki.leaf_pem.replace(b"CERTIFICATE", b"TRUSTED CERTIFICATE")
    assert parse_chain(trusted).leaf.spc == "123A"
    assert parse_chain(pki.leaf_der).leaf.spc == "123A"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        b"\x30\x03\x02\x01\x01",
    ],
    ids=["empty", "text", "bad-base64", "empty-seq", "not-a-cert"],
)
def test_parse_chain_garbage_raises_certificate_error(data):
    """Digest §6.3 item 1: an unparsable body raises CertificateError, never another error."""
    with pytest.raises(CertificateError):
        parse_chain(data)


def test_parse_chain_limits(pki):
    """Digest §6.3 item 1: cap the number of certificates and the bytes."""
    with pytest.raises(CertificateError, match="limit"):
        parse_chain(pki.chain_pem * 6)  # 12 certificates, over the default 10
    with pytest.raises(CertificateError, match="limit"):
        parse_chain(pki.chain_pem, max_bytes=100)


# -- lenient NULL-parameter path (corpus README; RFC 5758 §3.2) -----------------------------------


def test_null_param_ca_chain_verifies_with_lenient_warning(lenient_pki):
    """Corpus README: CAs whose ECDSA AlgorithmIdentifier carries NULL are verified over their
    original TBS bytes, and the verdict says a lenient parse was used."""
    assert load_certificate(lenient_pki.ca_der).lenient is not None
    h = lenient_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    v = lenient_pki.verifier().verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert v.caller_id == "verified"
    assert any("lenient" in w for w in v.warnings)


def _flip_last_byte(der: bytes) -> bytes:
    # The last byte of a certificate is the last byte of ECDSA ``s`` in the signature.
    return der[:-1] + bytes([der[-1] ^ 0x01])


@pytest.mark.parametrize("which", ["ca", "leaf"])
def test_tampered_lenient_certificate_fails_437(lenient_pki, which):
    """Corpus README: the lenient path must not weaken checks: a certificate whose signature was
    changed by one byte no longer chains (437)."""
    ca = _flip_last_byte(lenient_pki.ca_der) if which == "ca" else lenient_pki.ca_der
    leaf = _flip_last_byte(lenient_pki.leaf_der) if which == "leaf" else lenient_pki.leaf_der
    bundle = der_to_pem_lenient(leaf) + der_to_pem_lenient(ca)
    v = Verifier(trust_anchors=[lenient_pki.root_pem], certificates={lenient_pki.x5u: bundle})
    h = lenient_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    assert _err(v.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (437, "certificate_chain")


def test_lenient_chain_with_same_name_untrusted_root_fails_437(lenient_pki):
    """Digest §6.3 item 2 on the lenient path: a same-name root with another key -> 437."""
    impostor = make_pki(null_sigalg_ca=True, not_before=NOW - 30 * DAY)
    v = Verifier(trust_anchors=[impostor.root_pem], certificates=lenient_pki.certificates())
    h = lenient_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    assert _err(v.verify(h, orig=ORIG, dest=DEST, now=NOW)) == (437, "certificate_chain")


def test_lenient_chain_outside_validity_fails_437(lenient_pki):
    """RFC 5280 §6.1.3 on the lenient path: validity is still enforced."""
    later = int(load_certificate(lenient_pki.leaf_der).not_after) + 60
    h = lenient_pki.sign(orig=ORIG, dest=DEST, iat=later)
    v = lenient_pki.verifier().verify(h, orig=ORIG, dest=DEST, now=later)
    assert _err(v) == (437, "certificate_chain")


# -- the real SHAKEN PKI (corpus README) -----------------------------------------------------------


def _tmobile(*names: str) -> bytes:
    return b"".join((TMOBILE / n).read_bytes() for n in names)


@pytest.mark.parametrize("root", ["root.pem", "root-reissued.pem"])
def test_tmobile_production_chain_validates_leniently(root):
    """Corpus README: the T-Mobile production chain (leaf ``SHAKEN 6529``, sub-CA and root with
    the NULL parameter) validates at 2026-01-01 through the lenient path."""
    chain = parse_chain(_tmobile("leaf-6529.pem", "sub-ca.pem"))
    leaf = chain.leaf
    assert "CN=SHAKEN 6529" in leaf.subject
    assert leaf.spc == "6529"
    assert (leaf.not_before, leaf.not_after) == (
        pytest.approx(utc(2025, 7, 7), abs=DAY),
        pytest.approx(utc(2026, 7, 7), abs=DAY),
    )
    sub = chain.certs[1]
    assert "CN=TMOBILE-PROD-SUB-STIRSHAKEN-EC" in sub.subject
    assert (sub.not_before, sub.not_after) == (
        pytest.approx(utc(2022, 10, 27), abs=DAY),
        pytest.approx(utc(2027, 10, 26), abs=DAY),
    )
    assert sub.lenient is not None
    anchors = TrustStore([TMOBILE / root]).snapshot()
    res = validate_chain(chain, anchors, utc(2026, 1, 1))
    assert res.ok, res.detail
    assert res.lenient
    assert [c.subject.split(",")[0] for c in res.path] == [
        "CN=SHAKEN 6529",
        "CN=TMOBILE-PROD-SUB-STIRSHAKEN-EC",
        "CN=TMOBILE-PROD-ROOT-STIRSHAKEN-EC",
    ]
    assert all(f.ok for f in leaf_profile(leaf) if f.fatal)


@pytest.mark.parametrize(
    "when",
    [utc(2025, 7, 1), utc(2026, 7, 8), utc(2028, 1, 1)],
    ids=["before-leaf", "after-leaf", "after-sub-ca"],
)
def test_tmobile_chain_fails_outside_validity(when):
    """RFC 5280 §6.1.3: outside the leaf's (or the sub-CA's) validity the chain fails."""
    chain = parse_chain(_tmobile("leaf-6529.pem", "sub-ca.pem"))
    res = validate_chain(chain, TrustStore([TMOBILE / "root.pem"]).snapshot(), when)
    assert not res.ok


def test_tmobile_chain_fails_with_another_root(pki):
    """Digest §6.3 item 2: neither an unrelated root nor a same-name impostor (NULL parameter and
    all) anchors the T-Mobile chain."""
    chain = parse_chain(_tmobile("leaf-6529.pem", "sub-ca.pem"))
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TMOBILE-USA"),
            x509.NameAttribute(NameOID.COMMON_NAME, "TMOBILE-PROD-ROOT-STIRSHAKEN-EC"),
        ]
    )
    impostor = issue_certificate(
        subject=name,
        key=ec.generate_private_key(ec.SECP256R1()),
        ca=True,
        policy=False,
        crl_url=None,
        not_before=utc(2019, 1, 1),
        not_after=utc(2040, 1, 1),
        null_sigalg=True,
    )
    assert load_certificate(impostor).subject == chain.certs[1].issuer
    for root in (pki.root_pem, impostor):
        res = validate_chain(chain, TrustStore([root]).snapshot(), utc(2026, 1, 1))
        assert not res.ok, root


def test_tmobile_chain_without_sub_ca_fails():
    """Digest §6.3 items 1-2: the sub-CA is needed to reach the root."""
    chain = parse_chain(_tmobile("leaf-6529.pem"))
    res = validate_chain(chain, TrustStore([TMOBILE / "root.pem"]).snapshot(), utc(2026, 1, 1))
    assert not res.ok


def _expected_spc(row):
    if row["spc"]:
        return row["spc"]
    for kind, value in row["tnauthlist"] or ():
        if kind == "unknown_13":  # bare PrintableString, hex-encoded by the corpus tool
            return bytes.fromhex(value).decode("ascii")
    return None


def _check_corpus_row(row):
    der = corpus_der(row)
    assert hashlib.sha256(der).hexdigest() == row["sha256"]
    cert = load_certificate(der)  # all 272 real certificates are usable
    assert cert.is_ca == row["is_ca"]
    assert (cert.lenient is not None) == (row["sha256"] in NULL_PARAM)
    if row["sha256"] in MALFORMED_TNAUTHLIST:
        assert cert.spc is not None and len(cert.spc) == 4 and cert.spc.endswith(row["spc"])
        assert cert.tnauthlist_quirks == ("SPC IA5String lacks its length octet (malformed DER)",)
        return
    assert cert.spc == _expected_spc(row), row["subject"]
    if row["tnauthlist"] is None:
        assert cert.tnauthlist is None
    if any(kind == "unknown_13" for kind, _ in row["tnauthlist"] or ()):
        assert cert.tnauthlist_quirks


@pytest.mark.parametrize("row", SAMPLE, ids=[r["sha256"][:12] for r in SAMPLE])
def test_corpus_sample_certificate_parses(row):
    """Corpus README: every real certificate parses through ``load_certificate`` (or raises
    CertificateError, never another exception) and its SPC matches the corpus ``spc`` (or the
    bare PrintableString value the corpus tool could not decode)."""
    _check_corpus_row(row)


def test_tnauthlist_bare_printable_string_quirk_from_real_corpus():
    """Corpus README: the 6 live leaves whose TNAuthList entry is a bare PrintableString (tag
    0x13) instead of ``[0] EXPLICIT IA5String``: the SPC is read, the quirk recorded, and the
    leaf profile accepts the SPC while reporting the quirk as a (non-fatal) warning."""
    rows = [r for r in SAMPLE if any(k == "unknown_13" for k, _ in r["tnauthlist"] or ())]
    assert len(rows) == 6
    for row in rows:
        cert = load_certificate(corpus_der(row))
        assert cert.spc == _expected_spc(row)
        assert cert.spc in row["subject"]  # e.g. CN=SHAKEN 755J
        assert cert.tnauthlist_quirks
        findings = leaf_profile(cert)
        assert any(f.name == "tnauthlist" and f.ok for f in findings)
        assert any(not f.ok and not f.fatal and "untagged" in f.detail for f in findings)


def test_corpus_sample_covers_the_quirks():
    """The sample holds the interesting real certificates (corpus README)."""
    quirky = [r for r in SAMPLE if _expected_spc(r) and not r["spc"]]
    no_tnal = [r for r in SAMPLE if not r["is_ca"] and r["tnauthlist"] is None]
    assert len(quirky) == 6
    assert len(no_tnal) == 4
    assert {r["sha256"] for r in SAMPLE} >= NULL_PARAM
    assert {r["sha256"] for r in SAMPLE} >= MALFORMED_TNAUTHLIST


def test_corpus_leaves_without_tnauthlist_fail_the_profile():
    """RFC 8226 §9, digest §6.3 item 4: the 4 real leaves without a TNAuthList would fail 437."""
    for row in SAMPLE:
        if not row["is_ca"] and row["tnauthlist"] is None:
            findings = leaf_profile(load_certificate(corpus_der(row)))
            assert any(f.name == "tnauthlist" and not f.ok and f.fatal for f in findings)


@pytest.mark.skipif(not CORPUS.exists(), reason="full corpus not available")
def test_whole_corpus_parses():
    """Corpus README: all 272 certificates of the shared corpus, same rules as the sample."""
    rows = corpus_rows(CORPUS)
    assert len(rows) == 272
    for row in rows:
        _check_corpus_row(row)


def test_parse_certificates_spc_of_corpus_tmobile_leaf():
    """A sanity anchor for the data files: the T-Mobile leaf's TNAuthList SPC is 6529."""
    (leaf,) = parse_certificates((TMOBILE / "leaf-6529.pem").read_bytes())
    assert leaf.spc == "6529"
    assert leaf.tnauthlist_quirks == ()


def test_spc_tnauthlist_helper_matches_library_encoding():
    """RFC 8226 §9: the test helper and ``shakenkit._der`` produce the same DER."""
    from shakenkit.certs.tnauthlist import encode_tnauthlist_spc

    expected = bytes.fromhex("3008a006160438313848")
    assert spc_tnauthlist("818H") == encode_tnauthlist_spc("818H") == expected


def test_tnauthlist_quirk_reported_as_verdict_warning(pki):
    """Digest §10 item 16, corpus README: an SPC read through a tolerated encoding quirk (here
    the bare PrintableString of 6 live certificates) verifies, and the verdict reports it."""
    der, key = issue_leaf(pki, tnauthlist=bytes.fromhex("300613043132334a"))
    v = _verify_custom_leaf(pki, der, key)
    assert v.verstat == "TN-Validation-Passed", v.error
    assert v.signer is not None
    assert v.signer.spc == "123J"
    assert any("untagged" in w for w in v.warnings)
