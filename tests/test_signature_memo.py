"""The memo of verified signatures (core/sigmemo.py): keyed by content, bounded, only
successes. Each test is a way to abuse it."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric import ec

from shakenkit import Policy
from shakenkit.core.passport import b64url_decode, b64url_encode
from shakenkit.core.sigmemo import SignatureMemo
from shakenkit.testing import make_pki, sign_identity

ORIG, DEST = "12155551212", "12155551213"
# P-256 group order (SEC 2): s and n - s are both valid ECDSA signatures.
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _malleate(header: str) -> str:
    token, rest = header.split(";", 1)
    h, p, sig = token.split(".")
    raw = b64url_decode(sig)
    s = int.from_bytes(raw[32:], "big")
    return f"{h}.{p}.{b64url_encode(raw[:32] + (N - s).to_bytes(32, 'big'))};{rest}"


def test_repeated_passport_is_answered_from_the_memo() -> None:
    """The same PASSporT again (a forked or retransmitted INVITE): one memo entry, same
    verdict."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    v = pki.verifier()
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    first = v.verify(h, orig=ORIG, dest=DEST, now=now)
    again = v.verify(h, orig=ORIG, dest=DEST, now=now)
    assert first.caller_id == again.caller_id == "verified"
    assert v.stats()["signature_memo"]["entries"] == 1


def test_forged_signatures_never_enter_the_memo() -> None:
    """An attacker's invalid signatures are verified (and refused) every time; they never
    take room in the memo."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    v = pki.verifier()
    forger = ec.generate_private_key(ec.SECP256R1())
    for i in range(50):
        bad = sign_identity(forger, x5u=pki.x5u, orig=ORIG, dest=DEST, iat=now, origid=str(i))
        verdict = v.verify(bad, orig=ORIG, dest=DEST, now=now)
        assert verdict.error is not None and verdict.error.check == "signature"
    assert v.stats()["signature_memo"]["entries"] == 0


def test_memo_hit_needs_the_same_chain() -> None:
    """A PASSporT remembered as verified under one certificate is not taken as verified when
    its x5u now serves another certificate (another key): the memo is keyed by the chain."""
    pki = make_pki(crl_url=None)
    other = pki.carrier(spc="456B", x5u="https://cr.example.com/sp/456B.pem")  # same CA
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    v = pki.verifier()
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).caller_id == "verified"
    swapped = pki.verifier(certificates={pki.x5u: other.chain_pem})
    swapped.trust_store = v.trust_store  # same anchors: only the chain differs
    swapped._sig_memo = v._sig_memo  # and the same memo: the chain is part of the key
    wrong = swapped.verify(h, orig=ORIG, dest=DEST, now=now)
    assert wrong.error is not None and wrong.error.check == "signature"


def test_malleated_signature_is_not_a_memo_hit() -> None:
    """s -> n - s is another key in the memo: it is verified on its own (and is valid ECDSA)."""
    pki = make_pki(crl_url=None)
    now = int(time.time())
    v = pki.verifier()
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    v.verify(h, orig=ORIG, dest=DEST, now=now)
    assert v.verify(_malleate(h), orig=ORIG, dest=DEST, now=now).passed
    assert v.stats()["signature_memo"]["entries"] == 2


def test_memo_is_bounded_in_bytes() -> None:
    """Distinct valid PASSporTs beyond the budget push out the oldest; bytes stay bounded."""
    memo = SignatureMemo(10_000)
    for i in range(1_000):
        memo.add(1, b"x" * 400 + str(i).encode(), b"s" * 64)
    st = memo.stats()
    assert st["bytes"] <= 10_000 and 0 < st["entries"] < 20
    assert memo.hit(1, b"x" * 400 + b"999", b"s" * 64)
    assert not memo.hit(1, b"x" * 400 + b"0", b"s" * 64)
    huge = SignatureMemo(100)
    huge.add(1, b"x" * 400, b"s" * 64)  # larger than the whole memo: not kept
    assert huge.stats()["entries"] == 0


def test_memo_off() -> None:
    pki = make_pki(crl_url=None)
    now = int(time.time())
    v = pki.verifier(policy=Policy(signature_memo_bytes=0))
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).passed
    assert "signature_memo" not in v.stats()
