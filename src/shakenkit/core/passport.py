"""PASSporT decoding, checks and signing (RFC 8225, RFC 8588; standards digest §2-§3).

Decoding is strict: base64url without padding, UTF-8 JSON objects without duplicate keys, size
limits. The signature is checked over the RECEIVED ``header.payload`` bytes, never over
re-serialized JSON (standards digest §2.4, §5.3).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
)

from ..errors import PassportError
from ..repository.cache import ByteMemo

__all__ = [
    "ATTEST_VALUES",
    "DEFAULT_MAX_PASSPORT_BYTES",
    "Passport",
    "PassportClaims",
    "PassportHeader",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "configure_header_memo",
    "decode_passport",
    "header_memo_stats",
    "sign_passport",
    "verify_signature",
]

ATTEST_VALUES = frozenset({"A", "B", "C"})
DEFAULT_MAX_PASSPORT_BYTES = 8_192
_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = [0] * 256
for _i, _c in enumerate(_B64URL):
    _B64URL_VALUE[_c] = _i
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# JOSE parameters that could name a key other than x5u: never used (the key comes from x5u only).
IGNORED_KEY_PARAMS = ("jku", "jwk", "x5c", "kid", "x5t", "x5t#S256")


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(s: str, *, what: str = "segment") -> bytes:
    """Strict base64url decoding (RFC 7515 §2): no padding, no ``+``/``/``, no whitespace, no
    non-zero unused bits in the last character (canonical encoding, RFC 4648 §3.5)."""
    raw = s.encode("ascii", "replace") if isinstance(s, str) else b"?"
    # translate(None, alphabet) deletes every valid character: anything left is invalid.
    if raw.translate(None, _B64URL) or len(raw) % 4 == 1:
        raise PassportError(f"PASSporT {what} is not valid base64url", check="passport_decode")
    rem = len(raw) % 4
    if rem and _B64URL_VALUE[raw[-1]] & (0x0F if rem == 2 else 0x03):
        # Non-zero unused bits in the last character (RFC 4648 §3.5): one value, several
        # spellings, so an altered token would still verify. Only the canonical one is accepted.
        raise PassportError(f"PASSporT {what} is not canonical base64url", check="passport_decode")
    try:
        # Alphabet already checked: a2b_base64 over the translated text is exact and fast.
        return binascii.a2b_base64(raw.translate(_URL_TO_STD) + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as e:
        raise PassportError(
            f"PASSporT {what} is not valid base64url", check="passport_decode"
        ) from e


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise ValueError("duplicate JSON member name")
    return d


_DECODER = json.JSONDecoder(object_pairs_hook=_no_dupes)  # built once, not per json.loads call
# The decoder's C scanner, called directly for the usual "{...}" text; only when it consumes
# the whole text is its value the document (else the full decoder decides and reports).
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        obj, end = _SCAN(text, 0) if text[:1] == "{" else (None, -1)
        if end != len(text):  # leading/trailing whitespace or extra data: the full decoder
            obj = _DECODER.decode(text)
    except StopIteration as e:  # the C scanner's "no JSON value here"
        raise PassportError(f"PASSporT {what} is not valid JSON", check="passport_decode") from e
    except UnicodeDecodeError as e:
        raise PassportError(f"PASSporT {what} is not UTF-8", check="passport_decode") from e
    except RecursionError as e:
        raise PassportError(
            f"PASSporT {what} JSON is nested too deeply", check="passport_decode"
        ) from e
    except ValueError as e:  # JSONDecodeError, duplicate keys, int too large
        raise PassportError(
            f"PASSporT {what} is not valid JSON: {str(e)[:80]}", check="passport_decode"
        ) from e
    if not isinstance(obj, dict):
        raise PassportError(f"PASSporT {what} is not a JSON object", check="passport_decode")
    if "\\u" in text:
        # \ud800-style escapes can yield lone surrogates: valid JSON syntax, but not text
        # (RFC 8259 §8.2) and not serializable into a verdict. Checked only when escapes occur.
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise PassportError(
                f"PASSporT {what} holds an unpaired surrogate escape", check="passport_decode"
            ) from e
    return obj


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    """Deterministic JSON of RFC 8225 §9: sorted keys, no whitespace."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode(
        "utf-8"
    )


@dataclass(frozen=True, slots=True)
class PassportHeader:
    """The JOSE protected header (RFC 8225 §4): ``alg``, ``typ``, ``ppt``, ``x5u``; ``extra``
    keeps every other member as received."""

    alg: Any
    typ: Any
    ppt: Any
    x5u: Any
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PassportClaims:
    """PASSporT claims (RFC 8225 §5, RFC 8588 §4-5). ``dest_tns`` is always a tuple;
    ``dest_tn_was_string`` records a bare-string ``dest.tn`` (standards digest §10 item 1).
    ``extra`` keeps unknown claims as received."""

    attest: Any
    origid: Any
    iat: Any
    orig_tn: str | None
    orig_uri: str | None
    dest_tns: tuple[str, ...]
    dest_uris: tuple[str, ...]
    dest_tn_was_string: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Passport:
    """A decoded PASSporT. ``signing_input`` is the exact received ``header.payload`` bytes."""

    header: PassportHeader
    claims: PassportClaims
    signing_input: bytes
    signature: bytes
    raw_header: Mapping[str, Any]
    raw_claims: Mapping[str, Any]


def _identity_tn(
    obj: Any, what: str, *, array: bool
) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """Read ``{"tn": ..., "uri": ...}``; returns (tns, uris, tn_was_string)."""
    if not isinstance(obj, dict):
        raise PassportError(
            f"'{what}' claim is missing or not an object (RFC 8225 §5.2.1)", check="passport_claims"
        )
    tns: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    was_string = False
    tn = obj.get("tn")
    uri = obj.get("uri")
    if tn is not None:
        if isinstance(tn, str):
            tns, was_string = (tn,), array
        elif isinstance(tn, list) and tn and all(isinstance(t, str) for t in tn):
            if not array and len(tn) != 1:
                raise PassportError(
                    f"'{what}.tn' must be one telephone number", check="passport_claims"
                )
            tns = tuple(tn)
        else:
            raise PassportError(
                f"'{what}.tn' is not a string or a non-empty array of strings",
                check="passport_claims",
            )
    if uri is not None:
        if isinstance(uri, str):
            uris = (uri,)
        elif isinstance(uri, list) and uri and all(isinstance(u, str) for u in uri):
            uris = tuple(uri)
        else:
            raise PassportError(
                f"'{what}.uri' is not a string or array of strings", check="passport_claims"
            )
    if not tns and not uris:
        raise PassportError(f"'{what}' claim holds no 'tn' or 'uri'", check="passport_claims")
    return tns, uris, was_string


_KNOWN_HEADER = frozenset({"alg", "typ", "ppt", "x5u"})
_KNOWN_CLAIMS = frozenset({"attest", "origid", "iat", "orig", "dest"})


#: Bytes the memo of verified protected headers may hold (~1 KiB each: about a thousand
#: signers' headers; see :func:`configure_header_memo`).
HEADER_MEMO_BYTES = 1 << 20

#: A protected header longer than this (base64url characters) is never memoized; real ones
#: are 150-300 characters.
HEADER_MEMO_MAX_HEADER = 1_024

# One signer sends the same protected header on every call: decode each distinct one once. Only
# headers of PASSporTs whose signature verified are kept (verify_signature adds them), so what
# an attacker sends without a valid signature is never held; bounded in bytes, oldest out
# first. The cached dicts are never mutated.
_HEADER_MEMO: ByteMemo[tuple[dict[str, Any], PassportHeader]] = ByteMemo(HEADER_MEMO_BYTES)


def _header_memo_cost(segment: str) -> int:
    """Bytes a memo entry holds: the key, the decoded dict and PassportHeader (~3x the
    segment), plus the objects' fixed overhead."""
    return 3 * len(segment) + 768


def header_memo_stats() -> dict[str, int]:
    """What the process-wide memo of verified PASSporT headers holds: ``entries``, ``bytes``
    (as charged) and ``max_bytes``."""
    return _HEADER_MEMO.stats()


def configure_header_memo(max_bytes: int) -> None:
    """Set the byte budget of the memo of verified PASSporT headers (0 disables it); the memo
    is emptied."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"max_bytes must be an integer >= 0, not {max_bytes!r}")
    _HEADER_MEMO.clear()
    _HEADER_MEMO.max_bytes = max_bytes


def _remember_header(passport: Passport) -> None:
    """Memoize the protected header of a PASSporT whose signature just verified, if it is one
    the verifier accepts (ES256, typ passport, no crit) and of ordinary size."""
    si = passport.signing_input
    segment = si[: si.find(b".")].decode("ascii")
    if len(segment) > HEADER_MEMO_MAX_HEADER or _HEADER_MEMO.get(segment) is not None:
        return
    header, raw = passport.header, passport.raw_header
    if (
        header.alg != "ES256"
        or header.typ != "passport"
        or "crit" in header.extra
        or not isinstance(raw, dict)
    ):
        return
    _HEADER_MEMO.put(segment, (raw, header), _header_memo_cost(segment))


def decode_passport(token: str, *, max_bytes: int = DEFAULT_MAX_PASSPORT_BYTES) -> Passport:
    """Decode a full-form PASSporT ``header.payload.signature``.

    Checks structure only: base64url, UTF-8 JSON objects without duplicate members, the shape
    of ``orig``/``dest``. Value rules (``alg``, ``typ``, ``attest``, ``iat`` ...) are checked by
    the verifier, each as its own named check. Raises :class:`PassportError` (438).
    """
    if isinstance(token, bytes | bytearray):
        token = bytes(token).decode("ascii", "replace")
    if not isinstance(token, str):
        raise PassportError("PASSporT is not text", check="passport_decode")
    if len(token) > max_bytes:
        raise PassportError(
            f"PASSporT is {len(token)} characters, over the {max_bytes} limit",
            check="passport_decode",
        )
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2]:
        raise PassportError(
            "PASSporT is not a full-form JWS (header.payload.signature)", check="passport_decode"
        )
    cached = _HEADER_MEMO.get(parts[0])
    if cached is None:
        h_raw = _json_object(b64url_decode(parts[0], what="header"), "header")
        cached = (h_raw, _header(h_raw))
    c_raw = _json_object(b64url_decode(parts[1], what="payload"), "payload")
    sig = b64url_decode(parts[2], what="signature")
    si = (parts[0] + "." + parts[1]).encode("ascii")
    return _build(cached[0], c_raw, si, sig, cached[1])


def _header(h_raw: dict[str, Any]) -> PassportHeader:
    return PassportHeader(
        alg=h_raw.get("alg"),
        typ=h_raw.get("typ"),
        ppt=h_raw.get("ppt"),
        x5u=h_raw.get("x5u"),
        extra=_extra(h_raw, _KNOWN_HEADER),
    )


def _extra(raw: dict[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    if raw.keys() <= known:  # the usual case: nothing unknown, no new dict
        return _EMPTY
    return {k: v for k, v in raw.items() if k not in known}


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _build(
    h_raw: dict[str, Any],
    c_raw: dict[str, Any],
    signing_input: bytes,
    sig: bytes,
    header: PassportHeader | None = None,
) -> Passport:
    if header is None:
        header = _header(h_raw)
    orig_tns, orig_uris, _ = _identity_tn(c_raw.get("orig"), "orig", array=False)
    if len(orig_uris) > 1:
        raise PassportError("'orig.uri' must be one URI", check="passport_claims")
    dest_tns, dest_uris, was_string = _identity_tn(c_raw.get("dest"), "dest", array=True)
    # Both objects are made on every call: their slots are set directly (the frozen
    # dataclasses' __init__ sets each field through object.__setattr__, ~1 us together).
    claims = _new(PassportClaims)
    _c_attest(claims, c_raw.get("attest"))
    _c_origid(claims, c_raw.get("origid"))
    _c_iat(claims, c_raw.get("iat"))
    _c_orig_tn(claims, orig_tns[0] if orig_tns else None)
    _c_orig_uri(claims, orig_uris[0] if orig_uris else None)
    _c_dest_tns(claims, dest_tns)
    _c_dest_uris(claims, dest_uris)
    _c_was_string(claims, was_string)
    _c_extra(claims, _extra(c_raw, _KNOWN_CLAIMS))
    passport = _new(Passport)
    _p_header(passport, header)
    _p_claims(passport, claims)
    _p_signing_input(passport, signing_input)
    _p_signature(passport, sig)
    _p_raw_header(passport, h_raw)
    _p_raw_claims(passport, c_raw)
    return passport


_new = object.__new__
(
    _c_attest, _c_origid, _c_iat, _c_orig_tn, _c_orig_uri, _c_dest_tns, _c_dest_uris,
    _c_was_string, _c_extra,
) = (
    PassportClaims.__dict__[f].__set__
    for f in (
        "attest", "origid", "iat", "orig_tn", "orig_uri", "dest_tns", "dest_uris",
        "dest_tn_was_string", "extra",
    )
)
(_p_header, _p_claims, _p_signing_input, _p_signature, _p_raw_header, _p_raw_claims) = (
    Passport.__dict__[f].__set__
    for f in ("header", "claims", "signing_input", "signature", "raw_header", "raw_claims")
)


def rebuild_compact(
    signature_b64: str,
    *,
    alg: str | None,
    ppt: str | None,
    info: str,
    orig_tn: str,
    dest_tn: str,
    iat: int,
) -> Passport:
    """Rebuild a compact-form PASSporT from the call's data (RFC 8225 §7, RFC 8224 §4.1;
    standards digest §2.6): canonical header and claims, the received signature."""
    h: dict[str, Any] = {"alg": alg or "ES256", "typ": "passport", "x5u": info}
    if ppt is not None:
        h["ppt"] = ppt
    c: dict[str, Any] = {"dest": {"tn": [dest_tn]}, "iat": iat, "orig": {"tn": orig_tn}}
    si = (b64url_encode(canonical_json(h)) + "." + b64url_encode(canonical_json(c))).encode("ascii")
    return _build(h, c, si, b64url_decode(signature_b64, what="signature"))


def _der_int(b: bytes) -> bytes:
    b = b.lstrip(b"\x00") or b"\x00"
    if b[0] & 0x80:  # DER INTEGER is signed: keep it positive
        b = b"\x00" + b
    return b"\x02" + bytes((len(b),)) + b


def _raw_to_der(sig: bytes) -> bytes:
    """JWS R||S (RFC 7518 §3.4) to the DER ECDSA-Sig-Value `cryptography` verifies; byte
    work here is cheaper than two big-int conversions plus encode_dss_signature."""
    body = _der_int(sig[:32]) + _der_int(sig[32:])
    return b"\x30" + bytes((len(body),)) + body


def verify_signature(passport: Passport, public_key: ec.EllipticCurvePublicKey) -> bool:
    """ES256 (RFC 7518 §3.4): a 64-byte R||S signature over the received signing input."""
    sig = passport.signature
    if len(sig) != 64:
        return False
    der = _raw_to_der(sig)
    try:
        public_key.verify(der, passport.signing_input, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    _remember_header(passport)
    return True


def sign_passport(
    header: Mapping[str, Any], claims: Mapping[str, Any], private_key: ec.EllipticCurvePrivateKey
) -> str:
    """Sign a PASSporT (authentication side, RFC 8225 §6): canonical JSON (§9), ES256, R||S.
    Returns ``header.payload.signature``."""
    si = b64url_encode(canonical_json(header)) + "." + b64url_encode(canonical_json(claims))
    der = private_key.sign(si.encode("ascii"), _ECDSA_SHA256)
    r, s = decode_dss_signature(der)
    return si + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
