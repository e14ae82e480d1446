"""STI certificates: DER helpers, parsing, TNAuthList, the SHAKEN profile, path validation, CRLs.

Owns everything about an X.509 certificate once its bytes are at hand: reading PEM/DER into
:class:`StiCertificate` and :class:`CertChain`, the TNAuthList extension (RFC 8226), the leaf
profile lint (ATIS-1000080), chain validation to the STI-PA trust anchors (:class:`TrustStore`)
and revocation (CRLs), and the findings of the ``cert`` command (``certinfo``). Pure functions
over bytes and a clock: no I/O but reading trust-anchor files the caller names.

May import: :mod:`shakenkit.errors` only (docs/architecture.md).
"""

from .pki import CertChain, StiCertificate, TrustStore, parse_chain

__all__ = ["CertChain", "StiCertificate", "TrustStore", "parse_chain"]
