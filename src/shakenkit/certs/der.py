"""A minimal, bounds-checked DER reader for the two things `cryptography` does not do for us:

* the TNAuthList extension of RFC 8226 §9 (an unrecognized extension to `cryptography`; read in
  :mod:`shakenkit.certs.tnauthlist`), and
* the narrowly scoped repair of certificates whose ECDSA signature AlgorithmIdentifier carries a
  NULL parameter (forbidden by RFC 5758 §3.2, refused by `cryptography` >= 50, and present in
  T-Mobile's production STI-CA certificates; see ``../shared/corpus/README.md``).

Every function raises :class:`DERError` (a ValueError) on malformed input; none recurses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "TLV",
    "DERError",
    "encode_tlv",
    "read_children",
    "read_tlv",
]

# ecdsa-with-SHA256/384/512 (RFC 5758 §3.2): parameters MUST be absent.
ECDSA_SIG_OIDS_DER: dict[bytes, str] = {
    bytes.fromhex("06082a8648ce3d040302"): "1.2.840.10045.4.3.2",
    bytes.fromhex("06082a8648ce3d040303"): "1.2.840.10045.4.3.3",
    bytes.fromhex("06082a8648ce3d040304"): "1.2.840.10045.4.3.4",
}
_NULL = b"\x05\x00"


class DERError(ValueError):
    """Malformed DER."""


@dataclass(frozen=True, slots=True)
class TLV:
    """One DER element: ``tag`` byte, ``value`` bytes, and ``raw`` (the whole encoding)."""

    tag: int
    value: bytes
    raw: bytes


def read_tlv(data: bytes, pos: int = 0) -> tuple[TLV, int]:
    """Read one TLV at ``pos``; return it and the position after it."""
    n = len(data)
    if pos + 2 > n:
        raise DERError("truncated DER element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-byte DER tags are not supported")
    first = data[pos + 1]
    hdr = 2
    if first < 0x80:
        length = first
    else:
        nbytes = first & 0x7F
        if nbytes == 0 or nbytes > 4:
            raise DERError("unsupported DER length encoding")
        if pos + 2 + nbytes > n:
            raise DERError("truncated DER length")
        length = int.from_bytes(data[pos + 2 : pos + 2 + nbytes], "big")
        if length < 0x80 or (nbytes > 1 and data[pos + 2] == 0):
            raise DERError("non-minimal DER length")
        hdr += nbytes
    end = pos + hdr + length
    if end > n:
        raise DERError("DER element runs past the end of its container")
    return TLV(tag, data[pos + hdr : end], data[pos:end]), end


def read_children(value: bytes, *, limit: int = 10_000) -> list[TLV]:
    """Read the TLVs that make up a constructed value."""
    out: list[TLV] = []
    pos = 0
    while pos < len(value):
        if len(out) >= limit:
            raise DERError("too many DER elements")
        tlv, pos = read_tlv(value, pos)
        out.append(tlv)
    return out


def encode_length(n: int) -> bytes:
    """DER length octets for ``n``."""
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def encode_tlv(tag: int, value: bytes) -> bytes:
    """DER-encode one element."""
    return bytes([tag]) + encode_length(len(value)) + value


@dataclass(frozen=True, slots=True)
class RepairedCertificate:
    """Result of :func:`repair_null_sigalg`.

    ``der`` is an encoding `cryptography` accepts (the NULL removed). When the NULL sat inside
    the TBS (``tbs_changed``; T-Mobile's CAs carry it there and in the outer field), its
    signature no longer matches, so signature checks use ``tbs`` (the ORIGINAL signed bytes),
    ``sig_oid`` and ``signature`` (the raw BIT STRING contents); see
    :mod:`shakenkit.certs.repair`.
    """

    der: bytes
    tbs: bytes
    sig_oid: str
    signature: bytes
    tbs_changed: bool = False


def split_certificate(der: bytes) -> tuple[TLV, TLV, TLV]:
    """Split a Certificate into (tbsCertificate, signatureAlgorithm, signatureValue)."""
    cert, end = read_tlv(der)
    if cert.tag != 0x30 or end != len(der):
        raise DERError("not a single DER Certificate SEQUENCE")
    parts = read_children(cert.value, limit=4)
    if len(parts) != 3 or parts[0].tag != 0x30 or parts[1].tag != 0x30 or parts[2].tag != 0x03:
        raise DERError("Certificate is not SEQUENCE { tbs, algorithm, BIT STRING }")
    return parts[0], parts[1], parts[2]


def _strip_null(alg: TLV) -> tuple[bytes, str] | None:
    """If ``alg`` is an ECDSA AlgorithmIdentifier with a NULL parameter, return the fixed
    encoding and the OID; None when it has no such defect."""
    if alg.value.endswith(_NULL):
        oid_der = alg.value[: -len(_NULL)]
        oid = ECDSA_SIG_OIDS_DER.get(oid_der)
        if oid is not None:
            return encode_tlv(0x30, oid_der), oid
    return None


def repair_null_sigalg(der: bytes) -> RepairedCertificate | None:
    """Return a repaired certificate when, and only when, its sole defect is a NULL parameter in
    an ECDSA signature AlgorithmIdentifier (outer and/or inside the TBS). Otherwise None.
    """
    tbs, outer_alg, sig = split_certificate(der)
    outer_fix = _strip_null(outer_alg)
    fields = read_children(tbs.value, limit=16)
    idx = 1 if fields and fields[0].tag == 0xA0 else 0  # [0] version is optional
    if len(fields) < idx + 2:
        raise DERError("tbsCertificate too short")
    inner_alg = fields[idx + 1]
    if inner_alg.tag != 0x30:
        raise DERError("tbsCertificate.signature is not a SEQUENCE")
    inner_fix = _strip_null(inner_alg)
    if outer_fix is None and inner_fix is None:
        return None
    new_fields = [f.raw for f in fields]
    if inner_fix is not None:
        new_fields[idx + 1] = inner_fix[0]
    new_tbs = encode_tlv(0x30, b"".join(new_fields))
    new_outer = outer_fix[0] if outer_fix is not None else outer_alg.raw
    sig_oid = (outer_fix or inner_fix or (b"", ""))[1]
    if not sig.value or sig.value[0] != 0:
        raise DERError("signatureValue BIT STRING has unused bits")
    return RepairedCertificate(
        der=encode_tlv(0x30, new_tbs + new_outer + sig.raw),
        tbs=tbs.raw,
        sig_oid=sig_oid,
        signature=sig.value[1:],
        tbs_changed=inner_fix is not None,
    )


#: The AlgorithmIdentifier of ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2).
ECDSA_SHA256_ALG = encode_tlv(0x30, bytes.fromhex("06082a8648ce3d040302"))


def resign_certificate(
    der: bytes, *, spki: bytes | None, signature: Callable[[bytes], bytes]
) -> bytes:
    """``der`` with both signature AlgorithmIdentifiers set to ecdsa-with-SHA256 (no NULL), the
    subjectPublicKeyInfo replaced by ``spki`` (DER) when given, and a new signature
    ``signature(tbs)`` (DER ECDSA-Sig-Value) over the new TBS. Every other byte of the TBS
    (names, validity, extensions) is kept as issued."""
    tbs, _alg, _sig = split_certificate(der)
    fields = read_children(tbs.value, limit=16)
    idx = 1 if fields and fields[0].tag == 0xA0 else 0  # [0] version is optional
    if len(fields) < idx + 6 or fields[idx + 1].tag != 0x30 or fields[idx + 5].tag != 0x30:
        raise DERError("tbsCertificate lacks signature or subjectPublicKeyInfo")
    raw = [f.raw for f in fields]
    raw[idx + 1] = ECDSA_SHA256_ALG
    if spki is not None:
        raw[idx + 5] = spki
    new_tbs = encode_tlv(0x30, b"".join(raw))
    return encode_tlv(
        0x30, new_tbs + ECDSA_SHA256_ALG + encode_tlv(0x03, b"\x00" + signature(new_tbs))
    )
