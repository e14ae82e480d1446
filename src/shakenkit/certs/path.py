"""Path validation to the trust anchors (RFC 5280 through ``cryptography.x509.verification``;
standards digest §6.3), the CA-signature rules of the SHAKEN profile (ECDSA, and RSA as the
field issues it unless the strict profile is asked for), cached per chain and anchor set.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding as _Encoding
from cryptography.x509 import verification as xv

from .certificate import (
    _ECDSA_SHA256,
    _ECDSA_SHA384,
    _RSA_SHA256,
    MIN_RSA_BITS,
    CertChain,
    ChainResult,
    StiCertificate,
    _utc,
    load_certificate,
    signature_algorithm_name,
)
from .der import DERError
from .repair import verifier_inputs
from .trust import Anchors

__all__ = [
    "MAX_CHAIN_DEPTH",
    "CaSignatureStatus",
    "ca_signature_status",
    "strict_profile_refusal",
    "validate_chain",
]

_A = xv.Criticality.AGNOSTIC


def _key_cert_sign(_policy: object, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    """RFC 5280 §4.2.1.3, §6.1.4 (n): a CA key whose keyUsage is present but lacks keyCertSign
    verifies no certificate (``permit_all`` below would not check it)."""
    if ku is not None and not ku.key_cert_sign:
        raise ValueError(f"{cert.subject.rfc4514_string()}: keyUsage lacks keyCertSign")


# Not the Web PKI: STI certificates carry no EKU/SAN. RFC 5280 checks stay on; basicConstraints
# is required on CAs, keyCertSign when keyUsage is present (every CA of the real corpus has it);
# a critical certificatePolicies (seen live) is understood.
_CA_POLICY = (
    xv.ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, _A, None)
    .may_be_present(x509.KeyUsage, _A, _key_cert_sign)
    .may_be_present(x509.CertificatePolicies, _A, None)
)


_EE_POLICY = xv.ExtensionPolicy.permit_all().may_be_present(x509.CertificatePolicies, _A, None)

MAX_CHAIN_DEPTH = 4


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


def strict_profile_refusal(res: ChainResult) -> str | None:
    """Why the strict profile (the letter of ATIS-1000080 v004) refuses the valid chain ``res``:
    its first RSA CA signature; None when it holds only ECDSA signatures."""
    if res.off_profile is None:
        return None
    return f"{res.off_profile}: not allowed by ATIS-1000080 v004 (strict profile)"


def validate_chain(chain: CertChain, anchors: Anchors, now: float) -> ChainResult:
    """Validate ``chain`` to ``anchors`` at ``now`` (RFC 5280 via ``cryptography``). A pure
    function: who calls it often keeps the result (the Verifier does, per chain and anchor
    generation, while ``now`` lies in the result's window ``valid_from``..``valid_until``)."""
    return _validate_uncached(chain, anchors, now)


def _validate_uncached(chain: CertChain, anchors: Anchors, now: float) -> ChainResult:
    if not anchors.certs or anchors.store is None:
        return ChainResult(False, "no trust anchors are configured")
    try:
        inputs = verifier_inputs(chain, anchors)
    except DERError as e:  # a stand-in could not be encoded: the chain is not usable
        return ChainResult(False, f"certificate path validation failed: {e}")
    store = (
        xv.Store([*(a.cert for a in anchors.certs), *inputs.extra_anchors])
        if inputs.extra_anchors
        else anchors.store
    )
    verifier = (
        xv.PolicyBuilder()
        .store(store)
        .time(_utc(now))
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    failure: xv.VerificationError | None = None
    for leaf in inputs.leaves:
        try:
            verified = verifier.verify(leaf, list(inputs.intermediates))
            break
        except xv.VerificationError as e:
            failure = failure or e
    else:
        return ChainResult(False, f"certificate path validation failed: {str(failure)[:200]}")
    by_der: dict[x509.Certificate, StiCertificate] = {c.cert: c for c in chain.certs}
    by_der.update({a.cert: a for a in anchors.certs})
    by_der.update(inputs.originals)
    path = tuple(by_der.get(c) or load_certificate(c.public_bytes(_DER)) for c in verified.chain)
    lenient = [c.subject for c in path if c.lenient is not None]
    if not lenient:
        return _valid("chain valid", path)
    return _valid(
        "chain valid (NULL ECDSA signature-algorithm parameter on "
        + ", ".join(lenient)
        + ": repaired, its signature checked over the TBS as issued)",
        path,
        lenient=True,
    )


_DER = _Encoding.DER
