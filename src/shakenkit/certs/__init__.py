"""STI certificates: parsing, TNAuthList/SPC, SHAKEN profile checks, path validation, CRLs.

Standards: RFC 8226 §9 (TNAuthList), ATIS-1000080 §6.4.1 and the SHAKEN CP (profile, standards
digest §6.2), RFC 5280 (path validation, delegated to ``cryptography.x509.verification``),
standards digest §6.3 (how the verifier builds and checks the chain).

Pure functions over bytes and a clock: nothing here does I/O (but read the trust-anchor, CRL
and CRL-signer files and directories a caller names). The modules: ``der`` (DER reading and
the TNAuthList extension), ``certificate`` (:class:`StiCertificate`, :class:`CertChain`,
PEM/DER parsing), ``trust`` (:class:`TrustStore`), ``path`` (path validation and the
CA-signature rules), ``repair`` (NULL-parameter certificates handed to the RFC 5280 verifier),
``profile`` (the leaf profile lint the verifier applies), ``crl`` (reading CRLs),
``revocation`` (what CRLs establish: :class:`RevocationChecker`), ``certinfo`` (what
``shakenkit cert`` shows and lints), ``calist`` (the STI-PA's signed CA list: parse and
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
from .crl import load_crls, read_crls
from .path import strict_profile_refusal, validate_chain
from .profile import ProfileFinding, leaf_profile
from .revocation import (
    CertificateRevocation,
    RevocationChecker,
    RevocationResult,
    load_crl_signers,
)
from .trust import Anchors, TrustStore

__all__ = [
    "Anchors",
    "CertChain",
    "CertificateRevocation",
    "ChainResult",
    "ProfileFinding",
    "RevocationChecker",
    "RevocationResult",
    "StiCertificate",
    "TrustStore",
    "leaf_profile",
    "load_certificate",
    "load_crl_signers",
    "load_crls",
    "parse_certificates",
    "parse_chain",
    "read_crls",
    "strict_profile_refusal",
    "validate_chain",
]
