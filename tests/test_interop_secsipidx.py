"""Interoperability with Debian's ``secsipidx`` (asipto/secsipidx, the Go STIR/SHAKEN library
Kamailio's secsipid module uses): headers it signs verify with shakenkit, headers shakenkit
signs verify with it, and both are fed the same bad tokens. docs/interop.md lists the verdicts
and explains every disagreement; this module asserts that table, so a change on either side
shows up here.

secsipidx is used offline: it gets the certificate chain as a file (``-fpubkey``), the trust
anchor with ``-ca-file`` and ``-cert-verify 5`` (validity times + CA file), and ``-expire 60``
(the RFC 8224 freshness window). It never fetches the ``info`` URL in this mode. Its signer
always uses the current time, so these tests use the wall clock and certificates valid now.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from shakenkit import Verdict, Verifier
from shakenkit.core.identity import IdentityHeader, format_identity
from shakenkit.core.passport import b64url_encode, canonical_json, sign_passport
from shakenkit.testing import TestPKI, issue_certificate, make_pki

SECSIPIDX = shutil.which("secsipidx")
pytestmark = pytest.mark.skipif(
    SECSIPIDX is None,
    reason="secsipidx is not installed (Debian/Ubuntu: apt-get install secsipidx); "
    "CI installs it to run the interoperability tests",
)

ROOT = Path(__file__).resolve().parents[1]
X5U = "https://cr.example.com/interop/sp.pem"
X5U_NO_TNAL = "https://cr.example.com/interop/no-tnauthlist.pem"
X5U_CA_LEAF = "https://cr.example.com/interop/ca-flagged.pem"
ORIGID = "123e4567-e89b-12d3-a456-426655440000"
NUMBERS = [
    ("12155551212", "12155551213"),
    ("12025550100", "13105550199"),
    ("442079460000", "12155551213"),  # international calling number
]


@dataclass
class Env:
    pki: TestPKI
    verifier: Verifier
    dir: Path
    keys: dict[str, Any]

    @property
    def chain(self) -> Path:
        return self.dir / "chain.pem"


def _leaf(pki: TestPKI, name: str, *, spc: str | None, ca: bool) -> tuple[bytes, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.load_der_x509_certificate(pki.ca_der).subject
    der = issue_certificate(
        subject=x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]),
        key=key, issuer=ca_name, issuer_key=pki.ca_key, spc=spc, ca=ca, crl_url=None,
    )
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    return pem + pki.ca_pem, key


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    d = tmp_path_factory.mktemp("secsipidx")
    pki = make_pki(x5u=X5U, crl_url=None)  # valid around the wall clock
    (d / "root.pem").write_bytes(pki.root_pem)
    (d / "chain.pem").write_bytes(pki.chain_pem)
    (d / "key.pem").write_bytes(pki.leaf_key_pem)
    no_tnal, k1 = _leaf(pki, "SHAKEN NONE", spc=None, ca=False)
    ca_leaf, k2 = _leaf(pki, "SHAKEN 123A", spc="123A", ca=True)
    (d / "no-tnauthlist.pem").write_bytes(no_tnal)
    (d / "ca-flagged.pem").write_bytes(ca_leaf)
    rogue = make_pki(x5u=X5U, crl_url=None)  # same names, untrusted root
    (d / "rogue.pem").write_bytes(rogue.chain_pem)
    verifier = Verifier(
        trust_anchors=[pki.root_pem],
        certificates={X5U: pki.chain_pem, X5U_NO_TNAL: no_tnal, X5U_CA_LEAF: ca_leaf,
                      "https://cr.example.com/interop/rogue.pem": rogue.chain_pem},
    )
    keys = {"no-tnauthlist.pem": k1, "ca-flagged.pem": k2, "rogue.pem": rogue.leaf_key}
    return Env(pki, verifier, d, keys)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    assert SECSIPIDX is not None
    return subprocess.run([SECSIPIDX, *args], capture_output=True, text=True, timeout=30,
                          check=False)


def ssx_sign(env: Env, orig: str, dest: str, attest: str, origid: str | None = None) -> str:
    args = ["-sign-full", "-fprvkey", str(env.dir / "key.pem"), "-x5u", X5U,
            "-o", orig, "-d", dest, "-a", attest]
    if origid:
        args += ["-orig-id", origid]
    p = _run(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = [x for x in p.stdout.splitlines() if x.strip()]
    assert len(lines) == 1, p.stdout
    return lines[0].strip()


@dataclass
class Check:
    ok: bool
    rc: int
    message: str


def ssx_check(env: Env, identity: str, *, chain: Path | None = None) -> Check:
    f = env.dir / "identity.txt"
    f.write_text(identity, encoding="utf-8")
    p = _run("-check", "-fidentity", str(f), "-fpubkey", str(chain or env.chain),
             "-expire", "60", "-ca-file", str(env.dir / "root.pem"), "-cert-verify", "5")
    out = p.stdout.strip().splitlines()
    ok = p.returncode == 0 and out[-1:] == ["ok"]
    return Check(ok, p.returncode, " ".join(out)[:160])


def sk_verify(env: Env, identity: str, orig: str | None, dest: str | None) -> Verdict:
    return env.verifier.verify(identity, orig=orig, dest=dest, now=time.time())


# -- good headers, both directions --------------------------------------------------------------


@pytest.mark.parametrize("attest", ["A", "B", "C"])
@pytest.mark.parametrize(("orig", "dest"), NUMBERS)
def test_secsipidx_signed_verifies_with_shakenkit(env: Env, attest: str, orig: str,
                                                 dest: str) -> None:
    header = ssx_sign(env, orig, dest, attest)
    v = sk_verify(env, header, "+" + orig, f"tel:+{dest}")
    assert v.passed, v.error
    assert v.attest == attest
    assert v.caller_id == ("verified" if attest == "A" else "unverified")
    assert (v.orig_tn, v.dest_tns) == (orig, [dest])
    assert v.signer is not None and v.signer.spc == "123A"
    assert ssx_check(env, header).ok  # and secsipidx agrees with itself


def test_secsipidx_signed_with_given_origid(env: Env) -> None:
    header = ssx_sign(env, *NUMBERS[0], "A", origid=ORIGID)
    v = sk_verify(env, header, *NUMBERS[0])
    assert v.caller_id == "verified" and v.origid == ORIGID


@pytest.mark.parametrize("attest", ["A", "B", "C"])
@pytest.mark.parametrize(("orig", "dest"), NUMBERS)
def test_shakenkit_signed_verifies_with_secsipidx(env: Env, attest: str, orig: str,
                                                 dest: str) -> None:
    header = env.pki.sign(orig="+" + orig, dest="+" + dest, attest=attest, iat=int(time.time()))
    check = ssx_check(env, header)
    assert check.ok, check
    assert sk_verify(env, header, orig, dest).passed


def test_secsipidx_plain_sign_is_a_bare_token(env: Env) -> None:
    """``secsipidx -sign`` (not -sign-full) prints only the JWS, honours ``-iat`` and leaves
    origid empty unless ``-orig-id`` is given: not a complete SHAKEN Identity header."""
    now = int(time.time())
    args = ["-sign", "-fprvkey", str(env.dir / "key.pem"), "-x5u", X5U, "-o", CALL[0],
            "-d", CALL[1], "-a", "A", "-iat", str(now)]
    bare = _run(*args).stdout.strip()
    assert bare.count(".") == 2 and ";" not in bare
    v = sk_verify(env, bare, *CALL)
    assert v.error is not None and (v.error.sip_code, v.error.check) == (436, "identity_header")
    with_info = f"{bare};info=<{X5U}>;alg=ES256;ppt=shaken"
    v = sk_verify(env, with_info, *CALL)
    assert v.error is not None and v.error.check == "passport_claims"  # origid ""
    assert v.iat == now
    assert ssx_check(env, with_info).ok  # secsipidx does not check origid
    with_origid = _run(*args, "-orig-id", ORIGID).stdout.strip()
    assert sk_verify(env, f"{with_origid};info=<{X5U}>;ppt=shaken", *CALL).caller_id == "verified"


def test_shakenkit_signed_quoted_ppt_and_several_dests_verify_with_secsipidx(env: Env) -> None:
    """ATIS examples quote ppt; dest may hold several numbers (RFC 8225 §5.2.1)."""
    token = sign_passport(_jose(), _claims(dest={"tn": ["12155551213", "12155551214"]}),
                          env.pki.leaf_key)
    header = f'{token};info=<{X5U}>;alg=ES256;ppt="shaken"'
    assert ssx_check(env, header).ok
    assert sk_verify(env, header, "12155551212", "12155551214").passed


# -- bad tokens: the agreement table (docs/interop.md) -------------------------------------------


def _jose(**over: Any) -> dict[str, Any]:
    h: dict[str, Any] = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": X5U}
    h.update(over)
    return {k: v for k, v in h.items() if v is not None}


def _claims(**over: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"attest": "A", "dest": {"tn": ["12155551213"]}, "iat": int(time.time()),
                         "orig": {"tn": "12155551212"}, "origid": ORIGID}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def _ident(token: str, info: str = X5U, alg: str | None = "ES256") -> str:
    return format_identity(IdentityHeader(token, info, alg, "shaken"))


def _signed(env: Env, key: Any = None, **claims_over: Any) -> str:
    return _ident(sign_passport(_jose(), _claims(**claims_over), key or env.pki.leaf_key))


def _raw(env: Env, header: bytes, payload: bytes, key: Any = None) -> str:
    si = b64url_encode(header) + "." + b64url_encode(payload)
    der = (key or env.pki.leaf_key).sign(si.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return _ident(si + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")))


def _with_key_url(env: Env, url: str, key: Any) -> str:
    return _ident(sign_passport(_jose(x5u=url), _claims(), key), info=url)


def _tampered(env: Env) -> str:
    h, _p, s = _signed(env).split(";")[0].split(".")
    p = b64url_encode(canonical_json(_claims(orig={"tn": "12155559999"})))
    return _ident(f"{h}.{p}.{s}")


def _alg_none(env: Env) -> str:
    _h, p, s = _signed(env).split(";")[0].split(".")
    none = b64url_encode(canonical_json(_jose(alg="none")))
    return _ident(f"{none}.{p}.{s}", alg="none")


def _der_signature(env: Env) -> str:
    h, p, _s = _signed(env).split(";")[0].split(".")
    der = env.pki.leaf_key.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    return _ident(f"{h}.{p}.{b64url_encode(der)}")


def _padded(env: Env) -> str:
    token = _signed(env).split(";")[0]
    while len(token.rsplit(".", 1)[1]) % 4 == 0:  # need a segment that takes padding
        token = sign_passport(_jose(), _claims(), env.pki.leaf_key)
    h, p, s = token.split(".")
    return f"{h}.{p}.{s}{'=' * (-len(s) % 4)};info=<{X5U}>;alg=ES256;ppt=shaken"


def _folded(env: Env) -> str:
    token = _signed(env).split(";")[0]
    return f"{token[:40]}\r\n {token[40:]};info=<{X5U}>;alg=ES256;ppt=shaken"


def _dup_payload(env: Env) -> str:
    payload = canonical_json(_claims(attest="C"))[:-1] + b',"attest":"A"}'
    return _raw(env, canonical_json(_jose()), payload)


def _dup_header(env: Env) -> str:
    header = canonical_json(_jose(x5u="https://evil.example/x.pem"))[:-1] + (
        ',"x5u":' + json.dumps(X5U) + "}").encode()
    return _raw(env, header, canonical_json(_claims()))


def _other_key(env: Env) -> str:
    return _signed(env, key=ec.generate_private_key(ec.SECP256R1()))


# name -> (builder, call numbers (orig, dest), shakenkit outcome, secsipidx outcome, kind)
# shakenkit outcome: "pass", "skip" (No-TN-Validation) or the SIP code; secsipidx: "ok"/"not-ok".
# kind: "agree" or "disagree" (explained in docs/interop.md).
Builder = Callable[[Env], str]
CALL = ("12155551212", "12155551213")
BAD: dict[str, tuple[Builder, tuple[str, str], str, str, str]] = {
    "valid": (lambda e: _signed(e), CALL, "pass", "ok", "agree"),
    "expired_iat": (lambda e: _signed(e, iat=int(time.time()) - 3600), CALL, "403", "not-ok",
                    "agree"),
    "wrong_key": (_other_key, CALL, "438", "not-ok", "agree"),
    "tampered_payload": (_tampered, CALL, "438", "not-ok", "agree"),
    "alg_none": (_alg_none, CALL, "438", "not-ok", "agree"),
    "x5u_differs_from_info": (lambda e: _ident(sign_passport(
        _jose(x5u="https://cr.example.com/other.pem"), _claims(), e.pki.leaf_key)), CALL, "438",
        "not-ok", "agree"),
    "der_signature": (_der_signature, CALL, "438", "not-ok", "agree"),
    "iat_string": (lambda e: _signed(e, iat=str(int(time.time()))), CALL, "438", "not-ok",
                   "agree"),
    "iat_missing": (lambda e: _signed(e, iat=None), CALL, "438", "not-ok", "agree"),
    "typ_jwt": (lambda e: _ident(sign_passport(_jose(typ="JWT"), _claims(), e.pki.leaf_key)),
                CALL, "438", "not-ok", "agree"),
    "untrusted_root": (lambda e: _with_key_url(e, "https://cr.example.com/interop/rogue.pem",
                                               e.keys["rogue.pem"]), CALL, "437", "not-ok",
                       "agree"),
    "jwk_header_ignored": (lambda e: _ident(sign_passport(
        _jose(jwk={"kty": "EC"}), _claims(), e.pki.leaf_key)), CALL, "pass", "ok", "agree"),
    "future_iat": (lambda e: _signed(e, iat=int(time.time()) + 3600), CALL, "403", "ok",
                   "disagree"),
    "attest_not_abc": (lambda e: _signed(e, attest="Z"), CALL, "438", "ok", "disagree"),
    "origid_missing": (lambda e: _signed(e, origid=None), CALL, "438", "ok", "disagree"),
    "crit_header": (lambda e: _ident(sign_passport(
        _jose(crit=["exp"], exp=1), _claims(), e.pki.leaf_key)), CALL, "438", "ok", "disagree"),
    "base64_padding": (_padded, CALL, "438", "ok", "disagree"),
    "whitespace_in_token": (_folded, CALL, "438", "ok", "disagree"),
    "duplicate_claim": (_dup_payload, CALL, "438", "ok", "disagree"),
    "duplicate_header_member": (_dup_header, CALL, "438", "ok", "disagree"),
    "orig_mismatch_with_call": (lambda e: _signed(e), ("12155559999", CALL[1]), "438", "ok",
                                "disagree"),
    "dest_tn_bare_string": (lambda e: _signed(e, dest={"tn": "12155551213"}), CALL, "pass",
                            "not-ok", "disagree"),
    "no_tnauthlist_certificate": (lambda e: _with_key_url(e, X5U_NO_TNAL,
                                                          e.keys["no-tnauthlist.pem"]),
                                  CALL, "437", "ok", "disagree"),
    "ca_flagged_leaf": (lambda e: _with_key_url(e, X5U_CA_LEAF, e.keys["ca-flagged.pem"]), CALL,
                        "437", "ok", "disagree"),
}
CHAIN_FILE = {
    "untrusted_root": "rogue.pem",
    "no_tnauthlist_certificate": "no-tnauthlist.pem",
    "ca_flagged_leaf": "ca-flagged.pem",
}


def _sk_outcome(v: Verdict) -> str:
    if v.passed:
        return "pass"
    if v.verstat == "No-TN-Validation":
        return "skip"
    assert v.error is not None
    return str(v.error.sip_code)


@pytest.mark.parametrize("name", list(BAD))
def test_bad_token_table(env: Env, name: str) -> None:
    build, (orig, dest), sk_expected, ssx_expected, _kind = BAD[name]
    header = build(env)
    v = sk_verify(env, header, orig, dest)
    chain = env.dir / CHAIN_FILE[name] if name in CHAIN_FILE else None
    check = ssx_check(env, header, chain=chain)
    assert _sk_outcome(v) == sk_expected, (name, v.error)
    assert ("ok" if check.ok else "not-ok") == ssx_expected, (name, check)


def test_interop_doc_lists_every_case() -> None:
    """docs/interop.md explains each row of the table above."""
    doc = (ROOT / "docs" / "interop.md").read_text(encoding="utf-8")
    for name, (*_, kind) in BAD.items():
        assert f"`{name}`" in doc, name
        if kind == "disagree":
            row = next(line for line in doc.splitlines() if f"`{name}`" in line)
            assert "disagree" in row.lower(), name
