"""Certificate revocation lists (standards digest §6.1, §6.3 item 5): reading PEM/DER CRLs.
What a CRL establishes about a validated path is :mod:`shakenkit.certs.revocation`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509

from ..errors import CertificateError

__all__ = [
    "load_crls",
    "read_crls",
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


def read_crls(
    sources: Iterable[bytes | str | os.PathLike[str]],
) -> list[x509.CertificateRevocationList]:
    """The CRLs in ``sources``: PEM/DER bytes, or files holding them. Raises
    :class:`CertificateError` when one cannot be read or parsed."""
    out: list[x509.CertificateRevocationList] = []
    for src in sources:
        if isinstance(src, bytes | bytearray):
            out.extend(load_crls(bytes(src)))
            continue
        try:
            data = Path(src).read_bytes()
        except OSError as e:
            raise CertificateError(
                f"cannot read CRL file {os.fspath(src)!r}: {e.strerror or e}", check="crl"
            ) from e
        out.extend(load_crls(data))
    return out
