"""Path validation to the trust anchors (RFC 5280 through ``cryptography.x509.verification``;
standards digest §6.3), the CA-signature rules of the SHAKEN profile (ECDSA, and RSA as the
field issues it unless the strict profile is asked for), cached per chain and anchor set.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding as _Encoding
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtensionOID

from .certificate import (
    _ECDSA_SHA256,
    _ECDSA_SHA384,
    _HASHES,
    _RSA_SHA256,
    MIN_RSA_BITS,
    CertChain,
    ChainResult,
    StiCertificate,
    _ext,
    _utc,
    load_certificate,
    signature_algorithm_name,
)
from .trust import (
    Anchors,
)

__all__ = [
    "MAX_CHAIN_DEPTH",
    "CaSignatureStatus",
    "ca_signature_status",
    "strict_profile_refusal",
    "validate_chain",
]

_A = xv.Criticality.AGNOSTIC


# Not the Web PKI: STI certificates carry no EKU/SAN. RFC 5280 checks stay on; basicConstraints
# is required on CAs; a critical certificatePolicies (seen live) is understood.
_CA_POLICY = (
    xv.ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, _A, None)
    .may_be_present(x509.CertificatePolicies, _A, None)
)


_EE_POLICY = xv.ExtensionPolicy.permit_all().may_be_present(x509.CertificatePolicies, _A, None)

MAX_CHAIN_DEPTH = 4


def _issuer_signed(child: StiCertificate, issuer: StiCertificate) -> bool:
    """Does ``issuer``'s key verify ``child``'s signature over its ORIGINAL TBS bytes?
    (ECDSA, or RSA PKCS#1 v1.5 with SHA-256: the algorithms :func:`ca_signature_status` can
    accept.)"""
    key = issuer.key
    oid = child.signature_oid
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and (h := _HASHES.get(oid)) is not None:
            key.verify(child.signature, child.tbs, ec.ECDSA(h()))
        elif isinstance(key, rsa.RSAPublicKey) and oid == _RSA_SHA256:
            key.verify(child.signature, child.tbs, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


CaSignatureStatus = Literal["profile", "cp14", "rsa", "refused"]


def ca_signature_status(child: StiCertificate, issuer_key: object) -> CaSignatureStatus:
    """Judge the algorithm of the CA signature over ``child``, made with ``issuer_key``.

    * ``"profile"`` — ecdsa-with-SHA256 by an EC key: the ATIS-1000080 §6.4.1 profile.
    * ``"cp14"`` — ecdsa-with-SHA384 by an EC key: allowed by SHAKEN CP 1.4 (standards digest
      §6.2, §6.3 item 3; the CTIA STI-CA signs so), not by the letter of ATIS-1000080 v004.
    * ``"rsa"`` — sha256WithRSAEncryption (PKCS#1 v1.5 only) by an RSA key of at least
      :data:`MIN_RSA_BITS` bits: outside the profile, but a real, trusted STI-CA (Neustar
      Certified Caller ID CA-1, valid 2019-2029) issued SP certificates so, and
      OpenSSL-based verifiers accept them. Accepted unless the strict profile is asked for.
    * ``"refused"`` — anything else (SHA-1, MD5, RSA under 2048 bits, RSASSA-PSS, DSA,
      ecdsa-with-SHA512, ...).
    """
    oid = child.signature_oid
    if isinstance(issuer_key, ec.EllipticCurvePublicKey):
        if oid == _ECDSA_SHA256:
            return "profile"
        if oid == _ECDSA_SHA384:
            return "cp14"
    elif (
        isinstance(issuer_key, rsa.RSAPublicKey)
        and oid == _RSA_SHA256
        and issuer_key.key_size >= MIN_RSA_BITS
    ):
        return "rsa"
    return "refused"


def _ca_signatures(
    path: Sequence[StiCertificate],
) -> tuple[str | None, tuple[str, ...], str | None]:
    """The CA signatures along ``path`` (each certificate but the anchor, by the next one):
    (why the path is refused or None, notes on tolerated signatures, the first RSA one)."""
    notes: list[str] = []
    off_profile: str | None = None
    for child, issuer in itertools.pairwise(path):
        status = ca_signature_status(child, issuer.key)
        name = signature_algorithm_name(child.signature_oid)
        if status == "refused":
            key = issuer.key
            bits = f" ({key.key_size}-bit RSA key)" if isinstance(key, rsa.RSAPublicKey) else ""
            return (
                f"certificate {child.subject} is signed with {name}{bits} by {issuer.subject}; "
                "accepted are ecdsa-with-SHA256/384 and sha256WithRSAEncryption with an RSA key "
                f"of at least {MIN_RSA_BITS} bits",
                (),
                None,
            )
        if status == "cp14":
            notes.append(
                f"CA signature ecdsa-with-SHA384 by {issuer.subject} (SHAKEN CP 1.4; "
                "ATIS-1000080 v004 names ecdsa-with-SHA256)"
            )
        elif status == "rsa":
            what = (
                f"CA signature sha256WithRSAEncryption ({issuer.key.key_size}-bit RSA) "
                f"by {issuer.subject}"
            )
            notes.append(
                f"{what}: outside the ATIS-1000080 v004 profile, accepted (strict profile refuses)"
            )
            off_profile = off_profile or what
    return None, tuple(notes), off_profile


def _valid(detail: str, path: Sequence[StiCertificate], *, lenient: bool = False) -> ChainResult:
    """A successful :class:`ChainResult` for ``path``, or a failed one when a CA signature on
    it uses an algorithm :func:`ca_signature_status` refuses."""
    refusal, notes, off_profile = _ca_signatures(path)
    if refusal is not None:
        return ChainResult(False, refusal)
    return ChainResult(
        True,
        "; ".join((detail, *notes)),
        valid_from=max(c.not_before for c in path),
        valid_until=min(c.not_after for c in path),
        lenient=lenient,
        path=tuple(path),
        notes=notes,
        off_profile=off_profile,
    )


def _usable_ca(c: StiCertificate) -> str | None:
    bc = _ext(c.cert, ExtensionOID.BASIC_CONSTRAINTS)
    if bc is None or not bc.value.ca:  # type: ignore[attr-defined]
        return f"issuer {c.subject} is not a CA (basicConstraints)"
    ku = _ext(c.cert, ExtensionOID.KEY_USAGE)
    if ku is not None and not ku.value.key_cert_sign:  # type: ignore[attr-defined]
        return f"issuer {c.subject} lacks keyCertSign"
    return None


def _validate_lenient(chain: CertChain, anchors: Anchors, now: float) -> ChainResult:
    """RFC 5280 path validation for chains that hold (or end at) a certificate readable only
    through the NULL-parameter repair. Narrow on purpose: the signature algorithms of
    :func:`ca_signature_status` only, names must chain (an issuer is a certificate whose subject
    is the issuer name and whose key verifies the signature, in any bundle order), every
    certificate valid at ``now``, issuers must be CAs with keyCertSign, depth <= 4.
    """
    pool = list(chain.certs[1:])
    cur = chain.leaf
    path = [cur]
    for _ in range(MAX_CHAIN_DEPTH + 1):
        for anchor in anchors.by_subject.get(cur.issuer, ()):
            if _issuer_signed(cur, anchor):
                path.append(anchor)
                break
        else:
            nxt = next(
                (
                    p
                    for p in pool
                    if p.subject == cur.issuer and p not in path and _issuer_signed(cur, p)
                ),
                None,
            )
            if nxt is None:
                return ChainResult(False, f"no path from {chain.leaf.subject} to a trust anchor")
            path.append(nxt)
            cur = nxt
            continue
        break
    else:
        return ChainResult(False, "certificate chain is too long")
    for i, c in enumerate(path):
        if not c.not_before <= now <= c.not_after:
            return ChainResult(
                False, f"certificate {c.subject} is not valid at the verification time"
            )
        if i > 0 and (err := _usable_ca(c)):
            return ChainResult(False, err)
    return _valid(
        "chain valid (lenient parse: NULL ECDSA signature-algorithm parameter)", path, lenient=True
    )


def strict_profile_refusal(res: ChainResult) -> str | None:
    """Why the strict profile (the letter of ATIS-1000080 v004) refuses the valid chain ``res``:
    its first RSA CA signature; None when it holds only ECDSA signatures."""
    if res.off_profile is None:
        return None
    return f"{res.off_profile}: not allowed by ATIS-1000080 v004 (strict profile)"


def validate_chain(chain: CertChain, anchors: Anchors, now: float) -> ChainResult:
    """Validate ``chain`` to ``anchors`` at ``now`` (RFC 5280 via ``cryptography``), memoized on
    the chain per anchor generation and reused while ``now`` lies in the result's window."""
    cached = chain._results.get(anchors.generation)
    if cached is not None and cached.valid_from <= now <= cached.valid_until:
        return cached
    res = _validate_uncached(chain, anchors, now)
    if res.ok:
        if len(chain._results) > 8:
            chain._results.clear()
        chain._results[anchors.generation] = res
    return res


def _validate_uncached(chain: CertChain, anchors: Anchors, now: float) -> ChainResult:
    if not anchors.certs:
        return ChainResult(False, "no trust anchors are configured")
    leaf = chain.leaf
    uses_lenient = any(c.lenient for c in chain.certs) or any(
        a.lenient for c in chain.certs for a in anchors.by_subject.get(c.issuer, ())
    )
    if uses_lenient:
        return _validate_lenient(chain, anchors, now)
    if anchors.store is None:
        return ChainResult(False, "no trust anchor matches this chain")
    verifier = (
        xv.PolicyBuilder()
        .store(anchors.store)
        .time(_utc(now))
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf.cert, [c.cert for c in chain.certs[1:]])
    except xv.VerificationError as e:
        return ChainResult(False, f"certificate path validation failed: {str(e)[:200]}")
    by_der = {c.cert: c for c in chain.certs}
    by_der.update({a.cert: a for a in anchors.certs})
    path = tuple(by_der.get(c) or load_certificate(c.public_bytes(_DER)) for c in verified.chain)
    return _valid("chain valid", path)


_DER = _Encoding.DER
