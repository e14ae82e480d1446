"""shakenkit.signing, the production STI-AS (issue 18 point 6): what it signs verifies, what a
verifier must refuse it refuses to sign, and ``shakenkit sign`` / ``serve`` use it."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shakenkit import Verifier, decode_passport, parse_identity
from shakenkit.signing import load_signing_key, rcd_claims, sign_div, sign_rcd, sign_shaken
from shakenkit.testing import TestPKI, sign_identity
from tests.conftest import DEST, DEST_TN, NOW, ORIG, ORIG_TN, ORIGID, X5U

SRC = Path(__file__).resolve().parents[1] / "src" / "shakenkit"


def _claims(header: str) -> dict[str, Any]:
    p = decode_passport(parse_identity(header).token)
    return {"header": p.header, "claims": p.claims}


def test_sign_shaken_verifies_and_carries_canonical_numbers(pki: TestPKI) -> None:
    """RFC 8588 §6, RFC 8224 §8.3: the PASSporT carries canonical TNs, the header
    ``info=<x5u>;alg=ES256;ppt=shaken``, and the verifier says verified."""
    h = sign_shaken(
        pki.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, attest="A", origid=ORIGID, iat=NOW
    )
    assert h.endswith(f";info=<{X5U}>;alg=ES256;ppt=shaken")
    p = decode_passport(parse_identity(h).token)
    assert (p.claims.orig_tn, list(p.claims.dest_tns)) == (ORIG_TN, [DEST_TN])
    assert (p.claims.attest, p.claims.origid, p.claims.iat) == ("A", ORIGID, NOW)
    v = pki.verifier().verify(h, orig=ORIG, dest=DEST, now=NOW)
    assert v.caller_id == "verified", v.error


def test_sign_shaken_defaults_origid_and_iat(pki: TestPKI) -> None:
    import time
    import uuid

    h = sign_shaken(pki.leaf_key, x5u=X5U, orig=ORIG, dest=[DEST, "+12155550000"], attest="C")
    p = decode_passport(parse_identity(h).token)
    uuid.UUID(p.claims.origid)
    assert abs(p.claims.iat - time.time()) < 60
    assert sorted(p.claims.dest_tns) == ["12155550000", DEST_TN]


def test_same_passport_as_the_test_signer(pki: TestPKI) -> None:
    """shakenkit.testing builds on shakenkit.signing: for valid input both sign the same
    header and claims (ES256 signatures differ: ECDSA is randomized)."""
    a = sign_shaken(pki.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, attest="B", origid=ORIGID,
                    iat=NOW)
    b = sign_identity(pki.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, attest="B", origid=ORIGID,
                      iat=NOW)
    assert a.split(".")[:2] == b.split(".")[:2]
    assert a.split(";", 1)[1] == b.split(";", 1)[1]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"orig": "alice@example.com"}, "orig 'alice@example.com' is not a telephone number"),
        ({"dest": []}, "dest names no called number"),
        ({"dest": ["+12155551213", "not a number"]}, "dest 'not a number' is not a telephone"),
        ({"attest": "D"}, "attest 'D' is not A, B or C"),
        ({"attest": "a"}, "is not A, B or C"),
        ({"origid": "not-a-uuid"}, "is not a UUID"),
        ({"iat": 1_767_225_600_000}, "is not a NumericDate in seconds"),  # milliseconds
        ({"iat": True}, "is not a NumericDate"),
        ({"iat": 1.5}, "is not a NumericDate"),
        ({"x5u": "http://cr.example.com/sp.pem"}, "is not an https URL"),
        ({"x5u": "https://user@cr.example.com/sp.pem"}, "userinfo"),
        ({"x5u": "https://cr.example.com/sp.pem?v=1"}, "a query"),
        ({"x5u": "https://cr.example.com/sp.pem#x"}, "a fragment"),
        ({"extra_claims": {"orig": {"tn": "12025550100"}}}, "may not replace orig"),
        ({"extra_claims": {"attest": "A"}}, "may not replace attest"),
        ({"extra_claims": {"rcd": {"nam": float("nan")}}}, "claims are not JSON"),
        ({"extra_claims": {"rcd": {"nam": object()}}}, "claims are not JSON"),
    ],
)
def test_sign_shaken_refuses_what_a_verifier_must_refuse(
    pki: TestPKI, kw: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"x5u": X5U, "orig": ORIG, "dest": DEST, "attest": "A"}
    args.update(kw)
    with pytest.raises(ValueError, match=message.replace("?", r"\?")):
        sign_shaken(pki.leaf_key, **args)


def test_x5u_header_injection_is_refused(pki: TestPKI) -> None:
    """Attack: an x5u that closes ``info=<...>`` and adds its own parameters
    (``...pem>;info=<https://evil/``) would make the Identity header say something the
    PASSporT does not."""
    for evil in (
        f"{X5U}>;info=<https://evil.example/x.pem",
        f"{X5U}\r\nVia: SIP/2.0/UDP evil",
        f'{X5U}"',
        f"{X5U} x",
    ):
        with pytest.raises(ValueError, match="info=<"):
            sign_shaken(pki.leaf_key, x5u=evil, orig=ORIG, dest=DEST, attest="A")


def test_extra_claims_cannot_swap_the_calling_number(pki: TestPKI) -> None:
    """Attack: Rich Call Data passed through from a customer carries its own ``orig``; it must
    not replace the number the carrier attests."""
    with pytest.raises(ValueError, match="may not replace orig"):
        sign_shaken(pki.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, attest="A",
                    extra_claims={"rcd": {"nam": "Bank"}, "orig": {"tn": "18005551234"}})


def test_wrong_keys_are_refused(pki: TestPKI) -> None:
    with pytest.raises(TypeError, match="ECDSA P-256"):
        sign_shaken(rsa.generate_private_key(65537, 2048), x5u=X5U, orig=ORIG, dest=DEST,  # type: ignore[arg-type]
                    attest="A")
    with pytest.raises(ValueError, match="not P-256"):
        sign_shaken(ec.generate_private_key(ec.SECP384R1()), x5u=X5U, orig=ORIG, dest=DEST,
                    attest="A")


def test_sign_div_links_a_forwarded_call(pki: TestPKI) -> None:
    """RFC 8946: the retargeting carrier's div PASSporT continues the SHAKEN one; the call to
    the new target verifies, the link valid."""
    b = pki.carrier(spc="456B", x5u="https://cr.carrier-b.example/456B.pem")
    shaken = sign_shaken(pki.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, attest="A", iat=NOW)
    div = sign_div(b.leaf_key, x5u=b.x5u, orig=ORIG, div=DEST, dest="+12155550000", iat=NOW)
    assert div.endswith(";ppt=div")
    v = pki.verifier().verify([shaken, div], orig=ORIG, dest="+12155550000", now=NOW)
    assert v.caller_id == "verified" and [lk.result for lk in v.diversion] == ["valid"]
    div_o = sign_div(b.leaf_key, x5u=b.x5u, orig=ORIG, div=DEST, dest="+12155550000", iat=NOW,
                     opt=shaken)
    assert div_o.endswith(";ppt=div-o")
    assert _claims(div_o)["claims"].extra["opt"] == shaken.split(";")[0]
    with pytest.raises(ValueError, match="opt must be a full-form PASSporT"):
        sign_div(b.leaf_key, x5u=b.x5u, orig=ORIG, div=DEST, dest=DEST, opt="..sig")
    with pytest.raises(ValueError, match="div 'x' is not a telephone number"):
        sign_div(b.leaf_key, x5u=b.x5u, orig=ORIG, div="x", dest=DEST)


def test_sign_rcd_lends_its_name_to_the_call(pki: TestPKI) -> None:
    """RFC 9795: an rcd PASSporT beside the SHAKEN one gives the call its display name."""
    shaken = sign_shaken(pki.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, attest="A", iat=NOW)
    rcd = sign_rcd(pki.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, iat=NOW,
                   rcd=rcd_claims(nam="Q Branch", jcd=[["vcard", []]], crn="pickup"))
    assert rcd.endswith(";ppt=rcd")
    v = pki.verifier().verify([shaken, rcd], orig=ORIG, dest=DEST, now=NOW)
    assert v.caller_id == "verified"
    assert v.rcd is not None and v.rcd.display_name == "Q Branch" and v.rcd.crn == "pickup"
    with pytest.raises(ValueError, match="'nam' string"):
        sign_rcd(pki.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, rcd={"crn": "x"})


def test_load_signing_key_pem_der_encrypted(pki: TestPKI) -> None:
    key = pki.leaf_key
    pub = key.public_key().public_numbers()
    pem = pki.leaf_key_pem
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    enc = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"pw"))
    for data, pw in ((pem, None), (der, None), (enc, b"pw")):
        assert load_signing_key(data, pw).public_key().public_numbers() == pub
    with pytest.raises(ValueError, match="encrypted: give its password"):
        load_signing_key(enc)
    with pytest.raises(ValueError, match="password is wrong"):
        load_signing_key(enc, b"nope")
    with pytest.raises(ValueError, match="not a private key"):
        load_signing_key(pki.leaf_pem)
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    with pytest.raises(ValueError, match="not an ECDSA P-256 key"):
        load_signing_key(p384)


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.lstrip("."))
        elif isinstance(node, ast.ImportFrom):
            out.update(a.name for a in node.names)
    return out


@pytest.mark.parametrize("module", ["cli/sign.py", "service/app.py", "testing.py"])
def test_the_signers_use_shakenkit_signing(module: str) -> None:
    """`shakenkit sign`, serve's /stir/v1/signing and shakenkit.testing sign with
    shakenkit.signing; production code never imports the test helpers."""
    names = _imported(SRC / module)
    assert "signing" in names
    assert "testing" not in names


def test_cli_sign_refuses_an_http_x5u(tmp_path: Path, pki: TestPKI,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from shakenkit.cli import main

    key = tmp_path / "k.pem"
    key.write_bytes(pki.leaf_key_pem)
    code = main(["sign", "--key", str(key), "--x5u", "http://cr.example.com/sp.pem",
                 "--orig", ORIG, "--dest", DEST])
    assert code == 2 and "https" in capsys.readouterr().err
    code = main(["sign", "--key", str(key), "--x5u", X5U, "--orig", ORIG, "--dest", DEST,
                 "--iat", str(NOW), "--ppt", "rcd", "--nam", "Q Branch"])
    out = capsys.readouterr().out.strip()
    assert code == 0 and out.endswith(";ppt=rcd")
    v = Verifier(trust_anchors=pki.root_pem, certificates=pki.certificates())
    verdict = v.verify(out, orig=ORIG, dest=DEST, now=NOW)
    assert verdict.passed and json.loads(verdict.model_dump_json())["ppt"] == "rcd"


def test_format_identity_for_a_token_signed_elsewhere(pki: TestPKI) -> None:
    """RFC 8224 §4: an HSM that signs the whole JWS hands back a token; the signing module
    formats its Identity header value."""
    from shakenkit import IdentityHeader
    from shakenkit.signing import format_identity

    h = sign_shaken(pki.leaf_key, x5u=X5U, orig=ORIG, dest=DEST, attest="A", iat=NOW)
    token = h.split(";", 1)[0]
    assert format_identity(IdentityHeader(token, X5U, "ES256", "shaken")) == h
