"""STI certificates: parsing, TNAuthList/SPC, SHAKEN profile checks, path validation, CRLs.

Standards: RFC 8226 §9 (TNAuthList), ATIS-1000080 §6.4.1 and the SHAKEN CP (profile, standards
digest §6.2), RFC 5280 (path validation, delegated to ``cryptography.x509.verification``),
standards digest §6.3 (how the verifier builds and checks the chain).

Pure functions over bytes and a clock: nothing here does I/O (but read the trust-anchor files
and directories a caller names). The modules: ``der`` (DER reading and the TNAuthList
extension), ``certificate`` (:class:`StiCertificate`, :class:`CertChain`, PEM/DER parsing),
``trust`` (:class:`TrustStore`), ``path`` (path validation and the CA-signature rules),
``profile`` (the leaf profile lint the verifier applies), ``crl`` (revocation), ``certinfo``
(what ``shakenkit cert`` shows and lints), ``calist`` (the STI-PA's signed CA list: parse and
check; the trust directory's state file).

May import: :mod:`shakenkit.errors` only (docs/architecture.md).
"""

from .certificate import (
    CertChain,
    ChainResult,
    StiCertificate,
    load_certificate,
    parse_certificates,
    parse_chain,
)
from .crl import check_revocation, load_crls
from .path import strict_profile_refusal, validate_chain
from .profile import ProfileFinding, leaf_profile
from .trust import Anchors, TrustStore

__all__ = [
    "Anchors",
    "CertChain",
    "ChainResult",
    "ProfileFinding",
    "StiCertificate",
    "TrustStore",
    "check_revocation",
    "leaf_profile",
    "load_certificate",
    "load_crls",
    "parse_certificates",
    "parse_chain",
    "strict_profile_refusal",
    "validate_chain",
]
