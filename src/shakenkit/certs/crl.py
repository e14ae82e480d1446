"""Certificate revocation lists (standards digest §6.1, §6.3 item 5): reading PEM/DER CRLs and
checking a validated path against them (:func:`check_revocation`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cryptography import x509

from ..errors import CertificateError
from .certificate import (
    StiCertificate,
    _ts,
)
from .trust import (
    Anchors,
)

__all__ = [
    "check_revocation",
    "load_crls",
]

_CRL_PEM_RE = re.compile(rb"-----BEGIN X509 CRL-----(.*?)-----END X509 CRL-----", re.DOTALL)


def load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """Parse one or more CRLs (PEM blocks or one DER CRL)."""
    try:
        if b"-----BEGIN" in data:
            return [
                x509.load_pem_x509_crl(b"-----BEGIN X509 CRL-----" + b + b"-----END X509 CRL-----")
                for b in _CRL_PEM_RE.findall(data)
            ]
        return [x509.load_der_x509_crl(data)]
    except ValueError as e:
        raise CertificateError(f"CRL cannot be parsed: {str(e)[:120]}", check="crl") from e


def _crl_issuer_names(c: StiCertificate) -> set[str]:
    return {c.issuer, *c.crl_issuers}


def check_revocation(
    path: Sequence[StiCertificate],
    crls: Sequence[x509.CertificateRevocationList],
    anchors: Anchors,
    now: float,
) -> tuple[bool, str]:
    """Check every non-anchor certificate on ``path`` against ``crls`` (matching issuer, or the
    cRLIssuer of the STI-PA's indirect CRL). A CRL whose issuer key is known (on the path or an
    anchor) must carry a valid signature, else it is ignored. Returns (not_revoked, detail).
    """
    keys = {c.subject: c.key for c in (*path, *anchors.certs)}
    checked = 0
    notes: list[str] = []
    for c in path[:-1] if len(path) > 1 else path:
        names = _crl_issuer_names(c)
        for crl in crls:
            iname = crl.issuer.rfc4514_string()
            if iname not in names:
                continue
            k = keys.get(iname)
            if k is not None:
                try:
                    if not crl.is_signature_valid(k):
                        notes.append(f"CRL from {iname} has a bad signature; ignored")
                        continue
                except (TypeError, ValueError):
                    notes.append(f"CRL from {iname} cannot be checked; ignored")
                    continue
            if crl.next_update_utc is not None and _ts(crl.next_update_utc) < now:
                notes.append(f"CRL from {iname} is past nextUpdate")
            checked += 1
            if crl.get_revoked_certificate_by_serial_number(c.cert.serial_number) is not None:
                return (
                    False,
                    f"certificate {c.subject} (serial {c.cert.serial_number:x}) is revoked",
                )
    extra = f" ({'; '.join(notes)})" if notes else ""
    return True, (
        f"not revoked ({checked} CRL checks){extra}" if checked else f"no matching CRL{extra}"
    )
