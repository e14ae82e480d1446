"""The authentication service (STI-AS): sign SHAKEN, ``div`` and ``rcd`` PASSporTs and format
the Identity header value (RFC 8224 §4, RFC 8225, RFC 8588, RFC 8946, RFC 9795; ATIS-1000074
§5.2; standards digest §1-§3 and §7).

What an originating network runs for each call it authenticates::

    from shakenkit.signing import load_signing_key, sign_shaken

    key = load_signing_key(Path("/etc/sti/sp-key.pem").read_bytes())
    identity = sign_shaken(key, x5u="https://cr.example.com/sp/123A.pem",
                           orig="+1 215 555 1212", dest="+1 215 555 1213", attest="A")
    # the INVITE carries "Identity: " + identity

The key is a ``cryptography`` ECDSA P-256 private key (ES256 is the only algorithm SHAKEN
allows, RFC 8225 §4.2, ATIS-1000074); a key held in an HSM works through any provider that
implements :class:`~cryptography.hazmat.primitives.asymmetric.ec.EllipticCurvePrivateKey`.

Every input is checked before anything is signed, so a signer cannot emit a PASSporT that a
verifier must reject: the numbers must canonicalize to telephone numbers (RFC 8224 §8.3),
``attest`` is A, B or C (RFC 8588 §4), ``origid`` a UUID (ATIS-1000074), ``x5u`` an
``https`` URL without userinfo, query, fragment, spaces or angle brackets (standards digest
§6.4; it goes into ``info=<...>``), ``iat`` an integer NumericDate. Extra claims (Rich Call
Data from :func:`rcd_claims`) are JSON and cannot replace a claim the function sets. A bad
input raises :class:`ValueError` naming it (:class:`TypeError` for a key of the wrong type).

The signers return the formatted Identity header value; :func:`format_identity` (the same
function as :func:`shakenkit.format_identity`) formats one from an
:class:`~shakenkit.IdentityHeader` of a token signed elsewhere (an HSM that signs whole JWS).

:mod:`shakenkit.testing` builds on this module to make deliberately broken PASSporTs for
tests; ``shakenkit sign`` and ``shakenkit serve``'s ``/stir/v1/signing`` use it as is.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .core.identity import IdentityHeader, format_identity
from .core.passport import ATTEST_VALUES, sign_passport
from .core.rcd import jcs, rcd_digest
from .core.tn import canonicalize_tn

__all__ = [
    "format_identity",
    "load_signing_key",
    "rcd_claims",
    "sign_div",
    "sign_rcd",
    "sign_shaken",
]

_MAX_NUMERIC_DATE = 10_000_000_000  # past year 2286: a millisecond value is refused
_MAX_DESTS = 64
_SHAKEN_CLAIMS = frozenset({"attest", "dest", "iat", "orig", "origid"})
_DIV_CLAIMS = frozenset({"dest", "div", "iat", "opt", "orig"})
_RCD_PPT_CLAIMS = frozenset({"dest", "iat", "orig"})


def load_signing_key(data: bytes, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """The SP's ES256 signing key from PEM or DER bytes (PKCS#8 or SEC 1; ``password`` for
    an encrypted one). Raises ValueError when ``data`` is no private key, is encrypted and no
    (or a wrong) password is given, or is not an ECDSA P-256 key (RFC 8225 §4.2)."""
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except TypeError as e:  # encrypted without a password, or a password for a plain key
        why = "is encrypted: give its password" if password is None else "is not encrypted"
        raise ValueError(f"signing key {why}") from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise ValueError(
            "signing key is not a private key (PEM or DER), or its password is wrong"
        ) from e
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("signing key is not an ECDSA P-256 key (ES256, RFC 8225 §4.2)")
    return key


def sign_shaken(
    key: ec.EllipticCurvePrivateKey,
    *,
    x5u: str,
    orig: str,
    dest: str | Sequence[str],
    attest: str,
    origid: str | None = None,
    iat: int | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Sign a SHAKEN PASSporT (RFC 8588) and return its Identity header value
    ``<jws>;info=<x5u>;alg=ES256;ppt=shaken`` (RFC 8224 §4).

    ``orig`` is the calling number, ``dest`` the called number(s), in any form
    :func:`~shakenkit.canonicalize_tn` reads (``+1 215-555-1212``, ``tel:``, ``sip:``); the
    PASSporT carries their canonical form. ``attest`` is the attestation level (A, B or C;
    ATIS-1000074 §5.2.3), ``origid`` the origination identifier (a UUID; default: a new
    random one), ``iat`` the signing time (default: now). ``extra_claims`` adds claims, such
    as Rich Call Data (:func:`rcd_claims`, ATIS-1000094)."""
    _check_key(key)
    if not isinstance(attest, str) or attest not in ATTEST_VALUES:
        raise ValueError(f"attest {str(attest)[:8]!r} is not A, B or C (RFC 8588 §4)")
    claims = shaken_claims(
        _tn(orig, "orig"),
        _tns(dest),
        attest,
        _origid(origid),
        _iat(iat),
        _extra(extra_claims, _SHAKEN_CLAIMS),
    )
    return signed_identity(key, x5u=_x5u(x5u), ppt="shaken", claims=claims)


def sign_div(
    key: ec.EllipticCurvePrivateKey,
    *,
    x5u: str,
    orig: str,
    div: str,
    dest: str | Sequence[str],
    iat: int | None = None,
    opt: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Sign a ``div`` PASSporT (RFC 8946 §3) as the carrier that retargets a call and return
    its Identity header value ``<jws>;info=<x5u>;alg=ES256;ppt=div``: ``orig`` as in the
    original PASSporT, ``div`` the number the call is diverted from, ``dest`` the new target.
    With ``opt`` (the original PASSporT, full form, or its Identity header value) it is a
    ``div-o`` PASSporT carrying it (RFC 8946 §5)."""
    _check_key(key)
    token = None
    if opt is not None:
        token = opt.split(";", 1)[0].strip()
        if token.count(".") != 2 or token.startswith(".") or any(c.isspace() for c in token):
            raise ValueError("opt must be a full-form PASSporT or its Identity header value")
    claims = div_claims(
        _tn(orig, "orig"),
        _tn(div, "div"),
        _tns(dest),
        _iat(iat),
        token,
        _extra(extra_claims, _DIV_CLAIMS),
    )
    return signed_identity(key, x5u=_x5u(x5u), ppt="div" if opt is None else "div-o", claims=claims)


def sign_rcd(
    key: ec.EllipticCurvePrivateKey,
    *,
    x5u: str,
    orig: str,
    dest: str | Sequence[str],
    rcd: Mapping[str, Any],
    iat: int | None = None,
) -> str:
    """Sign an ``rcd`` PASSporT (RFC 9795 §5: Rich Call Data beside the SHAKEN PASSporT, for
    a party that did not sign the call) and return its Identity header value
    ``<jws>;info=<x5u>;alg=ES256;ppt=rcd``. ``rcd`` is what :func:`rcd_claims` returns (the
    ``rcd`` claim, and ``rcdi``/``crn`` when given)."""
    _check_key(key)
    extra = _extra(rcd, _RCD_PPT_CLAIMS)
    if not isinstance(extra.get("rcd"), dict) or not isinstance(extra["rcd"].get("nam"), str):
        raise ValueError("rcd must carry an 'rcd' object with a 'nam' string (RFC 9795 §6)")
    claims = {
        "dest": {"tn": sorted(_tns(dest))},
        "iat": _iat(iat),
        "orig": {"tn": _tn(orig, "orig")},
        **extra,
    }
    return signed_identity(key, x5u=_x5u(x5u), ppt="rcd", claims=claims)


def rcd_claims(
    *,
    nam: str,
    apn: str | None = None,
    icn: str | None = None,
    jcl: str | None = None,
    jcd: Sequence[Any] | None = None,
    crn: str | None = None,
    content: Mapping[str, bytes] | None = None,
    integrity: bool = True,
) -> dict[str, Any]:
    """Rich Call Data claims (RFC 9795) for ``extra_claims`` (or :func:`sign_rcd`): ``rcd``
    with the given members, ``crn``, and (with ``integrity``) ``rcdi``: a digest of ``/jcd``
    (its JCS form, RFC 8785) and of the content at ``icn``/``jcl`` given in ``content``
    (URL -> bytes, the bytes the URL serves now)."""
    rcd: dict[str, Any] = {"nam": nam}
    for name, value in (("apn", apn), ("icn", icn), ("jcl", jcl)):
        if value is not None:
            rcd[name] = value
    if jcd is not None:
        rcd["jcd"] = list(jcd)
    out: dict[str, Any] = {"rcd": rcd}
    if crn is not None:
        out["crn"] = crn
    if integrity:
        rcdi: dict[str, str] = {}
        if jcd is not None:
            rcdi["/jcd"] = rcd_digest(jcs(list(jcd)))
        for name in ("icn", "jcl"):
            url = rcd.get(name)
            if url is not None and content is not None and url in content:
                rcdi["/" + name] = rcd_digest(content[url])
        if rcdi:
            out["rcdi"] = rcdi
    return out


# -- the parts shakenkit.testing reuses (no checks: tests build broken PASSporTs with them) -----


def shaken_claims(
    orig: str,
    dests: Sequence[str],
    attest: Any,
    origid: Any,
    iat: Any,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims of a SHAKEN PASSporT (RFC 8588 §6), as given (no checks)."""
    claims: dict[str, Any] = {
        "attest": attest,
        "dest": {"tn": sorted(dests)},
        "iat": iat,
        "orig": {"tn": orig},
        "origid": origid,
    }
    claims.update(extra or {})
    return claims


def div_claims(
    orig: str,
    div: str,
    dests: Sequence[str],
    iat: Any,
    opt: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims of a ``div`` (``opt`` given: ``div-o``) PASSporT (RFC 8946 §3, §5), as given
    (no checks)."""
    claims: dict[str, Any] = {
        "dest": {"tn": sorted(dests)},
        "div": {"tn": div},
        "iat": iat,
        "orig": {"tn": orig},
    }
    if opt is not None:
        claims["opt"] = opt
    claims.update(extra or {})
    return claims


def signed_identity(
    key: ec.EllipticCurvePrivateKey,
    *,
    x5u: str,
    ppt: str | None,
    claims: Mapping[str, Any],
    header: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``claims`` under the JOSE header ``{alg ES256, typ passport, x5u[, ppt]}`` (plus
    ``header``) and format the Identity header value ``<jws>;info=<x5u>;alg=ES256[;ppt=..]``
    (RFC 8224 §4, RFC 8225 §6-§9). No checks of its own."""
    jose: dict[str, Any] = {"alg": "ES256", "typ": "passport", "x5u": x5u}
    if ppt is not None:
        jose["ppt"] = ppt
    jose.update(header or {})
    try:
        token = sign_passport(jose, claims, key)
    except (TypeError, ValueError) as e:  # a claim value JSON cannot carry
        raise ValueError(f"PASSporT claims are not JSON: {e}") from e
    return format_identity(IdentityHeader(token, x5u, "ES256", ppt))


# -- input checks -------------------------------------------------------------------------------


def _check_key(key: object) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(
            f"the signing key must be an ECDSA P-256 private key, not {type(key).__name__}"
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"the signing key is on {key.curve.name}, not P-256 (ES256)")


def _tn(value: object, name: str) -> str:
    tn = canonicalize_tn(value) if isinstance(value, str) else None
    if tn is None:
        raise ValueError(f"{name} {str(value)[:40]!r} is not a telephone number (RFC 8224 §8.3)")
    return tn


def _tns(dest: str | Sequence[str]) -> list[str]:
    items = [dest] if isinstance(dest, str) else list(dest)
    if not items:
        raise ValueError("dest names no called number")
    if len(items) > _MAX_DESTS:
        raise ValueError(f"dest names {len(items)} numbers, over {_MAX_DESTS}")
    return [_tn(d, "dest") for d in items]


def _origid(origid: str | None) -> str:
    if origid is None:
        return str(uuid.uuid4())
    try:
        uuid.UUID(origid)
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"origid {str(origid)[:40]!r} is not a UUID (ATIS-1000074)") from None
    return origid


def _iat(iat: int | None) -> int:
    if iat is None:
        return int(time.time())
    if isinstance(iat, bool) or not isinstance(iat, int) or not 0 < iat < _MAX_NUMERIC_DATE:
        raise ValueError(f"iat {str(iat)[:24]!r} is not a NumericDate in seconds (RFC 8225 §5.1.1)")
    return iat


def _x5u(url: object) -> str:
    if not isinstance(url, str) or any(c.isspace() or c in '<>"' for c in url):
        raise ValueError(f"x5u {str(url)[:80]!r} is not a URL that fits in info=<...>")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError(f"x5u {url[:80]!r} is not an https URL (ATIS-1000074)")
    if parts.username is not None or parts.query or parts.fragment or "#" in url:
        raise ValueError(f"x5u {url[:80]!r} carries userinfo, a query or a fragment")
    return url


def _extra(extra: Mapping[str, Any] | None, reserved: frozenset[str]) -> dict[str, Any]:
    if extra is None:
        return {}
    out = dict(extra)
    bad = sorted(k for k in out if not isinstance(k, str))
    if bad:
        raise ValueError("claim names must be strings")
    clash = sorted(k for k in out if k in reserved)
    if clash:
        raise ValueError(f"extra claims may not replace {', '.join(clash)}")
    try:  # RFC 8259 JSON only: no NaN or infinities, no non-JSON objects
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"extra claims are not JSON: {e}") from e
    return out
