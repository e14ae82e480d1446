"""Known answers: one table of calls and the verdict each must get (RFC 8224 §6.2.2; standards
digest §1.5, §5.4, §9; the caller_id table of docs/verdicts.md).

Each row: (header builder, orig, dest, verifier) -> (verstat, caller_id, error.sip_code). The
table covers every caller_id row (verified; unverified: no header, attest B/C, fetch failure,
numbers not given, unsupported ppt, 428; likely_spoofed: forged signature, untrusted, expired,
revoked, stale, mismatch, malformed) and every error code (403, 428, 436, 437, 438).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from shakenkit import Policy, Verifier
from shakenkit.core.passport import b64url_encode, canonical_json, sign_passport
from shakenkit.testing import TestPKI, make_crl, make_pki
from tests.conftest import (
    DAY,
    DEST,
    DEST_TN,
    NOW,
    ORIG,
    ORIG_TN,
    claims,
    identity,
    jose,
    serial_of,
    signed,
)

PASSED, FAILED, NONE = "TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation"
VERIFIED, UNVERIFIED, SPOOFED = "verified", "unverified", "likely_spoofed"


@dataclass
class World:
    """Who is who: a trusted SP, a forger, an SP with an expired and one with a revoked
    certificate, all served by one certificate repository."""

    pki: TestPKI
    rogue: TestPKI
    expired: TestPKI
    revoked: TestPKI
    verifiers: dict[str, Verifier]


@pytest.fixture(scope="module")
def world(pki, rogue_pki, expired_pki) -> World:
    revoked = make_pki(
        spc="999R",
        x5u="https://cr.example.com/sp/revoked.pem",
        not_before=NOW - 30 * DAY,
        not_after=NOW + 300 * DAY,
    )
    crl = make_crl(revoked.ca_key, revoked.ca_der, [serial_of(revoked.leaf_der)])
    certificates = {
        **pki.certificates(),
        **rogue_pki.certificates(),
        **expired_pki.certificates(),
        **revoked.certificates(),
    }
    anchors = [pki.root_pem, expired_pki.root_pem, revoked.root_pem]

    def make(policy: Policy) -> Verifier:
        return Verifier(anchors, certificates, crls=[crl], policy=policy)

    return World(
        pki,
        rogue_pki,
        expired_pki,
        revoked,
        {"default": make(Policy()), "require_identity": make(Policy(require_identity=True))},
    )


def _sign(w: World, **kw: Any) -> str:
    kw.setdefault("iat", NOW)
    return w.pki.sign(orig=ORIG, dest=DEST, **kw)


def _compact_plain(w: World) -> str:
    h = {"alg": "ES256", "typ": "passport", "x5u": w.pki.x5u}
    c = {"dest": {"tn": [DEST_TN]}, "iat": NOW, "orig": {"tn": ORIG_TN}}
    sig = sign_passport(h, c, w.pki.leaf_key).split(".")[2]
    return identity(".." + sig, w.pki.x5u, ppt=None)


def _compact_shaken(w: World) -> str:
    return identity(".." + _sign(w).split(";")[0].split(".")[2], w.pki.x5u)


def _div(w: World) -> str:
    payload = {
        "dest": {"tn": [DEST_TN]},
        "div": {"tn": "12155550000"},
        "iat": NOW,
        "orig": {"tn": ORIG_TN},
    }
    return signed(w.pki, header=jose(w.pki.x5u, ppt="div"), payload=payload, ppt="div")


def _rph(w: World) -> str:
    """A Resource-Priority PASSporT (RFC 8443): a ppt shakenkit does not support."""
    payload = {**claims(), "rph": {"auth": ["ets.0"]}}
    return signed(w.pki, header=jose(w.pki.x5u, ppt="rph"), payload=payload, ppt="rph")


def _der_signature(w: World) -> str:
    header = b64url_encode(canonical_json(jose(w.pki.x5u)))
    si = f"{header}.{b64url_encode(canonical_json(claims()))}"
    der = w.pki.leaf_key.sign(si.encode(), ec.ECDSA(hashes.SHA256()))
    return identity(f"{si}.{b64url_encode(der)}", w.pki.x5u)


Builder = Callable[[World], Any]


def row(
    name: str,
    build: Builder,
    expected: tuple[str, str, int | None],
    *,
    orig: Any = ORIG,
    dest: Any = DEST,
    verifier: str = "default",
    now: int = NOW,
) -> Any:
    return pytest.param(build, orig, dest, verifier, now, expected, id=name)


TABLE = [
    # -- verified: A-attested, everything passed
    row("verified-attest-A", _sign, (PASSED, VERIFIED, None)),
    row("verified-attest-A-second-later", _sign, (PASSED, VERIFIED, None), now=NOW + 1),
    # -- unverified
    row("unverified-no-header", lambda w: None, (NONE, UNVERIFIED, None)),
    row("unverified-empty-header", lambda w: "", (NONE, UNVERIFIED, None)),
    row("unverified-attest-B", lambda w: _sign(w, attest="B"), (PASSED, UNVERIFIED, None)),
    row("unverified-attest-C", lambda w: _sign(w, attest="C"), (PASSED, UNVERIFIED, None)),
    row(
        "unverified-fetch-failure-436",
        lambda w: _sign(w, x5u="https://cr.example.com/sp/unknown.pem"),
        (FAILED, UNVERIFIED, 436),
    ),
    # No number compared: no TN validated (issue 18 point 3), the signature still verified.
    row("unverified-numbers-not-given", _sign, (NONE, UNVERIFIED, None), orig=None, dest=None),
    row("unverified-unsupported-ppt-rph", _rph, (NONE, UNVERIFIED, None)),
    # div is supported (RFC 8946); alone it continues no SHAKEN PASSporT: no TN validated.
    row("unverified-div-without-shaken", _div, (NONE, UNVERIFIED, None)),
    row(
        "unverified-428-only-unsupported-ppt",
        _rph,
        (NONE, UNVERIFIED, 428),
        verifier="require_identity",
    ),
    row("unverified-compact-plain-no-attest", _compact_plain, (PASSED, UNVERIFIED, None)),
    row(
        "unverified-428-required",
        lambda w: None,
        (NONE, UNVERIFIED, 428),
        verifier="require_identity",
    ),
    # -- likely spoofed
    row(
        "spoofed-forged-signature-438",
        lambda w: signed(w.pki, key=w.rogue.leaf_key),
        (FAILED, SPOOFED, 438),
    ),
    row(
        "spoofed-untrusted-cert-437",
        lambda w: w.rogue.sign(orig=ORIG, dest=DEST, iat=NOW),
        (FAILED, SPOOFED, 437),
    ),
    row(
        "spoofed-expired-cert-437",
        lambda w: w.expired.sign(orig=ORIG, dest=DEST, iat=NOW),
        (FAILED, SPOOFED, 437),
    ),
    row(
        "spoofed-revoked-cert-437",
        lambda w: w.revoked.sign(orig=ORIG, dest=DEST, iat=NOW),
        (FAILED, SPOOFED, 437),
    ),
    row("spoofed-stale-403", lambda w: _sign(w, iat=NOW - 3600), (FAILED, SPOOFED, 403)),
    row("spoofed-future-403", lambda w: _sign(w, iat=NOW + 3600), (FAILED, SPOOFED, 403)),
    row("spoofed-ms-iat-403", lambda w: _sign(w, iat=NOW * 1000), (FAILED, SPOOFED, 403)),
    row("spoofed-orig-mismatch-438", _sign, (FAILED, SPOOFED, 438), orig="+12155559999"),
    row("spoofed-dest-mismatch-438", _sign, (FAILED, SPOOFED, 438), dest="+12155559999"),
    row("spoofed-malformed-438", lambda w: "garbage", (FAILED, SPOOFED, 438)),
    row(
        "spoofed-bad-base64-438",
        lambda w: _sign(w).replace(".", ".+", 1),
        (FAILED, SPOOFED, 438),
    ),
    row(
        "spoofed-missing-info-436",
        lambda w: _sign(w).split(";")[0] + ";ppt=shaken",
        (FAILED, SPOOFED, 436),
    ),
    row(
        "spoofed-info-not-uri-436",
        lambda w: _sign(w).split(";")[0] + ";info=<sp/123A.pem>",
        (FAILED, SPOOFED, 436),
    ),
    row("spoofed-compact-shaken-438", _compact_shaken, (FAILED, SPOOFED, 438)),
    row(
        "spoofed-x5u-info-mismatch-438",
        lambda w: signed(w.pki, info="https://cr.example.com/other.pem"),
        (FAILED, SPOOFED, 438),
    ),
    row(
        "spoofed-alg-none-438",
        lambda w: signed(w.pki, header=jose(w.pki.x5u, alg="none"), alg=None),
        (FAILED, SPOOFED, 438),
    ),
    row(
        "spoofed-attest-D-438",
        lambda w: signed(w.pki, payload=claims(attest="D")),
        (FAILED, SPOOFED, 438),
    ),
    row(
        "spoofed-iat-string-438",
        lambda w: signed(w.pki, payload=claims(iat=str(NOW))),
        (FAILED, SPOOFED, 438),
    ),
    row("spoofed-der-signature-438", _der_signature, (FAILED, SPOOFED, 438)),
    # -- several headers: the best one decides
    row(
        "several-forged-then-good",
        lambda w: [signed(w.pki, key=w.rogue.leaf_key), _sign(w)],
        (PASSED, VERIFIED, None),
    ),
    row(
        "several-div-then-good",
        lambda w: [_div(w), _sign(w, attest="B")],
        (PASSED, UNVERIFIED, None),
    ),
    row(
        "several-all-bad",
        lambda w: [_sign(w, iat=NOW - 3600), "garbage"],
        (FAILED, SPOOFED, 403),
    ),
]


@pytest.mark.parametrize(("build", "orig", "dest", "verifier", "now", "expected"), TABLE)
def test_known_answer(world, build, orig, dest, verifier, now, expected):
    """RFC 8224 §6.2 / digest §9: each call gets exactly its known verdict."""
    v = world.verifiers[verifier].verify(build(world), orig=orig, dest=dest, now=now)
    got = (v.verstat, v.caller_id, v.error.sip_code if v.error else None)
    assert got == expected, v.error
    assert v.likely_spoofed == (v.caller_id == SPOOFED)


def test_table_covers_every_caller_id_row_and_error_code():
    """The table is complete: all caller_id values and every RFC 8224 failure code appear."""
    expected = [p.values[-1] for p in TABLE]
    assert {e[1] for e in expected} == {VERIFIED, UNVERIFIED, SPOOFED}
    assert {e[2] for e in expected} == {None, 403, 428, 436, 437, 438}
    assert {e[0] for e in expected} == {PASSED, FAILED, NONE}
    ids = [p.id for p in TABLE]
    assert len(ids) == len(set(ids))
