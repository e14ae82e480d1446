#!/usr/bin/env python3
"""Generate the adversarial corpus (``corpus.jsonl``, ``root.pem``, ``certs/*.pem``).

    PYTHONPATH=src python tests/adversarial/make_corpus.py [OUT_DIR]

OUT_DIR defaults to this directory. Keys are generated afresh on every run, so the tokens and
certificates change; the case names, call data and expectations do not (the test suite checks
that). Private keys are never written: verifying needs only the certificates.

Every case carries the verdict the documentation promises (docs/verdicts.md, standards digest
§5.3 and §9): a known ``src`` bug is tracked in tests/test_adversarial.py, not here.
The file format is described in ``tests/adversarial/__init__.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
try:
    import shakenkit  # noqa: F401
except ImportError:  # run from a checkout without PYTHONPATH
    sys.path.insert(0, str(HERE.parents[1] / "src"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402

from shakenkit.core.identity import IdentityHeader, format_identity  # noqa: E402
from shakenkit.core.passport import b64url_encode, canonical_json, sign_passport  # noqa: E402
from shakenkit.testing import TestPKI, issue_certificate, make_pki  # noqa: E402

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z, as tests/conftest.py
DAY = 86_400
BASE_URL = "https://cr.example.com/adv/"
ORIG = "+1 215-555-1212"
DEST = "tel:+1-215-555-1213"
ORIG_TN = "12155551212"
DEST_TN = "12155551213"
ORIGID = "123e4567-e89b-12d3-a456-426655440000"
MB = 1_048_576
ARABIC_INDIC = str.maketrans("0123456789", "".join(map(chr, range(0x660, 0x66A))))
FULLWIDTH = str.maketrans("0123456789", "".join(map(chr, range(0xFF10, 0xFF1A))))


def url(name: str) -> str:
    return BASE_URL + name


def pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def jose(x5u: str, /, **over: Any) -> dict[str, Any]:
    h: dict[str, Any] = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}
    h.update(over)
    return {k: v for k, v in h.items() if v is not None}


def claims(**over: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "attest": "A",
        "dest": {"tn": [DEST_TN]},
        "iat": NOW,
        "orig": {"tn": ORIG_TN},
        "origid": ORIGID,
    }
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def es256_raw(key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def token_bytes(key: ec.EllipticCurvePrivateKey, header: bytes, payload: bytes) -> str:
    """ES256 over arbitrary header/payload BYTES (not necessarily JSON or UTF-8)."""
    si = b64url_encode(header) + "." + b64url_encode(payload)
    return si + "." + b64url_encode(es256_raw(key, si.encode("ascii")))


def ident(token: str, info: str, *, alg: str | None = "ES256", ppt: str | None = "shaken") -> str:
    return format_identity(IdentityHeader(token, info, alg, ppt))


# -- expectations (docs/verdicts.md) ----------------------------------------------------------


def passed(caller_id: str = "verified", warning: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"verstat": "TN-Validation-Passed", "caller_id": caller_id,
                         "sip_code": None}
    if warning:
        e["warning"] = warning
    return e


def failed(sip_code: int, check: str | None, *, spoofed: bool = True) -> dict[str, Any]:
    e: dict[str, Any] = {
        "verstat": "TN-Validation-Failed",
        "caller_id": "likely_spoofed" if spoofed else "unverified",
        "sip_code": sip_code,
    }
    if check is not None:
        e["check"] = check
    return e


def no_validation(warning: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"verstat": "No-TN-Validation", "caller_id": "unverified", "sip_code": None}
    if warning:
        e["warning"] = warning
    return e


# -- the PKI ----------------------------------------------------------------------------------


class Material:
    """The trusted PKI, the extra leaves under its STI-CA, a rogue PKI with the same names, and
    the files each URL serves."""

    def __init__(self) -> None:
        self.pki: TestPKI = make_pki(
            spc="123A", x5u=url("sp.pem"), not_before=NOW - 30 * DAY,
            not_after=NOW + 3650 * DAY, crl_url=None,
        )
        self.ca_name = x509.load_der_x509_certificate(self.pki.ca_der).subject
        self.files: dict[str, bytes] = {}
        self.keys: dict[str, Any] = {}
        p = self.pki
        self.files["sp.pem"] = p.chain_pem
        self.keys["sp.pem"] = p.leaf_key
        # Same names as the trusted PKI, other keys: a forger's look-alike hierarchy.
        self.rogue = make_pki(
            spc="123A", x5u=url("rogue.pem"), not_before=NOW - 30 * DAY,
            not_after=NOW + 3650 * DAY, crl_url=None,
        )
        self.files["rogue.pem"] = self.rogue.chain_pem
        self.files["rogue_with_root.pem"] = self.rogue.chain_pem + self.rogue.root_pem
        self.files["rogue_leaf_genuine_ca.pem"] = self.rogue.leaf_pem + p.ca_pem
        # Chain shapes (the trusted SP certificate).
        self.files["reversed.pem"] = p.ca_pem + p.leaf_pem
        self.files["reversed_with_root.pem"] = p.root_pem + p.ca_pem + p.leaf_pem
        self.files["with_root.pem"] = p.chain_pem + p.root_pem
        self.files["duplicate_ca.pem"] = p.chain_pem + p.ca_pem
        self.files["extra_unrelated.pem"] = p.chain_pem + self.rogue.ca_pem + self.rogue.root_pem
        self.files["leaf_only.pem"] = p.leaf_pem
        self.files["ca_only.pem"] = p.ca_pem
        self.files["crlf.pem"] = p.chain_pem.replace(b"\n", b"\r\n")
        self.files["garbage.pem"] = b"this is not a certificate\n"
        self.files["empty.pem"] = b""
        self.files["truncated.pem"] = p.chain_pem[: len(p.chain_pem) // 2]
        for name in ("sp.pem", "reversed.pem", "reversed_with_root.pem", "with_root.pem",
                     "duplicate_ca.pem", "extra_unrelated.pem", "leaf_only.pem", "crlf.pem"):
            self.keys[name] = p.leaf_key
        self.keys["rogue.pem"] = self.keys["rogue_with_root.pem"] = self.rogue.leaf_key
        self.keys["rogue_leaf_genuine_ca.pem"] = self.rogue.leaf_key
        # Leaves with one profile or validity defect each, under the trusted STI-CA.
        self.leaf("sp2.pem", spc="456B")
        self.leaf("expired.pem", not_before=NOW - 400 * DAY, not_after=NOW - DAY)
        self.leaf("not_yet_valid.pem", not_before=NOW + DAY, not_after=NOW + 400 * DAY)
        self.leaf("p384.pem", key=ec.generate_private_key(ec.SECP384R1()))
        self.leaf("rsa.pem", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.leaf("ca_flagged.pem", ca=True)
        self.leaf("no_tnauthlist.pem", spc=None)

    def leaf(self, name: str, *, key: Any = None, spc: str | None = "123A", ca: bool = False,
             not_before: float = NOW - 30 * DAY, not_after: float = NOW + 3650 * DAY) -> None:
        key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
        der = issue_certificate(
            subject=x509.Name([
                x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Example Telecom"),
                x509.NameAttribute(x509.NameOID.COMMON_NAME, f"SHAKEN {spc or 'NONE'}"),
            ]),
            key=key, issuer=self.ca_name, issuer_key=self.pki.ca_key, ca=ca, spc=spc,
            not_before=not_before, not_after=not_after, crl_url=None,
        )
        self.files[name] = pem(der) + self.pki.ca_pem
        self.keys[name] = key


# -- the cases --------------------------------------------------------------------------------


def build_cases(m: Material) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    sp = url("sp.pem")
    key = m.pki.leaf_key

    def add(name: str, identity: Any, expect: dict[str, Any], note: str, *,
            x5u: str | None = sp, orig: str | None = ORIG, dest: str | None = DEST,
            now: int = NOW, tags: tuple[str, ...] = ()) -> None:
        case: dict[str, Any] = {"name": name, "identity": identity, "orig": orig, "dest": dest,
                                "now": now, "x5u": x5u, "expect": expect, "note": note}
        if tags:
            case["tags"] = list(tags)
        cases.append(case)

    def good(**over: Any) -> str:
        return sign_passport(jose(sp), claims(**over), key)

    def signed_claims(note: str, name: str, expect: dict[str, Any], **over: Any) -> None:
        add(name, ident(good(**over), sp), expect, note)

    def raw(header: bytes, payload: bytes, k: Any = None) -> str:
        return ident(token_bytes(k or key, header, payload), sp)

    hdr_json = canonical_json(jose(sp))
    good_tok = good()
    h64, p64, s64 = good_tok.split(".")

    # ---- baselines --------------------------------------------------------------------------
    add("baseline_valid_A", ident(good_tok, sp), passed(), "valid A-attested call (RFC 8588)")
    signed_claims("attest B passes but is not 'verified' (docs/verdicts.md)", "baseline_valid_B",
                  passed("unverified"), attest="B")
    signed_claims("attest C passes but is not 'verified'", "baseline_valid_C",
                  passed("unverified"), attest="C")
    add("no_identity_header", "", no_validation(), "no Identity header: No-TN-Validation")
    add("whitespace_only_header", " \t ", no_validation(), "blank header value: no header")

    # ---- alg ----------------------------------------------------------------------------------
    none_h = b64url_encode(canonical_json(jose(sp, alg="none")))
    add("alg_none_empty_signature", f"{none_h}.{p64}.;info=<{sp}>;alg=none;ppt=shaken",
        failed(438, "identity_header"),
        "alg none with the empty signature of an unsecured JWS: the token grammar needs one")
    add("alg_none_with_signature", ident(f"{none_h}.{p64}.{s64}", sp, alg="none"),
        failed(438, "passport_header"), "alg none is never accepted (RFC 8225 §4.2)")
    hs_h = b64url_encode(canonical_json(jose(sp, alg="HS256")))
    si = f"{hs_h}.{p64}".encode()
    mac = hmac.new(m.pki.chain_pem, si, hashlib.sha256).digest()
    add("alg_hs256_keyed_with_certificate", ident(f"{hs_h}.{p64}.{b64url_encode(mac)}", sp,
                                                  alg="HS256"),
        failed(438, "passport_header"),
        "HS256 keyed with the x5u bytes (key-confusion attack): alg must be ES256")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rs_h = b64url_encode(canonical_json(jose(sp, alg="RS256")))
    si = f"{rs_h}.{p64}".encode()
    rs_sig = rsa_key.sign(si, padding.PKCS1v15(), hashes.SHA256())
    add("alg_rs256", ident(f"{rs_h}.{p64}.{b64url_encode(rs_sig)}", sp, alg="RS256"),
        failed(438, "passport_header"), "RS256: SHAKEN allows only ES256")
    p384 = ec.generate_private_key(ec.SECP384R1())
    es384_h = b64url_encode(canonical_json(jose(sp, alg="ES384")))
    si = f"{es384_h}.{p64}".encode()
    r, s = decode_dss_signature(p384.sign(si, ec.ECDSA(hashes.SHA384())))
    sig384 = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    add("alg_es384", ident(f"{es384_h}.{p64}.{b64url_encode(sig384)}", sp, alg="ES384"),
        failed(438, "passport_header"), "ES384: SHAKEN allows only ES256")
    add("alg_param_differs", ident(good_tok, sp, alg="RS256"), failed(438, "passport_header"),
        "Identity alg parameter must equal the JOSE alg (RFC 8224 §4)")
    add("alg_param_lowercase", ident(good_tok, sp, alg="es256"), failed(438, "passport_header"),
        "JOSE alg values are case-sensitive")

    # ---- signature ------------------------------------------------------------------------
    si_good = f"{h64}.{p64}".encode()
    der_sig = key.sign(si_good, ec.ECDSA(hashes.SHA256()))
    add("signature_der_encoded", ident(f"{h64}.{p64}.{b64url_encode(der_sig)}", sp),
        failed(438, "signature"), "DER signature instead of 64-byte R||S (digest §10.13)")
    raw_sig = es256_raw(key, si_good)
    add("signature_63_bytes", ident(f"{h64}.{p64}.{b64url_encode(raw_sig[:63])}", sp),
        failed(438, "signature"), "wrong-length signature")
    long_sig = b64url_encode(raw_sig + bytes(1))
    add("signature_65_bytes", ident(f"{h64}.{p64}.{long_sig}", sp),
        failed(438, "signature"), "wrong-length signature (trailing byte)")
    add("signature_all_zero", ident(f"{h64}.{p64}.{b64url_encode(bytes(64))}", sp),
        failed(438, "signature"), "r = s = 0")
    ff_sig = b64url_encode(bytes([255]) * 64)
    add("signature_all_ff", ident(f"{h64}.{p64}.{ff_sig}", sp),
        failed(438, "signature"), "r, s >= curve order")
    other = ec.generate_private_key(ec.SECP256R1())
    add("signature_of_another_key", ident(sign_passport(jose(sp), claims(), other), sp),
        failed(438, "signature"), "signed by a key other than the x5u certificate's")
    sp2 = url("sp2.pem")
    add("token_for_another_x5u", ident(sign_passport(jose(sp2), claims(), key), sp2),
        failed(438, "signature"),
        "x5u and info both name another SP's (trusted) chain: its key does not verify",
        x5u=sp2)
    tampered = b64url_encode(canonical_json(claims(orig={"tn": "12155559999"})))
    add("payload_tampered", ident(f"{h64}.{tampered}.{s64}", sp), failed(438, "signature"),
        "payload changed after signing", orig="+12155559999")
    add("signature_from_other_token", ident(f"{h64}.{p64}.{good(attest='B').split('.')[2]}", sp),
        failed(438, "signature"), "signature transplanted from another token")

    # ---- x5u / info -----------------------------------------------------------------------
    add("x5u_differs_from_info", ident(sign_passport(jose(url("rogue.pem")), claims(), key), sp),
        failed(438, "passport_header"), "x5u must equal info (ATIS-1000074; digest §5.3 step 4)")
    add("x5u_differs_from_info_by_case",
        ident(sign_passport(jose(sp.replace("cr.example", "CR.example")), claims(), key), sp),
        failed(438, "passport_header"), "byte-exact comparison (digest §10 item 6)")
    add("x5u_missing", ident(sign_passport(jose(sp, x5u=None), claims(), key), sp),
        failed(438, "passport_header"), "x5u is required (RFC 8225 §4.3)")
    add("x5u_not_a_string", ident(sign_passport(jose(sp, x5u=[sp]), claims(), key), sp),
        failed(438, "passport_header"), "x5u must be a string")
    missing = url("not_configured.pem")
    add("x5u_not_served", ident(sign_passport(jose(missing), claims(), key), missing),
        failed(436, "x5u_fetch", spoofed=False),
        "certificate cannot be obtained: 436, not evidence of forgery", x5u=missing)
    for name in ("garbage.pem", "empty.pem", "truncated.pem"):
        u = url(name)
        add(f"x5u_serves_{name[:-4]}", ident(sign_passport(jose(u), claims(), key), u),
            failed(436, "x5u_fetch", spoofed=False), "x5u body is not a certificate: 436", x5u=u)
    add("info_missing", f"{good_tok};alg=ES256;ppt=shaken", failed(436, "identity_header"),
        "info is mandatory (RFC 8224 §4): 436", x5u=None)
    add("info_not_absolute", f"{good_tok};info=<cr.example.com/adv/sp.pem>;alg=ES256;ppt=shaken",
        failed(436, "identity_header"), "info must be an absolute URI: 436", x5u=None)
    add("info_repeated", f"{good_tok};info=<{sp}>;info=<{sp}>;alg=ES256;ppt=shaken",
        failed(438, "identity_header"), "a repeated parameter is malformed (digest §1.1)")
    add("info_quoted_not_angled", f'{good_tok};info="{sp}";alg=ES256;ppt=shaken',
        passed(warning="info parameter not enclosed"),
        "info without <> is tolerated with a warning (digest §10 item 5)")

    # ---- JOSE header parameters ----------------------------------------------------------
    add("crit_header", ident(sign_passport(jose(sp, crit=["exp"], exp=NOW + 60), claims(), key),
                             sp),
        failed(438, "passport_header"), "crit: PASSporT defines none (RFC 7515 §4.1.11)")
    atk = ec.generate_private_key(ec.SECP256R1())
    atk_pub = atk.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256",
           "x": b64url_encode(atk_pub.x.to_bytes(32, "big")),
           "y": b64url_encode(atk_pub.y.to_bytes(32, "big"))}
    atk_cert = issue_certificate(subject=x509.Name([x509.NameAttribute(
        x509.NameOID.COMMON_NAME, "SHAKEN 123A")]), key=atk, spc="123A")
    x5c = [b64url_encode(atk_cert).replace("-", "+").replace("_", "/")]
    for param, value in (("jku", "https://evil.example/keys.json"), ("jwk", jwk), ("x5c", x5c)):
        add(f"{param}_header_valid_signature",
            ident(sign_passport(jose(sp, **{param: value}), claims(), key), sp),
            passed(warning=f"{param} ignored"),
            f"{param} is ignored with a warning; the key comes from x5u only")
        add(f"{param}_header_attacker_key",
            ident(sign_passport(jose(sp, **{param: value}), claims(), atk), sp),
            failed(438, "signature"),
            f"{param} naming the attacker's key never selects it: signature fails")
    add("typ_jwt", ident(sign_passport(jose(sp, typ="JWT"), claims(), key), sp),
        failed(438, "passport_header"), "typ must be passport (RFC 8225 §4.1)")
    add("ppt_param_without_token_ppt",
        ident(sign_passport(jose(sp, ppt=None), claims(), key), sp),
        failed(438, "passport_header"), "ppt parameter must equal the token's ppt")
    div_tok = sign_passport(jose(sp, ppt="div"), claims(), key)
    add("ppt_div_without_div_claim", ident(div_tok, sp, ppt="div"), failed(438, "passport_claims"),
        "a div PASSporT must carry the div claim (RFC 8946 §3); alone, its failure decides")
    add("compact_form_shaken", f"..{s64};info=<{sp}>;alg=ES256;ppt=shaken",
        failed(438, "compact_form"), "compact SHAKEN cannot carry attest/origid (digest §2.6)")

    # ---- JSON -------------------------------------------------------------------------------
    dup_h = (b'{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://evil.example/x.pem",'
             b'"x5u":"' + sp.encode() + b'"}')
    good_payload = canonical_json(claims())
    add("duplicate_key_in_header", raw(dup_h, good_payload), failed(438, "passport_decode"),
        "duplicate JSON member names are refused (RFC 8225 §9 rule 6, RFC 7515 §4)")
    dup_p = good_payload[:-1] + b',"attest":"C"}'
    add("duplicate_key_in_payload", raw(hdr_json, dup_p), failed(438, "passport_decode"),
        "duplicate claim (attest A then C)")
    dup_orig = good_payload[:-1] + b',"orig":{"tn":"12155559999"}}'
    add("duplicate_orig_in_payload", raw(hdr_json, dup_orig), failed(438, "passport_decode"),
        "duplicate orig claim")
    bad_utf8 = good_payload.replace(ORIGID.encode(), b"\xff\xfe" + ORIGID.encode()[2:])
    add("non_utf8_payload", raw(hdr_json, bad_utf8), failed(438, "passport_decode"),
        "claims must be UTF-8 JSON")
    overlong = hdr_json.replace(b"/adv/", b"\xc0\xafadv/")
    add("non_utf8_header_overlong", raw(overlong, good_payload), failed(438, "passport_decode"),
        "overlong UTF-8 '/' in the JOSE header")
    add("utf8_bom_payload", raw(hdr_json, b"\xef\xbb\xbf" + good_payload),
        failed(438, "passport_decode"), "a BOM is not JSON whitespace")
    add("payload_not_an_object", raw(hdr_json, b'["attest","A"]'),
        failed(438, "passport_decode"), "claims must be a JSON object")
    add("payload_trailing_garbage", raw(hdr_json, good_payload + b"x"),
        failed(438, "passport_decode"), "trailing bytes after the JSON object")
    add("non_canonical_json_signed_as_sent",
        raw(b'{ "x5u" : "' + sp.encode() + b'", "typ":"passport","ppt":"shaken","alg":"ES256" }',
            b'{"origid":"' + ORIGID.encode() + b'",  "orig":{"tn":"' + ORIG_TN.encode()
            + b'"},"iat":' + str(NOW).encode() + b',"dest":{"tn":["' + DEST_TN.encode()
            + b'"]},"attest":"A"}'),
        passed(), "non-canonical JSON is verified over the received bytes (digest §2.4)")
    add("numbers_as_nan", raw(hdr_json, good_payload.replace(str(NOW).encode(), b"NaN")),
        failed(438, "passport_claims"), "iat NaN (Python's json accepts it): not an integer")

    # ---- base64url --------------------------------------------------------------------------
    pad_sig = s64 + "=" * (-len(s64) % 4)
    add("base64_padding", ident(f"{h64}.{p64}.{pad_sig}", sp), failed(438, "identity_header"),
        "base64url carries no padding in JWS (RFC 7515 §2; errata 6499)")
    std = good_tok
    while not any(c in std.split(".")[2] for c in "-_"):
        std = good()
    add("base64_standard_alphabet", ident(std.translate(str.maketrans("-_", "+/")), sp),
        failed(438, "identity_header"), "'+' and '/' are not base64url (errata 6499)")
    add("base64_space_inside", ident(f"{h64}.{p64[:20]} {p64[20:]}.{s64}", sp),
        failed(438, "identity_header"), "whitespace inside a segment")
    add("base64_tab_inside", ident(f"{h64}.{p64}.{s64[:10]}\t{s64[10:]}", sp),
        failed(438, "identity_header"), "tab inside a segment")
    add("base64_fold_inside", ident(f"{h64}.{p64[:30]}\r\n {p64[30:]}.{s64}", sp),
        failed(438, "identity_header"), "a folded line inside the token unfolds to a space")
    last = s64[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    noncanon = s64[:-1] + alphabet[alphabet.index(last) | 1]
    if noncanon == s64:
        noncanon = s64[:-1] + alphabet[alphabet.index(last) + 2]
    add("base64_noncanonical_trailing_bits", ident(f"{h64}.{p64}.{noncanon}", sp),
        failed(438, "passport_decode"), "non-zero unused bits (RFC 4648 §3.5)")
    bad_len = p64 + "A" * ((1 - len(p64)) % 4)
    add("base64_length_mod4_is_1", ident(f"{h64}.{bad_len}.{s64}", sp),
        failed(438, "passport_decode"), "impossible base64 length")
    add("four_segments", ident(f"{h64}.{p64}.{s64}.{s64}", sp), failed(438, "identity_header"),
        "JWS compact form has three segments")

    # ---- header grammar (tolerated and refused) ------------------------------------------
    add("whitespace_around_params", f'{good_tok} ; info = <{sp}> ; alg = ES256 ; ppt = "shaken"',
        passed(), "LWS around ';' and '=' is legal (RFC 3261 HCOLON/SEMI/EQUAL)")
    add("folded_header", f"{good_tok};info=<{sp}>\r\n\t;alg=ES256;ppt=shaken", passed(),
        "a folded header line unfolds (RFC 3261 §7.3.1)")
    add("header_name_prefix_compact", f"y: {ident(good_tok, sp)}", passed(),
        "compact header name y: is tolerated")
    add("param_names_uppercase", f"{good_tok};INFO=<{sp}>;ALG=ES256;PPT=shaken", passed(),
        "parameter names are case-insensitive")
    add("crlf_header_injection", ident(good_tok, sp) + "\r\nVia: SIP/2.0/UDP evil.example",
        failed(438, "identity_header"), "CRLF not followed by whitespace is not a fold")
    add("nul_in_header", ident(good_tok, sp).replace(";alg", "\x00;alg"),
        failed(438, "identity_header"), "NUL byte")
    add("unterminated_angle", f"{good_tok};info=<{sp};alg=ES256", failed(438, "identity_header"),
        "unterminated '<'")
    add("lone_surrogate_in_param", ident(good_tok, sp) + ";x\udcff=1",
        failed(438, "identity_header"), "a surrogate (undecodable byte) in a parameter name")
    add("multiple_headers_forged_then_good",
        ident(sign_passport(jose(sp), claims(), other), sp) + "," + ident(good_tok, sp),
        passed(), "any valid header passes the call (RFC 8224 §6.2 step 1)")
    add("multiple_headers_stale_then_forged",
        ident(good(iat=NOW - 3600), sp) + "," + ident(sign_passport(jose(sp), claims(), other),
                                                      sp),
        failed(403, "freshness"), "no header passes: the first failure decides")
    add("multiple_headers_div_and_good", ident(div_tok, sp, ppt="div") + "," + ident(good_tok, sp),
        passed(), "a broken div header beside a valid shaken header that matches the call")
    div_cases(m, add, good_tok)

    # ---- huge and deep ----------------------------------------------------------------------
    tail = f";info=<{sp}>;alg=ES256;ppt=shaken"
    add("huge_token_1mb", {"prefix": "", "repeat": "A", "count": MB, "suffix": tail},
        failed(438, "identity_header"), "1 MB token: size limit", tags=("huge",))
    add("huge_param_1mb", {"prefix": ident(good_tok, sp) + ";p=", "repeat": "A", "count": MB,
                           "suffix": ""},
        failed(438, "identity_header"), "1 MB parameter value", tags=("huge",))
    add("huge_commas_1mb", {"prefix": ident(good_tok, sp), "repeat": ",", "count": MB,
                            "suffix": ""},
        failed(438, "identity_header"), "1 MB of empty comma-separated values", tags=("huge",))
    add("huge_angles_1mb", {"prefix": good_tok + ";info=", "repeat": "<", "count": MB,
                            "suffix": ""},
        failed(438, "identity_header"), "1 MB of '<'", tags=("huge",))
    add("huge_quotes_1mb", {"prefix": good_tok + ';x=', "repeat": '"\\', "count": MB // 2,
                            "suffix": tail},
        failed(438, "identity_header"), "1 MB of quotes and backslashes", tags=("huge",))
    add("huge_semicolons_1mb", {"prefix": good_tok, "repeat": ";", "count": MB, "suffix": tail},
        failed(438, "identity_header"), "1 MB of ';'", tags=("huge",))
    # 99999 '[' (a multiple of 3) encode to 'W1tb' * 33333.
    add("deep_nesting_100000_brackets",
        {"prefix": h64 + ".", "repeat": "W1tb", "count": 33_333, "suffix": f".{s64}{tail}"},
        failed(438, "identity_header"), "~100000 '[' in the claims: refused by the size limit",
        tags=("huge",))
    deep = b'{"attest":"A","x":' + b"[" * 5000
    add("deep_nesting_5000_in_payload", raw(hdr_json, deep), failed(438, "passport_decode"),
        "5000 nested arrays within the size limit: refused, no RecursionError escapes")
    deep_h = b'{"alg":"ES256","ppt":"shaken","typ":"passport","x":' + b'{"a":' * 1000
    add("deep_nesting_objects_in_header", raw(deep_h, good_payload),
        failed(438, "passport_decode"), "1000 nested objects in the JOSE header")
    big_h = canonical_json(jose(sp, x="A" * 7000))
    add("oversized_passport", raw(big_h, good_payload), failed(438, "passport_decode"),
        "PASSporT over the 8192-character limit (header under the header limit)")

    # ---- telephone numbers ------------------------------------------------------------------
    ar_orig = ORIG_TN.translate(ARABIC_INDIC)
    signed_claims("Arabic-Indic digits in orig.tn are not ASCII digits (docs/guide.md)",
                  "arabic_indic_digits_in_orig_claim", failed(438, "orig_tn"),
                  orig={"tn": ar_orig})
    add("arabic_indic_digits_in_dest_claim",
        ident(good(dest={"tn": [DEST_TN.translate(ARABIC_INDIC)]}), sp), failed(438, "dest_tn"),
        "Arabic-Indic digits in dest.tn")
    add("arabic_indic_digits_in_call_orig", ident(good_tok, sp), failed(438, "orig_tn"),
        "the call's calling number in Arabic-Indic digits never matches",
        orig="+" + ORIG_TN.translate(ARABIC_INDIC))
    add("arabic_indic_digits_in_call_dest", ident(good_tok, sp), failed(438, "dest_tn"),
        "the call's called number in Arabic-Indic digits", dest=DEST_TN.translate(ARABIC_INDIC))
    add("arabic_indic_digits_both_sides", ident(good(orig={"tn": ar_orig}), sp),
        failed(438, "orig_tn"), "non-TN on both sides is no match (never equal by accident)",
        orig=ar_orig)
    signed_claims("fullwidth digits in orig.tn", "fullwidth_digits_in_orig_claim",
                  failed(438, "orig_tn"), orig={"tn": ORIG_TN.translate(FULLWIDTH)})
    add("orig_tn_mismatch", ident(good_tok, sp), failed(438, "orig_tn"),
        "signed orig differs from the call (digest §5.3 step 10)", orig="+12155559999")
    add("dest_tn_mismatch", ident(good_tok, sp), failed(438, "dest_tn"),
        "called number not in dest.tn", dest="+12155559999")
    add("orig_as_uri", ident(good(orig={"uri": "sip:alice@example.com"}), sp),
        failed(438, "orig_tn"), "orig.uri cannot match a calling TN")
    signed_claims("orig.tn as a one-element array is read", "orig_tn_one_element_array",
                  passed(), orig={"tn": [ORIG_TN]})
    signed_claims("orig.tn with two numbers is malformed", "orig_tn_two_element_array",
                  failed(438, "passport_claims"), orig={"tn": [ORIG_TN, DEST_TN]})

    # ---- iat --------------------------------------------------------------------------------
    for name, value, exp, note in (
        ("iat_string", str(NOW), failed(438, "passport_claims"),
         "iat as a digit string is refused (digest §2.2 lets policy choose; shakenkit refuses)"),
        ("iat_float_integral", float(NOW), failed(438, "passport_claims"), "iat 1767225600.0"),
        ("iat_float_fraction", NOW + 0.5, failed(438, "passport_claims"), "iat with fraction"),
        ("iat_bool", True, failed(438, "passport_claims"), "iat true"),
        ("iat_null", None, failed(438, "passport_claims"), "iat missing"),
        ("iat_negative", -1, failed(403, "freshness"), "iat -1"),
        ("iat_zero", 0, failed(403, "freshness"), "iat 0"),
        ("iat_far_future", NOW + 10 * 365 * DAY, failed(403, "freshness"), "iat 10 years ahead"),
        ("iat_milliseconds", NOW * 1000, failed(403, "freshness"), "iat in milliseconds"),
        ("iat_2_pow_63", 2**63, failed(403, "freshness"), "iat 2**63"),
        ("iat_10_pow_30", 10**30, failed(403, "freshness"), "iat 10**30 (out of range)"),
        ("iat_61s_old", NOW - 61, failed(403, "freshness"), "61 s old: outside 60 s"),
        ("iat_60s_old", NOW - 60, passed(), "60 s old: inside the window"),
        ("iat_60s_ahead", NOW + 60, passed(), "60 s ahead: inside the skew tolerance"),
        ("iat_61s_ahead", NOW + 61, failed(403, "freshness"), "61 s ahead"),
    ):
        c = claims(iat=value) if value is not None else claims(iat=None)
        add(name, ident(sign_passport(jose(sp), c, key), sp), exp, note)
    big_iat = good_payload.replace(str(NOW).encode(), b"9" * 5000)
    add("iat_5000_digits", raw(hdr_json, big_iat), failed(438, "passport_decode"),
        "an integer too long to convert (int max_str_digits)")
    add("iat_exponent", raw(hdr_json, good_payload.replace(str(NOW).encode(), b"1.7672256e9")),
        failed(438, "passport_claims"), "iat in exponent notation is a float")

    # ---- attest, origid, dest --------------------------------------------------------------
    for name, value in (("attest_D", "D"), ("attest_lowercase", "a"), ("attest_empty", ""),
                        ("attest_list", ["A"]), ("attest_number", 1), ("attest_object", {"A": 1}),
                        ("attest_missing", None)):
        signed_claims("attest must be A, B or C (RFC 8588 §4)", name,
                      failed(438, "passport_claims"), attest=value)
    signed_claims("origid is required (RFC 8588 §5)", "origid_missing",
                  failed(438, "passport_claims"), origid=None)
    signed_claims("origid must be a non-empty string", "origid_blank",
                  failed(438, "passport_claims"), origid="  ")
    signed_claims("dest is required (RFC 8225 §5.2.1)", "dest_missing",
                  failed(438, "passport_claims"), dest=None)
    signed_claims("dest {} holds no identity", "dest_empty_object",
                  failed(438, "passport_claims"), dest={})
    signed_claims("dest.tn [] holds no identity", "dest_tn_empty_array",
                  failed(438, "passport_claims"), dest={"tn": []})
    signed_claims("dest.tn [''] is no telephone number", "dest_tn_empty_string",
                  failed(438, "dest_tn"), dest={"tn": [""]})
    signed_claims("dest.tn as a string is tolerated with a warning (digest §10 item 1)",
                  "dest_tn_bare_string", passed(warning="dest.tn is a string"),
                  dest={"tn": DEST_TN})
    signed_claims("dest with only a uri cannot match a called TN", "dest_uri_only",
                  failed(438, "dest_tn"), dest={"uri": ["sip:bob@example.org"]})
    add("call_dest_not_given", ident(good_tok, sp),
        no_validation(warning="no called number given"),
        "the called number was not given: not compared, no TN validated (docs/verdicts.md)",
        dest=None)
    add("call_dest_empty_string", ident(good_tok, sp),
        no_validation(warning="no called number given"),
        "an empty called number is a number not given: not compared", dest="")
    add("call_orig_not_given", ident(good_tok, sp),
        no_validation(warning="no calling number given"),
        "the calling number was not given: not compared", orig=None)

    # ---- Unicode that is not text (would break the verdict's JSON) --------------------------
    add("lone_surrogate_origid_forged",
        raw(hdr_json, good_payload.replace(ORIGID.encode(), b"\\udfff"), other),
        failed(438, "passport_decode"),
        "JSON escape of an unpaired surrogate (not text, RFC 8259 §8.2) in a forged token")
    add("lone_surrogate_orig_tn_signed",
        raw(hdr_json, good_payload.replace(ORIG_TN.encode(), b"\\ud800")),
        failed(438, "passport_decode"), "unpaired surrogate in orig.tn of a validly signed token")

    # ---- certificates -----------------------------------------------------------------------
    def cert_case(name: str, file: str, expect: dict[str, Any], note: str) -> None:
        u = url(file)
        add(name, ident(sign_passport(jose(u), claims(), m.keys[file]), u), expect, note, x5u=u)

    cert_case("cert_expired", "expired.pem", failed(437, "certificate_chain"),
              "leaf expired before the verification time")
    cert_case("cert_not_yet_valid", "not_yet_valid.pem", failed(437, "certificate_chain"),
              "leaf not yet valid")
    cert_case("cert_ca_flagged", "ca_flagged.pem", failed(437, "certificate_leaf_not_ca"),
              "signing certificate is a CA")
    cert_case("cert_no_tnauthlist", "no_tnauthlist.pem", failed(437, "certificate_tnauthlist"),
              "no TNAuthList (RFC 8226 §9)")
    # ES256 cannot be made with these keys: signed by another key, the profile fails first.
    u = url("p384.pem")
    add("cert_p384_key", ident(sign_passport(jose(u), claims(), other), u),
        failed(437, "certificate_leaf_key"), "leaf key on P-384, not P-256 (ATIS-1000080 §6.4.1)",
        x5u=u)
    u = url("rsa.pem")
    add("cert_rsa_key", ident(sign_passport(jose(u), claims(), other), u),
        failed(437, "certificate_leaf_key"), "RSA leaf key", x5u=u)
    cert_case("chain_reversed", "reversed.pem", passed(), "CA first, leaf last: reordered")
    cert_case("chain_reversed_with_root", "reversed_with_root.pem", passed(),
              "root, CA, leaf: reordered, bundled root not needed")
    cert_case("chain_with_root", "with_root.pem", passed(), "bundled root is harmless")
    cert_case("chain_duplicate_ca", "duplicate_ca.pem", passed(), "CA twice")
    cert_case("chain_extra_unrelated", "extra_unrelated.pem", passed(),
              "unrelated CA and root appended")
    cert_case("chain_crlf", "crlf.pem", passed(), "CRLF line endings (digest §10 item 8)")
    cert_case("chain_missing_intermediate", "leaf_only.pem", failed(437, "certificate_chain"),
              "leaf alone: no path to the root")
    u = url("ca_only.pem")
    add("chain_ca_only", ident(sign_passport(jose(u), claims(), key), u),
        failed(437, "certificate_leaf_not_ca"),
        "only the STI-CA is served: the first certificate is a CA", x5u=u)
    cert_case("untrusted_root_same_name", "rogue.pem", failed(437, "certificate_chain"),
              "chain to a root with the trusted root's name but another key")
    cert_case("untrusted_root_same_name_bundled", "rogue_with_root.pem",
              failed(437, "certificate_chain"), "the look-alike root bundled in x5u is not trusted")
    cert_case("rogue_leaf_under_genuine_ca_name", "rogue_leaf_genuine_ca.pem",
              failed(437, "certificate_chain"), "leaf signed by a look-alike CA key")
    return cases


def write(out: Path, material: Material, cases: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    certs = out / "certs"
    certs.mkdir(exist_ok=True)
    for old in certs.glob("*.pem"):
        old.unlink()
    (out / "root.pem").write_bytes(material.pki.root_pem)
    for name, body in sorted(material.files.items()):
        (certs / name).write_bytes(body)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=True, sort_keys=False) + "\n")


def div_cases(m: Material, add: Any, good_tok: str) -> None:
    """Diverted calls (RFC 8946) and Rich Call Data (RFC 9795): hostile chains and claims."""
    sp, sp2 = url("sp.pem"), url("sp2.pem")
    k2 = m.keys["sp2.pem"]
    c_tn, d_tn = "12155551214", "12155551215"

    def dv(frm: str, to: str, *, k: Any = None, x5u: str = sp2, ppt: str = "div",
           **extra: Any) -> str:
        c = {"dest": {"tn": [to]}, "div": {"tn": frm}, "iat": NOW, "orig": {"tn": ORIG_TN},
             **extra}
        return ident(sign_passport(jose(x5u, ppt=ppt), c, k or k2), x5u, ppt=ppt)

    shaken = ident(good_tok, sp)
    add("div_chain_valid", shaken + "," + dv(DEST_TN, c_tn), passed(),
        "A->B->C: shaken plus a div link by another carrier (RFC 8946 §4)", dest="+" + c_tn)
    nums = [DEST_TN] + [f"1215555{3000 + i}" for i in range(24)]
    chain = ",".join(dv(a, b) for a, b in itertools.pairwise(nums))
    add("div_chain_deep_24", shaken + "," + chain, failed(438, "div_chain", spoofed=False),
        "24 retargetings: past max_div_depth (5), bounded", dest="+" + nums[-1])
    add("div_cycle", shaken + "," + dv(DEST_TN, c_tn) + "," + dv(c_tn, DEST_TN),
        failed(438, "div_loop"), "B->C->B never reaches D: a loop", dest="+" + d_tn)
    add("div_self_loop", shaken + "," + dv(DEST_TN, DEST_TN), failed(438, "div_loop"),
        "a link from B to B", dest="+" + d_tn)
    forks = ",".join(dv(DEST_TN, f"1215555{4000 + i}") for i in range(20))
    add("div_twenty_forks", shaken + "," + forks, failed(438, "dest_tn"),
        "20 links all continuing B, none reaching the called number", dest="+" + d_tn)
    add("div_alone", dv(DEST_TN, c_tn), no_validation(),
        "a div without the SHAKEN PASSporT it continues vouches for nobody", dest="+" + c_tn)
    add("div_unmatched_tn", shaken + "," + dv(d_tn, c_tn), failed(438, "dest_tn"),
        "a div for another number continues nothing", dest="+" + c_tn)
    add("div_forged_link", shaken + "," + dv(DEST_TN, c_tn, k=ec.generate_private_key(
        ec.SECP256R1())), failed(438, "div_signature"), "a forged link breaks the chain",
        dest="+" + c_tn)
    add("div_o_opt_garbage", dv(DEST_TN, c_tn, ppt="div-o", opt="a.b.c"), no_validation(),
        "a div-o whose opt is no PASSporT: nothing to continue", dest="+" + c_tn)
    add("div_tn_as_object", shaken + "," + dv({"x": 1}, c_tn),  # type: ignore[arg-type]
        failed(438, "dest_tn"), "a div claim that is no number", dest="+" + c_tn)
    # Rich Call Data never changes the SHAKEN outcome, however hostile.
    digest = "sha256-" + "A" * 43 + "="
    deep_jcd: Any = "x"
    for _ in range(69):
        deep_jcd = [deep_jcd]
    for name, extra, note in (
        ("rcd_huge_nam", {"rcd": {"nam": "N" * 5000}}, "a 5000-character display name"),
        ("rcd_deep_jcd", {"rcd": {"nam": "Q", "jcd": deep_jcd}, "rcdi": {"/jcd": digest}},
         "a jCard nested 69 deep: past the JCS depth bound"),
        ("rcd_url_refused_host", {"rcd": {"nam": "Q", "icn": "https://127.0.0.1/l.png"},
                                  "rcdi": {"/icn": digest}},
         "an icn URL on a refused host: never fetched by default"),
        ("rcd_many_rcdi", {"rcd": {"nam": "Q"},
                           "rcdi": {f"/x{i}": digest for i in range(80)}},
         "80 rcdi entries: 32 checked"),
        ("rcd_bad_pointers", {"rcd": {"nam": "Q"},
                              "rcdi": {"": digest, "/~2": digest, "/a/b/c/d": "md5-x"}},
         "malformed JSON pointers and digests"),
        ("rcd_not_an_object", {"rcd": [1, 2], "crn": {"x": 1}}, "rcd and crn of the wrong type"),
    ):
        add(name, ident(sign_passport(jose(sp), claims(**extra), m.pki.leaf_key), sp), passed(),
            note + " (RFC 9795): reported, the call still verifies")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(HERE), help="output directory")
    args = ap.parse_args(argv)
    material = Material()
    cases = build_cases(material)
    names = [c["name"] for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SystemExit(f"duplicate case names: {sorted(dupes)}")
    write(Path(args.out), material, cases)
    print(f"{len(cases)} cases, {len(material.files)} certificate files -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
