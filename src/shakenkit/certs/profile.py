"""The leaf profile (ATIS-1000080 §6.4.1, SHAKEN CP; standards digest §6.2): which deviations are
fatal and which are warnings (:func:`leaf_profile`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from .certificate import (
    _ECDSA_SHA256,
    _ECDSA_SHA384,
    _LEAF_SIGNATURE_OIDS,
    SHAKEN_POLICY_OIDS,
    StiCertificate,
    signature_algorithm_name,
)

__all__ = [
    "ProfileFinding",
    "leaf_profile",
]


@dataclass(frozen=True, slots=True)
class ProfileFinding:
    """One certificate-profile observation: ``fatal`` ones fail the call with 437."""

    name: str
    ok: bool
    detail: str
    fatal: bool


def leaf_profile(
    leaf: StiCertificate, *, strict_policy: bool = False, strict_profile: bool = False
) -> list[ProfileFinding]:
    """Check the SHAKEN end-entity profile that matters for a verifier.

    Fatal: P-256 key; signed with ecdsa-with-SHA256 or -SHA384 (CP 1.4), or with
    sha256WithRSAEncryption unless ``strict_profile`` (ATIS-1000080 v004 names ECDSA only; a
    real STI-CA signed with RSA, see :func:`ca_signature_status`, which the path validation
    applies with the issuer's key); not a CA; digitalSignature key usage when keyUsage is
    present; a TNAuthList with an SPC.
    Warnings (fatal with ``strict_policy``): missing keyUsage, no SHAKEN certificate policy OID.
    A warning is a finding with ``ok=False, fatal=False``; TNAuthList encoding quirks are always
    warnings.
    """
    out: list[ProfileFinding] = []
    key = leaf.key
    p256 = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    out.append(
        ProfileFinding("leaf_key", p256, "P-256 key" if p256 else "key is not ECDSA P-256", True)
    )
    oid = leaf.signature_oid
    allowed = (_ECDSA_SHA256, _ECDSA_SHA384) if strict_profile else _LEAF_SIGNATURE_OIDS
    sig_ok = oid in allowed
    out.append(
        ProfileFinding(
            "leaf_signature_algorithm",
            sig_ok,
            signature_algorithm_name(oid) if sig_ok else f"signature algorithm {oid} not allowed",
            True,
        )
    )
    out.append(
        ProfileFinding(
            "leaf_not_ca",
            not leaf.is_ca,
            "end-entity certificate" if not leaf.is_ca else "signing certificate is a CA (cA=TRUE)",
            True,
        )
    )
    ku = leaf.key_usage
    if ku is None:
        out.append(
            ProfileFinding("leaf_key_usage", False, "keyUsage extension absent", strict_policy)
        )
    else:
        ds = ku[0]
        out.append(
            ProfileFinding(
                "leaf_key_usage",
                ds,
                "digitalSignature" if ds else "keyUsage lacks digitalSignature",
                True,
            )
        )
    if leaf.tnauthlist is None or leaf.spc is None:
        out.append(
            ProfileFinding(
                "tnauthlist",
                False,
                "no TNAuthList extension (RFC 8226 §9)"
                if leaf.tnauthlist is None
                else "TNAuthList has no SPC",
                True,
            )
        )
    else:
        q = f" ({'; '.join(leaf.tnauthlist_quirks)})" if leaf.tnauthlist_quirks else ""
        out.append(ProfileFinding("tnauthlist", True, f"SPC {leaf.spc}{q}", True))
        for quirk in leaf.tnauthlist_quirks:  # tolerated, but reported (standards digest §10.16)
            out.append(ProfileFinding("tnauthlist_encoding", False, quirk, False))
    pol = [p for p in leaf.policies if p in SHAKEN_POLICY_OIDS]
    out.append(
        ProfileFinding(
            "certificate_policy",
            bool(pol),
            f"SHAKEN CP {pol[0]}" if pol else "no SHAKEN certificate policy OID",
            strict_policy,
        )
    )
    return out
