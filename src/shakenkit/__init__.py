"""shakenkit: STIR/SHAKEN verification (STI-VS) for carriers and traceback teams.

Is this call's caller ID signed by the carrier that originated it, or likely spoofed?

>>> from shakenkit import Verifier
>>> v = Verifier(trust_anchors=[root_pem], certificates={x5u: chain_pem})   # doctest: +SKIP
>>> v.verify(identity_header, orig="+12155551212", dest="+12155551213").caller_id  # doctest: +SKIP
'verified'
"""

from .certs import CertChain, StiCertificate, TrustStore, parse_chain
from .core import (
    Check,
    DivLink,
    HeaderResult,
    IdentityHeader,
    Passport,
    Policy,
    RcdDigest,
    RichCallData,
    Signer,
    Verdict,
    VerdictError,
    Verifier,
    canonicalize_tn,
    decode_passport,
    format_identity,
    parse_identity,
    parse_identity_headers,
)
from .errors import (
    CertificateError,
    CertificateFetchError,
    IdentityHeaderError,
    PassportError,
    ShakenError,
)
from .repository import CertificateSource, FetchError, FetchPolicy, HttpsSource, StaticSource

__version__ = "0.1.0"

__all__ = [
    "CertChain",
    "CertificateError",
    "CertificateFetchError",
    "CertificateSource",
    "Check",
    "DivLink",
    "FetchError",
    "FetchPolicy",
    "HeaderResult",
    "HttpsSource",
    "IdentityHeader",
    "IdentityHeaderError",
    "Passport",
    "PassportError",
    "Policy",
    "RcdDigest",
    "RichCallData",
    "ShakenError",
    "Signer",
    "StaticSource",
    "StiCertificate",
    "TrustStore",
    "Verdict",
    "VerdictError",
    "Verifier",
    "__version__",
    "canonicalize_tn",
    "decode_passport",
    "format_identity",
    "parse_chain",
    "parse_identity",
    "parse_identity_headers",
]
