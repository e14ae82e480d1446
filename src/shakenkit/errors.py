"""Typed errors. Every failure carries the SIP response code a carrier can act on.

The codes and reason phrases are those of RFC 8224 §6.2.2/§13 as profiled by ATIS-1000074
§5.3.2 (standards digest §1.5).
"""

from __future__ import annotations

REASON_PHRASES: dict[int, str] = {
    403: "Stale Date",
    428: "Use Identity Header",
    436: "Bad Identity Info",
    437: "Unsupported Credential",
    438: "Invalid Identity Header",
}


class ShakenError(Exception):
    """Base class of every error shakenkit raises on purpose.

    ``sip_code`` is the RFC 8224 response code (403, 428, 436, 437 or 438), ``check`` the name of
    the verification step that failed, and ``detail`` one human sentence.
    """

    sip_code: int = 438
    check: str = "identity"

    def __init__(self, detail: str, *, check: str | None = None, sip_code: int | None = None):
        super().__init__(detail)
        self.detail = detail
        if check is not None:
            self.check = check
        if sip_code is not None:
            self.sip_code = sip_code

    @property
    def reason(self) -> str:
        """The reason phrase for :attr:`sip_code`."""
        return REASON_PHRASES.get(self.sip_code, "")


class IdentityHeaderError(ShakenError):
    """The SIP Identity header is malformed (RFC 8224 §4): 438, or 436 for a bad ``info``."""

    check = "identity_header"


class PassportError(ShakenError):
    """The PASSporT cannot be decoded or breaks RFC 8225/8588 (438)."""

    check = "passport"


class CertificateError(ShakenError):
    """The signer's certificate is unusable or untrusted (437, RFC 8224 §6.2 step 3)."""

    sip_code = 437
    check = "certificate"


class CertificateFetchError(ShakenError):
    """The certificate named by ``x5u``/``info`` could not be obtained (436)."""

    sip_code = 436
    check = "x5u_fetch"

    def __init__(self, detail: str, *, kind: str = "unavailable", check: str | None = None):
        super().__init__(detail, check=check)
        self.kind = kind


class CaListError(ShakenError):
    """The STI-PA's CA list (the signed list of approved STI-CA roots) was refused, or could not
    be obtained. Not a call verdict: ``sip_code`` keeps the base default and means nothing here.

    ``kind`` says which check refused it, one of ``'malformed'`` (not a JWS, bad JSON, a missing
    or mistyped field), ``'alg'`` (not ES256), ``'x5u'`` (the signer's certificate could not be
    had), ``'signer'`` (it is not under the STI-PA root), ``'signature'``, ``'expired'``,
    ``'rollback'`` (a sequence lower than the one installed), ``'empty'``, ``'entry'`` (an entry
    that is a certificate but not a CA certificate), ``'login'`` and ``'api'`` (the STI-PA API),
    ``'directory'`` (the trust directory). ``detail`` is one line without secrets.
    """

    check = "ca_list"

    def __init__(self, detail: str, *, kind: str = "malformed") -> None:
        super().__init__(detail)
        self.kind = kind
