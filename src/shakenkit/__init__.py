"""shakenkit: STIR/SHAKEN verification (STI-VS) for carriers and traceback teams.

Is this call's caller ID signed by the carrier that originated it, or likely spoofed?

>>> from shakenkit import Verifier
>>> v = Verifier(trust_anchors=[root_pem], certificates={x5u: chain_pem})   # doctest: +SKIP
>>> v.verify(identity_header, orig="+12155551212", dest="+12155551213").caller_id  # doctest: +SKIP
'verified'
"""

from .certs.certificate import CertChain, StiCertificate, parse_chain
from .certs.trust import TrustStore
from .core.identity import IdentityHeader, format_identity, parse_identity, parse_identity_headers
from .core.passport import Passport, decode_passport
from .core.tn import canonicalize_tn
from .core.verdict import Check, Signer, Verdict, VerdictError
from .core.verifier import Policy, Verifier
from .errors import (
    CertificateError,
    CertificateFetchError,
    IdentityHeaderError,
    PassportError,
    ShakenError,
)
from .repository.fetch import FetchError, FetchPolicy
from .repository.https import HttpsSource
from .repository.sources import CertificateSource, StaticSource

__version__ = "0.1.0"

__all__ = [
    "CertChain",
    "CertificateError",
    "CertificateFetchError",
    "CertificateSource",
    "Check",
    "FetchError",
    "FetchPolicy",
    "HttpsSource",
    "IdentityHeader",
    "IdentityHeaderError",
    "Passport",
    "PassportError",
    "Policy",
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
