"""The verification core: bytes of a SIP request or Identity header in, a :class:`Verdict` out.

Owns telephone numbers (``tn``), the SIP request parts a verifier reads (``sip_message``), the
Identity header (``identity``), PASSporTs (``passport``), diverted calls (``div``, RFC 8946),
Rich Call Data (``rcd``, RFC 9795), the verdict and its codes
(``verdict``), local policy (``policy``), replay detection (``replay``) and the
:class:`Verifier` façade that runs the ordered checks (``verifier``). Parsing and checks are
pure functions over bytes and a clock; certificates are *asked for* through a
:class:`~shakenkit.repository.CertificateSource`.

May import: :mod:`shakenkit.errors`, :mod:`shakenkit.certs`, :mod:`shakenkit.repository`.
Never imports :mod:`shakenkit.sip`, :mod:`shakenkit.traceback`, :mod:`shakenkit.cli`
(docs/architecture.md).
"""

from .identity import IdentityHeader, format_identity, parse_identity, parse_identity_headers
from .passport import Passport, decode_passport
from .tn import canonicalize_tn
from .verdict import (
    Check,
    DivLink,
    HeaderResult,
    RcdDigest,
    RichCallData,
    Signer,
    Verdict,
    VerdictError,
)
from .verifier import Policy, Verifier

__all__ = [
    "Check",
    "DivLink",
    "HeaderResult",
    "IdentityHeader",
    "Passport",
    "Policy",
    "RcdDigest",
    "RichCallData",
    "Signer",
    "Verdict",
    "VerdictError",
    "Verifier",
    "canonicalize_tn",
    "decode_passport",
    "format_identity",
    "parse_identity",
    "parse_identity_headers",
]
