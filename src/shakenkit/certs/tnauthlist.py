"""The TNAuthList extension (RFC 8226 §9): which numbers or SPC a certificate may sign for.

An unrecognized extension to ``cryptography``, read here with the bounds-checked DER reader of
:mod:`shakenkit.certs.der`; malformed input raises :class:`~shakenkit.certs.der.DERError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .der import TLV, DERError, encode_tlv, read_children, read_tlv

__all__ = ["TNAuthEntry", "encode_tnauthlist_spc", "parse_tnauthlist"]


@dataclass(frozen=True, slots=True)
class TNAuthEntry:
    """One TNAuthList entry: ``kind`` is "spc", "range" or "one"; ``value`` the SPC or TN;
    ``count`` the range size (ranges only)."""

    kind: str
    value: str
    count: int | None = None


def _ia5(tlv: TLV) -> str:
    if tlv.tag not in (0x16, 0x13, 0x0C):  # IA5String; PrintableString/UTF8String tolerated
        raise DERError(f"expected IA5String, got tag 0x{tlv.tag:02x}")
    try:
        return tlv.value.decode("ascii")
    except UnicodeDecodeError as e:
        raise DERError("non-ASCII string in TNAuthList") from e


def _only_child(value: bytes) -> TLV:
    children = read_children(value, limit=1)
    if len(children) != 1:
        raise DERError("empty explicitly tagged TNAuthList entry")
    return children[0]


def _missing_length_spc(value: bytes) -> str | None:
    """The one malformation seen live: ``30 08 A0 06 16 "558J"`` (``16 04`` lost its length
    octet). Every outer length is consistent with a 4-character SPC; only that exact shape, with
    an uppercase-alphanumeric SPC, is read."""
    n = len(value)
    if n < 6 or value[0] != 0x30 or value[2] != 0xA0 or value[4] != 0x16:
        return None
    chars = value[5:]
    if value[1] != n - 1 or value[3] != n - 3 or not 1 <= len(chars) <= 15:
        return None
    text = chars.decode("ascii", "replace")
    return text if text.isascii() and text.isalnum() and text.upper() == text else None


def parse_tnauthlist(value: bytes) -> tuple[list[TNAuthEntry], list[str]]:
    """Parse the TNAuthList extension value (RFC 8226 §9, EXPLICIT tags).

    Returns the entries and the quirks tolerated on the way (implicitly tagged SPC, a bare
    PrintableString SPC as seen in 6 live certificates, see the corpus README; an SPC whose
    IA5String length octet is missing, as in 6 live 1RouteGroup-issued certificates).
    """
    spc = _missing_length_spc(value)
    if spc is not None:
        return [TNAuthEntry("spc", spc)], ["SPC IA5String lacks its length octet (malformed DER)"]
    top, end = read_tlv(value)
    if end != len(value):
        raise DERError("trailing bytes after TNAuthList")
    quirks: list[str] = []
    if top.tag == 0x13 or top.tag == 0x16:
        # A bare string where a SEQUENCE OF TNEntry should be (live interop quirk).
        quirks.append("TNAuthList is a bare string, not SEQUENCE OF TNEntry")
        return [TNAuthEntry("spc", _ia5(top))], quirks
    if top.tag != 0x30:
        raise DERError("TNAuthList is not a SEQUENCE")
    entries: list[TNAuthEntry] = []
    for e in read_children(top.value, limit=1000):
        if e.tag == 0xA0:  # spc [0] EXPLICIT IA5String
            entries.append(TNAuthEntry("spc", _ia5(_only_child(e.value))))
        elif e.tag == 0x80:  # implicit [0]: non-conformant issuers (standards digest §4.1)
            quirks.append("SPC uses an IMPLICIT [0] tag")
            entries.append(TNAuthEntry("spc", e.value.decode("ascii", "replace")))
        elif e.tag == 0xA1:  # range [1] EXPLICIT SEQUENCE { start, count }
            seq = _only_child(e.value)
            if seq.tag != 0x30:
                raise DERError("TN range is not a SEQUENCE")
            items = read_children(seq.value, limit=8)
            if len(items) < 2 or items[1].tag != 0x02:
                raise DERError("TN range lacks start and count")
            count = int.from_bytes(items[1].value, "big", signed=True)
            entries.append(TNAuthEntry("range", _ia5(items[0]), count))
        elif e.tag == 0xA2:  # one [2] EXPLICIT TelephoneNumber
            entries.append(TNAuthEntry("one", _ia5(_only_child(e.value))))
        elif e.tag in (0x16, 0x13):
            quirks.append("SPC is an untagged string")
            entries.append(TNAuthEntry("spc", _ia5(e)))
        else:
            raise DERError(f"unknown TNAuthList entry tag 0x{e.tag:02x}")
    if not entries:
        raise DERError("TNAuthList is empty")
    return entries, quirks


def encode_tnauthlist_spc(spc: str) -> bytes:
    """DER of a TNAuthList holding one SPC entry (RFC 8226 §9, as ATIS-1000080 requires)."""
    return encode_tlv(0x30, encode_tlv(0xA0, encode_tlv(0x16, spc.encode("ascii"))))
