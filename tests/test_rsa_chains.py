"""CA signatures a verifier meets on real SHAKEN chains (ATIS-1000080 §6.4.1, standards digest
§6.2 and §6.3 item 3).

A real, trusted STI-CA (Neustar Certified Caller ID CA-1, an RSA-2048 key, valid 2019-2029)
signed service-provider certificates with sha256WithRSAEncryption, and production verifiers
passed those calls. shakenkit accepts such a CA signature by default and says so (a warning on
the verdict, a note on the ``certificate_chain`` check, a warning finding in ``cert``); the strict
profile (``Policy.strict_certificate_profile``, ``--strict-profile``) refuses it with the error of
the letter of ATIS-1000080 v004. Weak or odd algorithms stay refused in both modes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

from shakenkit import Policy, Verdict, Verifier
from shakenkit.certs import der as _der
from shakenkit.certs.certificate import load_certificate, parse_chain
from shakenkit.certs.certinfo import lint_certificate
from shakenkit.certs.path import ca_signature_status, strict_profile_refusal, validate_chain
from shakenkit.certs.trust import TrustStore
from shakenkit.cli import main
from shakenkit.testing import TestPKI, _name, issue_certificate, make_pki
from tests.conftest import (
    CORPUS,
    DATA,
    DAY,
    DEST,
    NOW,
    ORIG,
    ORIGID,
    corpus_der,
    corpus_rows,
    pem,
)

RSA_SHA256 = "1.2.840.113549.1.1.11"
NEUSTAR = DATA / "neustar"
STRICT = Policy(strict_certificate_profile=True)


def _rsa(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _pki(**kw: Any) -> TestPKI:
    kw.setdefault("not_before", NOW - 30 * DAY)
    kw.setdefault("not_after", NOW + 300 * DAY)
    kw.setdefault("crl_url", None)
    return make_pki(**kw)


@pytest.fixture(scope="module")
def neustar_like() -> TestPKI:
    """Like the real Neustar hierarchy: an RSA-2048 root and an RSA-2048 STI-CA whose
    sha256WithRSAEncryption signature is on the SP certificate (a P-256 key, ES256 PASSporTs)."""
    return _pki(root_key=_rsa(), ca_key=_rsa(), spc="925C", x5u="https://cr.example/rsa.pem")


@pytest.fixture(scope="module")
def rsa_intermediate() -> TestPKI:
    """An EC root, an RSA-2048 STI-CA (signed ecdsa-with-SHA256) that signs the SP certificate
    with sha256WithRSAEncryption."""
    return _pki(ca_key=_rsa(), spc="511K", x5u="https://cr.example/mixed.pem")


def _call(pki: TestPKI, policy: Policy | None = None) -> Verdict:
    v = Verifier(trust_anchors=[pki.root_pem], certificates=pki.certificates(), policy=policy)
    return v.verify(pki.sign(orig=ORIG, dest=DEST, iat=NOW, origid=ORIGID), orig=ORIG, dest=DEST,
                    now=NOW)  # fmt: skip


def _check(v: Verdict, name: str) -> Any:
    return next(c for c in v.checks if c.name == name)


# -- verification: accepted by default, refused by the strict profile -------------------------


@pytest.mark.parametrize("name", ["neustar_like", "rsa_intermediate"])
def test_rsa_signed_leaf_is_accepted_by_default_and_noted(name: str, request: Any) -> None:
    """A leaf signed sha256WithRSAEncryption by an RSA-2048 STI-CA that chains to a trust anchor
    verifies; the verdict says so in its warnings and on the certificate_chain check."""
    pki: TestPKI = request.getfixturevalue(name)
    v = _call(pki)
    assert v.passed and v.caller_id == "verified" and v.verstat == "TN-Validation-Passed"
    chain = _check(v, "certificate_chain")
    assert chain.ok and "sha256WithRSAEncryption (2048-bit RSA)" in chain.detail
    assert "STI-CA SHAKEN Issuing" in chain.detail  # which CA signed so
    assert any("sha256WithRSAEncryption" in w and "strict profile" in w for w in v.warnings)
    assert v.signer is not None and v.signer.spc == pki.spc


@pytest.mark.parametrize("name", ["neustar_like", "rsa_intermediate"])
def test_strict_profile_refuses_rsa_signed_leaf_as_before(name: str, request: Any) -> None:
    """With the strict profile the leaf's RSA signature is refused with the error shakenkit gave
    before RSA chains were accepted: 437, certificate_leaf_signature_algorithm."""
    v = _call(request.getfixturevalue(name), STRICT)
    assert not v.passed and v.verstat == "TN-Validation-Failed"
    assert v.error is not None and v.error.sip_code == 437
    assert v.error.check == "certificate_leaf_signature_algorithm"
    assert v.error.detail == f"signature algorithm {RSA_SHA256} not allowed"


def test_rsa_signature_higher_up_the_chain() -> None:
    """An RSA root that signed an EC STI-CA (which signs the leaf with ECDSA): accepted and
    noted by default; refused on the chain by the strict profile."""
    pki = _pki(root_key=_rsa(3072), spc="300R", x5u="https://cr.example/up.pem")
    v = _call(pki)
    assert v.passed and "sha256WithRSAEncryption (3072-bit RSA)" in v.warnings[0]
    s = _call(pki, STRICT)
    assert s.error is not None and (s.error.sip_code, s.error.check) == (437, "certificate_chain")
    assert "strict profile" in s.error.detail and "3072-bit RSA" in s.error.detail


@pytest.mark.parametrize("strict", [False, True])
def test_ecdsa_sha384_ca_signature_is_accepted_and_noted(strict: bool) -> None:
    """ecdsa-with-SHA384 (SHAKEN CP 1.4; the CTIA STI-CA signs so) passes in both modes and is
    noted on the verdict."""
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = issue_certificate(subject=_name("P384 ROOT"), key=root_key, ca=True, policy=False,
                             crl_url=None, signature_hash=hashes.SHA384(),
                             not_before=NOW - 90 * DAY, not_after=NOW + 900 * DAY)  # fmt: skip
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue_certificate(subject=_name("P384 CA"), key=ca_key, issuer=_name("P384 ROOT"),
                           issuer_key=root_key, ca=True, crl_url=None,
                           signature_hash=hashes.SHA384(),
                           not_before=NOW - 60 * DAY, not_after=NOW + 600 * DAY)  # fmt: skip
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_certificate(subject=_name("SHAKEN 384A"), key=leaf_key, issuer=_name("P384 CA"),
                             issuer_key=ca_key, spc="384A", crl_url=None,
                             not_before=NOW - DAY, not_after=NOW + 90 * DAY)  # fmt: skip
    pki = TestPKI(root_key, root, ca_key, ca, leaf_key, leaf, "384A", "https://cr.example/384")
    v = _call(pki, STRICT if strict else None)
    assert v.passed
    assert "ecdsa-with-SHA384" in _check(v, "certificate_chain").detail
    assert any("SHAKEN CP 1.4" in w for w in v.warnings)


def test_ecdsa_sha256_chain_has_no_note(neustar_like: TestPKI) -> None:
    """The conformant chain carries no CA-signature note (the notes are only for deviations)."""
    v = _call(_pki())
    assert v.passed and v.warnings == []
    assert _check(v, "certificate_chain").detail.startswith("chain valid; SPC")


# -- refused in both modes --------------------------------------------------------------------


def _resign(der: bytes, key: rsa.RSAPrivateKey, oid_der: bytes, h: hashes.HashAlgorithm) -> bytes:
    """Re-sign ``der`` with an algorithm ``cryptography``'s builder refuses to make (SHA-1, MD5):
    both AlgorithmIdentifiers are replaced and the new TBS is signed PKCS#1 v1.5."""
    tbs, _alg, _sig = _der.split_certificate(der)
    fields = _der.read_children(tbs.value)
    idx = 1 if fields[0].tag == 0xA0 else 0
    alg = _der.encode_tlv(0x30, _der.encode_tlv(0x06, oid_der) + b"\x05\x00")
    raw = [f.raw for f in fields]
    raw[idx + 1] = alg
    new_tbs = _der.encode_tlv(0x30, b"".join(raw))
    sig = key.sign(new_tbs, padding.PKCS1v15(), h)
    return _der.encode_tlv(0x30, new_tbs + alg + _der.encode_tlv(0x03, b"\x00" + sig))


SHA1_RSA = bytes.fromhex("2a864886f70d010105")
MD5_RSA = bytes.fromhex("2a864886f70d010104")


def _refused_pki(kind: str) -> TestPKI:
    """A PKI whose STI-CA signs the leaf with a refused algorithm."""
    ca_key: Any
    sign_kw: dict[str, Any] = {}
    if kind == "rsa1024":
        ca_key = _rsa(1024)
    elif kind in ("sha1", "md5", "pss", "sha384rsa"):
        ca_key = _rsa()
        if kind == "pss":
            sign_kw["rsa_padding"] = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
        if kind == "sha384rsa":
            sign_kw["signature_hash"] = hashes.SHA384()
    elif kind == "dsa":
        ca_key = dsa.generate_private_key(2048)
    else:  # ecdsa-with-SHA512
        ca_key = ec.generate_private_key(ec.SECP256R1())
        sign_kw["signature_hash"] = hashes.SHA512()
    base = _pki(ca_key=ca_key, spc="999Z", x5u=f"https://cr.example/{kind}.pem")
    leaf_key = base.leaf_key
    leaf = issue_certificate(subject=_name("SHAKEN 999Z"), key=leaf_key,
                             issuer=_name("shakenkit Test STI-CA SHAKEN Issuing",
                                          "shakenkit Test STI-CA"),
                             issuer_key=ca_key, spc="999Z", crl_url=None,
                             not_before=NOW - DAY, not_after=NOW + 90 * DAY, **sign_kw)  # fmt: skip
    if kind in ("sha1", "md5"):
        leaf = _resign(leaf, ca_key, SHA1_RSA if kind == "sha1" else MD5_RSA,
                       hashes.SHA1() if kind == "sha1" else hashes.MD5())  # fmt: skip
    base.leaf_der = leaf
    return base


REFUSED = ["rsa1024", "sha1", "md5", "pss", "sha384rsa", "dsa", "ecdsa-sha512"]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("kind", REFUSED)
def test_weak_or_odd_ca_signatures_stay_refused(kind: str, strict: bool) -> None:
    """SHA-1, MD5, RSA under 2048 bits, RSASSA-PSS, sha384WithRSA, DSA and ecdsa-with-SHA512
    signatures over the SP certificate give 437 in both modes."""
    v = _call(_refused_pki(kind), STRICT if strict else None)
    assert v.error is not None and v.error.sip_code == 437, v.error
    assert v.error.check in ("certificate_leaf_signature_algorithm", "certificate_chain")
    assert v.verstat == "TN-Validation-Failed" and not v.passed


def test_rsa_1024_is_refused_on_the_chain() -> None:
    """The leaf's algorithm (sha256WithRSAEncryption) is allowed; the 1024-bit key is not."""
    v = _call(_refused_pki("rsa1024"))
    assert v.error is not None and v.error.check == "certificate_chain"


def test_pss_signature_on_an_intermediate_is_refused() -> None:
    """An RSA root that signed the STI-CA with RSASSA-PSS: refused on the chain, both modes."""
    root_key = _rsa()
    root = issue_certificate(subject=_name("PSS ROOT"), key=root_key, ca=True, policy=False,
                             crl_url=None, not_before=NOW - 90 * DAY, not_after=NOW + 900 * DAY)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue_certificate(subject=_name("PSS CA"), key=ca_key, issuer=_name("PSS ROOT"),
                           issuer_key=root_key, ca=True, crl_url=None,
                           rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                           not_before=NOW - 60 * DAY, not_after=NOW + 600 * DAY)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_certificate(subject=_name("SHAKEN 777P"), key=leaf_key, issuer=_name("PSS CA"),
                             issuer_key=ca_key, spc="777P", crl_url=None,
                             not_before=NOW - DAY, not_after=NOW + 90 * DAY)  # fmt: skip
    pki = TestPKI(root_key, root, ca_key, ca, leaf_key, leaf, "777P", "https://cr.example/pss")
    for policy in (None, STRICT):
        v = _call(pki, policy)
        assert v.error is not None
        assert (v.error.sip_code, v.error.check) == (437, "certificate_chain")
        assert "RSASSA-PSS" in v.error.detail


# -- chain building ---------------------------------------------------------------------------


def test_chain_building_ignores_bundle_order_and_renamed_or_decoy_cas() -> None:
    """The issuer is the certificate whose subject is the issuer name AND whose key verifies the
    signature, wherever it sits in the bundle: a CA key re-issued under another subject name
    (Metaswitch "STI-CA SHAKEN Issuing 1" in the public reports) and a decoy with the same name
    but another key do not disturb the path, in any order."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    ca_key = _rsa()
    root_name, ca_name = _name("ORDER ROOT"), _name("STI-CA SHAKEN Issuing 1")
    kw: dict[str, Any] = {
        "crl_url": None, "not_before": NOW - 60 * DAY, "not_after": NOW + 600 * DAY
    }
    root = issue_certificate(subject=root_name, key=root_key, ca=True, policy=False, **kw)
    ca = issue_certificate(subject=ca_name, key=ca_key, issuer=root_name, issuer_key=root_key,
                           ca=True, **kw)  # fmt: skip
    renamed = issue_certificate(subject=_name("STI-CA SHAKEN Issuing 1 (2022)"), key=ca_key,
                                issuer=root_name, issuer_key=root_key, ca=True, **kw)
    decoy = issue_certificate(subject=ca_name, key=_rsa(), issuer=root_name,
                              issuer_key=root_key, ca=True, **kw)  # fmt: skip
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_certificate(subject=_name("SHAKEN 222B"), key=leaf_key, issuer=ca_name,
                             issuer_key=ca_key, spc="222B", **kw)  # fmt: skip
    x5u = "https://cr.example/order.pem"
    for order in itertools.permutations([leaf, ca, renamed, decoy]):
        bundle = b"".join(pem(d) for d in order)
        v = Verifier(trust_anchors=[pem(root)], certificates={x5u: bundle})
        h = TestPKI(root_key, root, ca_key, ca, leaf_key, leaf, "222B", x5u).sign(
            orig=ORIG, dest=DEST, iat=NOW
        )
        verdict = v.verify(h, orig=ORIG, dest=DEST, now=NOW)
        assert verdict.passed, (order.index(leaf), verdict.error)
        assert verdict.signer is not None and verdict.signer.spc == "222B"


# -- the certificate tool ---------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


@pytest.fixture
def files(neustar_like: TestPKI, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "root.pem").write_bytes(neustar_like.root_pem)
    (tmp_path / "chain.pem").write_bytes(neustar_like.chain_pem)
    return {"root": str(tmp_path / "root.pem"), "chain": str(tmp_path / "chain.pem")}


def test_cert_reports_rsa_signature_as_warning_and_strict_as_error(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """``cert`` (JSON): a warning finding and a chain note by default; an error finding and an
    untrusted chain with ``--strict-profile``."""
    base = ["cert", "--json", "--trust", files["root"], "--at", str(NOW), files["chain"]]
    code, out = _run(capsys, *base)
    o = json.loads(out)
    sig = [f for f in o["findings"] if f["id"] == "signature_algorithm"]
    assert code == 0 and [f["severity"] for f in sig] == ["warning"]
    assert o["signature_algorithm"] == "sha256WithRSAEncryption"
    assert o["chain"]["trusted"] is True and o["chain"]["error"] is None
    assert any("sha256WithRSAEncryption" in n for n in o["chain"]["notes"])
    code, out = _run(capsys, *base[:2], "--strict-profile", *base[2:])
    o = json.loads(out)
    sig = [f for f in o["findings"] if f["id"] == "signature_algorithm"]
    assert code == 1 and [f["severity"] for f in sig] == ["error"]
    assert o["chain"]["trusted"] is False and "strict profile" in o["chain"]["error"]


def test_cert_text_shows_the_note(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    code, out = _run(capsys, "cert", "--trust", files["root"], "--at", str(NOW), files["chain"])
    assert code == 0
    assert "warning signature_algorithm: signature algorithm sha256WithRSAEncryption" in out
    assert "chain:     trusted" in out and "note: CA signature sha256WithRSAEncryption" in out
    code, out = _run(capsys, "cert", "--strict-profile", "--trust", files["root"], "--at",
                     str(NOW), files["chain"])  # fmt: skip
    assert code == 1 and "NOT trusted" in out and "strict profile" in out


# -- every command that verifies takes --strict-profile ---------------------------------------


def _verify_args(pki: TestPKI, files: dict[str, str]) -> list[str]:
    return ["--trust", files["root"], "--cert", f"{pki.x5u}={files['chain']}", "--offline"]


def test_cli_verify_default_and_strict(
    capsys: pytest.CaptureFixture[str], neustar_like: TestPKI, files: dict[str, str]
) -> None:
    h = neustar_like.sign(orig=ORIG, dest=DEST, iat=NOW)
    args = ["verify", "--json", *_verify_args(neustar_like, files), "--now", str(NOW),
            "--orig", ORIG, "--dest", DEST]  # fmt: skip
    code, out = _run(capsys, *args, h)
    v = Verdict.model_validate_json(out)
    assert code == 0 and v.passed and any("sha256WithRSA" in w for w in v.warnings)
    code, out = _run(capsys, *args, "--strict-profile", h)
    v = Verdict.model_validate_json(out)
    assert code == 1 and v.error is not None and v.error.sip_code == 437


def _calls(pki: TestPKI, tmp_path: Path) -> str:
    line = {"identity": pki.sign(orig=ORIG, dest=DEST, iat=NOW), "orig": ORIG, "dest": DEST,
            "time": NOW, "call_id": "rsa-1"}  # fmt: skip
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(line) + "\n")
    return str(path)


def test_cli_scan_default_and_strict(
    capsys: pytest.CaptureFixture[str], neustar_like: TestPKI, files: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    calls = _calls(neustar_like, tmp_path)
    code, out = _run(capsys, "scan", "--json", *_verify_args(neustar_like, files), calls)
    assert code == 0 and json.loads(out.splitlines()[0])["caller_id"] == "verified"
    code, out = _run(capsys, "scan", "--json", "--strict-profile",
                     *_verify_args(neustar_like, files), calls)  # fmt: skip
    assert code == 1 and json.loads(out.splitlines()[0])["error"]["sip_code"] == 437


def test_cli_traceback_default_and_strict(
    capsys: pytest.CaptureFixture[str], neustar_like: TestPKI, files: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    calls = _calls(neustar_like, tmp_path)
    for flag, caller_id in (([], "verified"), (["--strict-profile"], "likely_spoofed")):
        out_dir = tmp_path / f"out{len(flag)}"
        code, _ = _run(capsys, "traceback", *flag, *_verify_args(neustar_like, files),
                       "--out", str(out_dir), calls)  # fmt: skip
        assert code == 0
        [rec] = [json.loads(x) for x in (out_dir / "verdicts.jsonl").read_text().splitlines()]
        assert rec["caller_id"] == caller_id
        assert any("sha256WithRSA" in w for w in rec["warnings"]) == (not flag)


# -- real certificates --------------------------------------------------------------------------


def _neustar() -> Iterator[tuple[str, bytes]]:
    for p in sorted(NEUSTAR.glob("leaf-*.pem")):
        yield p.name, p.read_bytes()


def _mid_validity(leaf_pem: bytes) -> float:
    leaf = parse_chain(leaf_pem).leaf
    return (leaf.not_before + leaf.not_after) / 2


@pytest.mark.parametrize(("name", "leaf_pem"), list(_neustar()))
def test_real_neustar_chains(name: str, leaf_pem: bytes) -> None:
    """The 8 real SP certificates (Bandwidth, Five9, Peerless, ...) that Neustar Certified
    Caller ID CA-1 signed with sha256WithRSAEncryption validate to the real Neustar root, with the
    note; the strict profile refuses them."""
    anchors = TrustStore([(NEUSTAR / "neustar-root.pem").read_bytes()]).snapshot()
    chain = parse_chain(leaf_pem + (NEUSTAR / "neustar-ca-1.pem").read_bytes())
    assert chain.leaf.signature_oid == RSA_SHA256
    res = validate_chain(chain, anchors, _mid_validity(leaf_pem))
    assert res.ok, res.detail
    assert len(res.path) == 3 and "Neustar Certified Caller ID Root CA" in res.path[-1].subject
    assert len(res.notes) == 2  # the root over CA-1, CA-1 over the leaf
    assert all("sha256WithRSAEncryption (2048-bit RSA)" in n for n in res.notes)
    refusal = strict_profile_refusal(res)
    assert refusal is not None and "Neustar" in refusal
    found = {(f.id, f.severity) for f in lint_certificate(chain.leaf)}
    assert ("signature_algorithm", "warning") in found
    strict = {(f.id, f.severity) for f in lint_certificate(chain.leaf, strict_profile=True)}
    assert ("signature_algorithm", "error") in strict


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not available")
def test_every_rsa_signed_certificate_in_the_corpus() -> None:
    """Over the whole shared corpus: every sha256WithRSAEncryption signature by a corpus CA is
    judged "rsa" (accepted, noted) when that CA's RSA key has >= 2048 bits, and every SP
    certificate so signed under a corpus root validates inside its validity."""
    rows = corpus_rows(CORPUS)
    certs = [load_certificate(corpus_der(r)) for r in rows]
    by_subject: dict[str, list[Any]] = {}
    for c in certs:
        if c.is_ca:
            by_subject.setdefault(c.subject, []).append(c)
    roots = [c for c in certs if c.is_ca and c.subject == c.issuer]
    anchors = TrustStore([c.der for c in roots]).snapshot()
    judged = validated = 0
    for c in certs:
        if c.signature_oid != RSA_SHA256 or c.subject == c.issuer:
            continue
        for issuer in by_subject.get(c.issuer, ()):
            if not isinstance(issuer.key, rsa.RSAPublicKey):
                continue
            judged += 1
            assert ca_signature_status(c, issuer.key) == "rsa", c.subject
            if not c.is_ca and isinstance(c.key, ec.EllipticCurvePublicKey):
                bundle = pem(c.der) + pem(issuer.der)
                res = validate_chain(parse_chain(bundle), anchors, (c.not_before + c.not_after) / 2)
                assert res.ok and res.off_profile is not None, (c.subject, res.detail)
                validated += 1
    assert judged >= 9 and validated >= 8


def test_an_expired_rsa_chain_is_still_refused_on_time() -> None:
    """Accepting the algorithm changes nothing else: the Neustar leaves expired in 2023-2024."""
    anchors = TrustStore([(NEUSTAR / "neustar-root.pem").read_bytes()]).snapshot()
    _, leaf_pem = next(_neustar())
    chain = parse_chain(leaf_pem + (NEUSTAR / "neustar-ca-1.pem").read_bytes())
    at = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc).timestamp()
    assert not validate_chain(chain, anchors, at).ok


def test_rsa_key_as_leaf_key_stays_refused() -> None:
    """Only the CA's signature is widened: an RSA SP key is refused (437, leaf_key)."""
    base = _pki(ca_key=_rsa(), spc="123R", x5u="https://cr.example/rsaleaf.pem")
    leaf = issue_certificate(subject=_name("SHAKEN 123R"), key=_rsa(),
                             issuer=_name("shakenkit Test STI-CA SHAKEN Issuing",
                                          "shakenkit Test STI-CA"),
                             issuer_key=base.ca_key, spc="123R", crl_url=None,
                             not_before=NOW - DAY, not_after=NOW + 90 * DAY)  # fmt: skip
    v = Verifier(trust_anchors=[base.root_pem], certificates={base.x5u: pem(leaf) + base.ca_pem})
    verdict = v.verify(base.sign(orig=ORIG, dest=DEST, iat=NOW), orig=ORIG, dest=DEST, now=NOW)
    assert verdict.error is not None and verdict.error.check == "certificate_leaf_key"


@pytest.mark.parametrize("strict", [False, True])
def test_a_real_bandwidth_call(strict: bool) -> None:
    """A real PASSporT from a live Bandwidth call, verified offline against the real Neustar
    root at its signing time: verified (A) by default, 437 with the strict profile."""
    call = json.loads((NEUSTAR / "bandwidth-call.json").read_text())
    chain = (NEUSTAR / call["leaf"]).read_bytes() + (NEUSTAR / "neustar-ca-1.pem").read_bytes()
    v = Verifier(trust_anchors=[(NEUSTAR / "neustar-root.pem").read_bytes()],
                 certificates={call["x5u"]: chain}, policy=STRICT if strict else None)
    verdict = v.verify(call["identity"], orig=call["orig"], dest=call["dest"],
                       now=call["iat"] + 2)  # fmt: skip
    assert verdict.signer is not None and verdict.signer.spc == "997E"
    if strict:
        assert verdict.error is not None and verdict.error.sip_code == 437
    else:
        assert verdict.passed and (verdict.attest, verdict.caller_id) == ("A", "verified")
        assert verdict.origid == "49459a8a-42f6-351c-9361-adf57a9e08ca"


@pytest.mark.skipif(shutil.which("secsipidx") is None, reason="secsipidx is not installed")
def test_secsipidx_agrees_on_an_rsa_signed_chain(tmp_path: Path) -> None:
    """The peer (Go's crypto/x509 under secsipidx) accepts a chain that a trusted RSA-2048
    STI-CA signed; shakenkit's default agrees, its strict profile refuses."""
    pki = make_pki(root_key=_rsa(), ca_key=_rsa(), crl_url=None, x5u="https://cr.example/r.pem")
    (tmp_path / "root.pem").write_bytes(pki.root_pem)
    (tmp_path / "chain.pem").write_bytes(pki.chain_pem)
    now = int(time.time())
    header = pki.sign(orig=ORIG, dest=DEST, iat=now, origid=ORIGID)
    (tmp_path / "identity.txt").write_text(header)
    p = subprocess.run(
        ["secsipidx", "-check", "-fidentity", str(tmp_path / "identity.txt"), "-fpubkey",
         str(tmp_path / "chain.pem"), "-expire", "60", "-ca-file", str(tmp_path / "root.pem"),
         "-cert-verify", "5"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert p.returncode == 0 and p.stdout.strip().splitlines()[-1:] == ["ok"], p.stdout
    assert pki.verifier().verify(header, orig=ORIG, dest=DEST, now=now).passed
    strict = pki.verifier(policy=STRICT).verify(header, orig=ORIG, dest=DEST, now=now)
    assert strict.error is not None and strict.error.sip_code == 437
