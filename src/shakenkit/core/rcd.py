"""Rich Call Data: the ``rcd``, ``rcdi`` and ``crn`` claims (RFC 9795; standards digest §7.2).

Branded calling puts a display name (``nam``), an alternate number (``apn``), a logo URL
(``icn``) and a jCard, inline (``jcd``) or by URL (``jcl``), into the PASSporT, either in a
``ppt=shaken`` PASSporT (ATIS-1000094) or in a ``ppt=rcd`` one; ``crn`` is the call reason.
``rcdi`` protects what the signer did not sign directly: it maps JSON pointers (RFC 6901) into
the ``rcd`` object to digests ``"<alg>-<base64>"`` (``sha256``, ``sha384``, ``sha512``; the
W3C Subresource Integrity form RFC 9795 adopts). A pointer that ends on a URL (``/icn``,
``/jcl``, a URI inside a jCard) is checked against the **content** at that URL; a pointer that
ends on a JSON value (``/jcd``, ``/nam``) against the JSON Canonicalization Scheme (JCS,
RFC 8785) form of that value. A pointer may continue into the JSON fetched from a URL
(``/jcl/1/2/3``), one level deep.

Everything here is pure: :func:`rcd_steps` is a sans-IO generator that asks for each URL's
content with ``yield FetchRcd(url)`` and receives the bytes or an exception; the verifier answers
from configured content or, only with ``Policy.fetch_rcd``, from the same HTTPS fetcher (URL
policy, limits, cache) as ``x5u``. Nothing here changes the SHAKEN outcome: the result is a
:class:`~shakenkit.verdict.RichCallData` attached to the verdict.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import Generator, Mapping
from typing import Any

import rfc8785

from .requests import FetchRcd
from .verdict import RcdDigest, RichCallData

__all__ = [
    "DIGEST_ALGORITHMS",
    "MAX_RCD_FETCHES",
    "RCD_CLAIMS",
    "has_rcd",
    "jcs",
    "rcd_digest",
    "rcd_steps",
]

RCD_CLAIMS = ("rcd", "rcdi", "crn")
DIGEST_ALGORITHMS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
MAX_RCD_FETCHES = 4
_MAX_JCS_NODES = 10_000
_MAX_POINTER_TOKENS = 16
_MAX_TEXT = 512  # longest rcd string reported back as is (a display name is short)
_DIGEST_RE = re.compile(r"([a-z0-9]+)-([A-Za-z0-9+/_\-]+={0,2})")
_URL_RE = re.compile(r"https?://\S+", re.IGNORECASE)

_Steps = Generator[FetchRcd, Any, RichCallData]


def has_rcd(extra: Mapping[str, Any]) -> bool:
    """Does a PASSporT's extra-claims mapping carry any Rich Call Data claim?"""
    return bool(extra) and any(k in extra for k in RCD_CLAIMS)


# -- JSON Canonicalization Scheme (RFC 8785) ---------------------------------------------------


def jcs(value: Any) -> bytes:
    """The JSON Canonicalization Scheme (RFC 8785) serialization of a JSON value, by the
    maintained ``rfc8785`` package: object members sorted by their UTF-16 code units, no
    whitespace, ES6 number form, minimal string escapes; UTF-8. Raises ValueError for a value
    JCS cannot carry: NaN or an infinity, an integer beyond the IEEE 754 safe range
    (|n| > 2**53 - 1, RFC 8785 §3.2.2.3: JCS numbers are doubles, so such an integer has no
    canonical form), a non-string key, an unpaired surrogate, or a value of more than 10,000
    nodes or 64 levels (checked first, without recursion)."""
    _check_size(value)
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as e:  # a ValueError
        raise ValueError(f"not canonicalizable JSON (RFC 8785): {e}") from e


def _check_size(value: Any) -> None:
    """Refuse a value larger than ``_MAX_JCS_NODES`` nodes or deeper than 64 levels before
    the recursive serializer sees it (hostile rcd content)."""
    budget = _MAX_JCS_NODES
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        budget -= 1
        if budget < 0 or depth > 64:
            raise ValueError("JSON value too large or too deep to canonicalize")
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list | tuple):
            stack.extend((x, depth + 1) for x in v)


def rcd_digest(data: bytes, alg: str = "sha256") -> str:
    """The ``rcdi`` digest string of ``data``: ``"sha256-<base64>"`` (RFC 9795, W3C SRI form).
    For a JSON value, pass ``jcs(value)``."""
    return f"{alg}-" + base64.b64encode(DIGEST_ALGORITHMS[alg](data).digest()).decode("ascii")


def _parse_digest(text: object) -> tuple[str, bytes] | str:
    """``(alg, digest bytes)`` of an rcdi value, or why it is malformed."""
    if not isinstance(text, str):
        return "digest is not a string"
    m = _DIGEST_RE.fullmatch(text.strip())
    if m is None:
        return "digest is not '<alg>-<base64>'"
    alg, b64 = m[1], m[2]
    if alg not in DIGEST_ALGORITHMS:
        return f"digest algorithm {alg[:16]!r} is not sha256, sha384 or sha512"
    raw = b64.rstrip("=")
    try:
        alphabet_url = "-" in raw or "_" in raw
        data = (base64.urlsafe_b64decode if alphabet_url else base64.b64decode)(
            raw + "=" * (-len(raw) % 4)
        )
    except (binascii.Error, ValueError):
        return "digest is not valid base64"
    if len(data) != DIGEST_ALGORITHMS[alg]().digest_size:
        return f"{alg} digest has {len(data)} bytes"
    return alg, data


def _matches(alg: str, want: bytes, *candidates: bytes) -> bool:
    return any(hmac.compare_digest(DIGEST_ALGORITHMS[alg](c).digest(), want) for c in candidates)


def _pointer_tokens(pointer: str) -> list[str] | str:
    """RFC 6901 reference tokens of ``pointer`` (``~1`` -> ``/``, ``~0`` -> ``~``)."""
    if not pointer.startswith("/"):
        return "JSON pointer does not start with '/' (RFC 6901)"
    tokens = pointer[1:].split("/")
    if len(tokens) > _MAX_POINTER_TOKENS:
        return "JSON pointer is too deep"
    if any(re.search(r"~[^01]|~$", t) for t in tokens):
        return "JSON pointer has an invalid '~' escape (RFC 6901 §3)"
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _step(value: Any, token: str) -> tuple[bool, Any]:
    if isinstance(value, dict):
        return (token in value, value.get(token))
    if isinstance(value, list) and re.fullmatch(r"0|[1-9][0-9]{0,5}", token):
        i = int(token)
        return (i < len(value), value[i] if i < len(value) else None)
    return False, None


def _is_url(v: object) -> bool:
    return isinstance(v, str) and _URL_RE.fullmatch(v) is not None


def _short(v: object) -> str | None:
    if not isinstance(v, str):
        return None
    return v if len(v) <= _MAX_TEXT else v[:_MAX_TEXT] + "..."


def _urls_in(value: Any, budget: list[int]) -> list[str]:
    """URL strings inside a JSON value (a jCard's PHOTO/LOGO/URL entries), bounded."""
    out: list[str] = []
    stack = [value]
    while stack and budget[0] > 0:
        budget[0] -= 1
        v = stack.pop()
        if _is_url(v):
            out.append(v)
        elif isinstance(v, list):
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            stack.extend(v.values())
    return out


def rcd_steps(
    extra: Mapping[str, Any],
    *,
    source: str | None,
    passed: bool,
    obtainable: Any = None,
    max_fetches: int = MAX_RCD_FETCHES,
) -> _Steps:
    """Decode a PASSporT's ``rcd``/``rcdi``/``crn`` claims and check ``rcdi`` (RFC 9795).

    A sans-IO generator: it yields ``FetchRcd(url)`` for each URL whose content a digest needs
    (at most ``max_fetches``, and only those ``obtainable(url)`` allows; None allows none) and
    receives the content bytes or an exception. ``passed``: the PASSporT carrying the claims
    verified (only then is ``nam`` a ``display_name``). Returns a
    :class:`~shakenkit.verdict.RichCallData`; never raises on hostile claims.
    """
    notes: list[str] = []
    rcd = extra.get("rcd")
    rcdi = extra.get("rcdi")
    crn = extra.get("crn")
    malformed = False
    if rcd is not None and not isinstance(rcd, dict):
        notes.append("rcd claim is not a JSON object (RFC 9795)")
        malformed, rcd = True, None
    obj: dict[str, Any] = rcd or {}
    for name in ("nam", "apn", "icn", "jcl"):
        if name in obj and not isinstance(obj[name], str):
            notes.append(f"rcd {name} is not a string")
            malformed = True
    for name in ("icn", "jcl"):
        if isinstance(obj.get(name), str) and not _is_url(obj[name]):
            notes.append(f"rcd {name} is not an http(s) URL")
            malformed = True
    if "jcd" in obj and not isinstance(obj["jcd"], list):
        notes.append("rcd jcd is not a jCard array (RFC 7095)")
        malformed = True
    if "jcd" in obj and "jcl" in obj:
        notes.append("rcd holds both jcd and jcl; RFC 9795 allows one")
        malformed = True
    if rcd is not None and not isinstance(obj.get("nam"), str):
        notes.append("rcd has no nam (RFC 9795: the display name is required)")
    if crn is not None and not isinstance(crn, str):
        notes.append("crn claim is not a string (RFC 9795)")
        crn = None
    unknown = sorted(k for k in obj if k not in ("nam", "apn", "icn", "jcd", "jcl"))
    if unknown:
        notes.append("unknown rcd members ignored: " + ", ".join(k[:20] for k in unknown[:5]))
    digests: list[RcdDigest] = []
    covered: set[str] = set()  # URLs whose content a digest names
    incomplete = False
    if rcdi is not None and not isinstance(rcdi, dict):
        notes.append("rcdi claim is not a JSON object (RFC 9795)")
        malformed, rcdi = True, None
    if isinstance(rcdi, dict):
        if rcd is None:
            notes.append("rcdi without an rcd claim")
            malformed = True
        fetched: dict[str, Any] = {}
        fetches = 0

        def content(url: str) -> Generator[FetchRcd, Any, Any]:
            """The content at ``url``: asked for once, if allowed and within the budget
            (None when not asked)."""
            nonlocal fetches
            if url not in fetched:
                if obtainable is None or not obtainable(url) or fetches >= max_fetches:
                    fetched[url] = None
                else:
                    fetches += 1
                    fetched[url] = yield FetchRcd(url)
            return fetched[url]

        for pointer, value in list(rcdi.items())[:32]:
            p = str(pointer)
            shown = p[:80]
            parsed = _parse_digest(value)
            if isinstance(parsed, str):
                digests.append(RcdDigest(shown, False, parsed))
                continue
            alg, want = parsed
            tokens = _pointer_tokens(p)
            if isinstance(tokens, str):
                digests.append(RcdDigest(shown, False, tokens))
                continue
            if tokens and tokens[0] == "rcd":  # "/rcd/icn": pointer from the claims root
                tokens = tokens[1:]
            cur: Any = obj
            found = True
            level = 0  # URL levels followed (RFC 9796: one level of URI references)
            problem: str | None = None
            i = 0
            while i < len(tokens):
                tok = tokens[i]
                ok, nxt = _step(cur, tok)
                if not ok:
                    found = False
                    break
                cur = nxt
                i += 1
                if i < len(tokens) and _is_url(cur):
                    if level >= 1:
                        problem = "pointer follows more than one level of URL"
                        break
                    level += 1
                    url = cur
                    body = yield from content(url)
                    if not isinstance(body, bytes):
                        problem = "content of " + url[:80] + " not obtained"
                        break
                    try:
                        cur = json.loads(body.decode("utf-8"))
                    except (UnicodeDecodeError, ValueError, RecursionError):
                        found = False
                        break
            if problem is not None:
                incomplete = True
                digests.append(RcdDigest(shown, None, problem))
                continue
            if not found:
                digests.append(RcdDigest(shown, False, "pointer names nothing in rcd"))
                continue
            if _is_url(cur):
                url = cur
                covered.add(url)
                body = yield from content(url)
                if not isinstance(body, bytes):
                    why = str(body)[:120] if isinstance(body, BaseException) else "not fetched"
                    incomplete = True
                    digests.append(RcdDigest(shown, None, f"content of {url[:80]}: {why}"))
                    continue
                candidates = [body]
                with contextlib.suppress(UnicodeDecodeError, ValueError, RecursionError):
                    candidates.append(jcs(json.loads(body.decode("utf-8"))))
                ok = _matches(alg, want, *candidates)
                digests.append(
                    RcdDigest(
                        shown,
                        ok,
                        f"{alg} of the content at {url[:80]} "
                        + ("matches" if ok else "does not match"),
                    )
                )
            else:
                try:
                    canon = jcs(cur)
                except ValueError as e:
                    digests.append(RcdDigest(shown, False, str(e)))
                    continue
                ok = _matches(alg, want, canon)
                digests.append(
                    RcdDigest(
                        shown,
                        ok,
                        f"{alg} of the JCS form (RFC 8785) "
                        + ("matches" if ok else "does not match"),
                    )
                )
        if len(rcdi) > 32:
            notes.append("rcdi has more than 32 entries; the rest were not checked")
            incomplete = True
        # Content the signer referenced by URL must be covered by a digest (RFC 9795).
        for name in ("icn", "jcl"):
            if _is_url(obj.get(name)) and obj[name] not in covered:
                notes.append(f"rcd {name} URL has no rcdi digest")
                incomplete = True
        jcd = obj.get("jcd")
        if isinstance(jcd, list) and any(u not in covered for u in _urls_in(jcd, [1000])):
            notes.append("a URL in rcd jcd has no rcdi digest")
            incomplete = True
    if rcdi is None:
        integrity = "failed" if malformed else "absent"
    elif malformed or any(d.ok is False for d in digests):
        integrity = "failed"
    elif incomplete or any(d.ok is None for d in digests):
        integrity = "incomplete"
    else:
        integrity = "verified"
    nam = _short(obj.get("nam"))
    display = nam if passed and integrity != "failed" and not malformed else None
    return RichCallData(
        source=source,
        nam=nam,
        display_name=display,
        apn=_short(obj.get("apn")),
        icn=_short(obj.get("icn")),
        jcl=_short(obj.get("jcl")),
        jcd=obj.get("jcd") if isinstance(obj.get("jcd"), list) else None,
        crn=_short(crn),
        integrity=integrity,  # type: ignore[arg-type]
        digests=digests,
        notes=notes,
    )
