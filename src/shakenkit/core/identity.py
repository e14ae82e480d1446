"""The SIP ``Identity`` header: parse and format (RFC 8224 §4, standards digest §1.1-§1.2).

``Identity: <jws>;info=<https://cr.example/cert.pem>;alg=ES256;ppt=shaken``

Parsing is a pure function over a string. It accepts parameters in any order, parameter names in
any case, quoted values, whitespace around ``;`` and ``=``, folded lines, several header values
(a list, or one string holding comma-separated values), and keeps unknown parameters. A
repeated parameter is refused. ``info`` is mandatory and must be an absolute URI (else 436).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import IdentityHeaderError

__all__ = [
    "DEFAULT_MAX_HEADER_BYTES",
    "IdentityHeader",
    "format_identity",
    "parse_identity",
    "parse_identity_headers",
]

DEFAULT_MAX_HEADER_BYTES = 16_384

# RFC 8224 errata 6499: the digest is base64url plus '.' (standards digest §1.1).
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+")
_PNAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")  # RFC 3261 token
_PTOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:/@\[\]?=&$,]*")
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"]+")
# token;info=<absolute URI>;alg=ES256;ppt=shaken (ppt optionally quoted), nothing else.
_COMMON_RE = re.compile(
    r"([A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+)"
    r";info=<([A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\";]+)>"
    r";alg=(ES256);ppt=(?:([A-Za-z0-9]+)|\"([A-Za-z0-9]+)\")"
)
_FOLD_RE = re.compile(r"\r?\n[ \t]+")
_NAME_PREFIX_RE = re.compile(r"^\s*(?:identity|y)\s*:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class IdentityHeader:
    """One parsed Identity header value (RFC 8224 §4).

    ``token`` is the PASSporT exactly as received (``header.payload.signature``, or
    ``..signature`` in compact form). ``params`` holds the unknown parameters, names lower-cased,
    in received order (value None for a parameter without ``=``). ``warnings`` records
    tolerated deviations (``info`` without angle brackets).
    """

    token: str
    info: str
    alg: str | None = None
    ppt: str | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def compact(self) -> bool:
        """True for the compact form ``..signature`` (RFC 8225 §7)."""
        return self.token.startswith("..")

    @property
    def segments(self) -> tuple[str, str, str]:
        """The three base64url segments (header, payload, signature)."""
        h, p, s = self.token.split(".")
        return h, p, s

    def format(self) -> str:
        """This header as a header field value; see :func:`format_identity`."""
        return format_identity(self)


_ANGLE_RE = re.compile(r"<[^<>]*>")


def _split_outside(s: str, sep: str, *, strict: bool = True) -> list[str]:
    """Split on ``sep`` outside ``<...>`` and ``"..."`` (a URI or quoted string may hold it).
    ``strict``: an unterminated quote or ``<`` is an error (else the rest is one part)."""
    if '"' not in s:
        # Fast path (the usual header): no quotes, and no separator inside a complete <...>.
        spans = _ANGLE_RE.findall(s)
        n = len(spans)
        if s.count("<") == n == s.count(">") and not any(sep in a for a in spans):
            return s.split(sep)
    parts: list[str] = []
    buf_start = 0
    in_quote = in_angle = False
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif in_angle:
            if c == ">":
                in_angle = False
        elif c == '"':
            in_quote = True
        elif c == "<":
            in_angle = True
        elif c == sep:
            parts.append(s[buf_start:i])
            buf_start = i + 1
        i += 1
    if strict and in_quote:
        raise IdentityHeaderError("unterminated quoted string in Identity header")
    if strict and in_angle:
        raise IdentityHeaderError("unterminated '<' in Identity header")
    parts.append(s[buf_start:])
    return parts


def _unquote(v: str) -> str:
    out = []
    i = 1
    while i < len(v) - 1:
        c = v[i]
        if c == "\\" and i + 1 < len(v) - 1:
            i += 1
            c = v[i]
        out.append(c)
        i += 1
    return "".join(out)


def _prepare(value: str, max_bytes: int) -> str:
    if not isinstance(value, str):
        raise IdentityHeaderError("Identity header value must be a string")
    if len(value) > max_bytes:
        raise IdentityHeaderError(
            f"Identity header is {len(value)} characters, over the {max_bytes} limit"
        )
    if "\n" in value:
        value = _FOLD_RE.sub(" ", value)  # RFC 3261 §7.3.1 unfolding
    m = _NAME_PREFIX_RE.match(value)
    if m:
        value = value[m.end() :]
    return value.strip()


def parse_identity(value: str, *, max_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> IdentityHeader:
    """Parse exactly one Identity header value; raise :class:`IdentityHeaderError` if malformed.

    A leading ``Identity:`` or ``y:`` header name is tolerated. Errors carry 438, or 436 when
    ``info`` is missing or not an absolute URI (standards digest §1.2).
    """
    if isinstance(value, str) and len(value) <= max_bytes:
        m = _COMMON_RE.fullmatch(value)
        if m is not None:
            # The form nearly every signer sends; same result as the general parser below.
            return IdentityHeader(m[1], m[2], m[3], m[4] or m[5])
    value = _prepare(value, max_bytes)
    parts = _split_outside(value, ";")
    token = parts[0].strip()
    if not token:
        raise IdentityHeaderError("Identity header has no PASSporT token")
    if not _TOKEN_RE.fullmatch(token):
        if token.count(".") != 2:
            raise IdentityHeaderError(
                "Identity token must have three '.'-separated segments (JWS compact form)"
            )
        raise IdentityHeaderError(
            "Identity token holds characters outside base64url (RFC 8224 errata 6499, RFC 7515)"
        )
    info: str | None = None
    alg: str | None = None
    ppt: str | None = None
    extra: list[tuple[str, str | None]] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for raw in parts[1:]:
        raw = raw.strip()
        if not raw:
            raise IdentityHeaderError("empty parameter in Identity header")
        name, eq, val = raw.partition("=")
        name = name.strip().lower()
        if not _PNAME_RE.fullmatch(name):
            raise IdentityHeaderError(f"invalid Identity parameter name {name[:40]!r}")
        if name in seen:
            raise IdentityHeaderError(f"Identity parameter {name!r} is repeated")
        seen.add(name)
        v: str | None = None
        angled = False
        if eq:
            v = val.strip()
            if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
                v = _unquote(v)
            elif len(v) >= 2 and v[0] == "<" and v[-1] == ">":
                v, angled = v[1:-1].strip(), True
            elif not _PTOKEN_RE.fullmatch(v):
                raise IdentityHeaderError(f"invalid value for Identity parameter {name!r}")
        if name == "info":
            if not v:
                raise IdentityHeaderError("Identity 'info' parameter is empty", sip_code=436)
            if not angled:
                # Non-conformant but seen in the field (standards digest §10 item 5).
                warnings.append("info parameter not enclosed in <...>")
            if not _URI_RE.fullmatch(v):
                raise IdentityHeaderError(
                    "Identity 'info' parameter is not an absolute URI", sip_code=436
                )
            info = v
        elif name == "alg":
            if not v:
                raise IdentityHeaderError("Identity 'alg' parameter is empty")
            alg = v
        elif name == "ppt":
            if not v:
                raise IdentityHeaderError("Identity 'ppt' parameter is empty")
            ppt = v
        else:
            extra.append((name, v))
    if info is None:
        raise IdentityHeaderError(
            "Identity header has no 'info' parameter (RFC 8224 §4)", sip_code=436
        )
    return IdentityHeader(token, info, alg, ppt, tuple(extra), tuple(warnings))


def parse_identity_headers(
    values: str | Iterable[str], *, max_bytes: int = DEFAULT_MAX_HEADER_BYTES
) -> list[IdentityHeader]:
    """Parse several Identity header values: a list (repeated headers) or one string that holds
    comma-separated values. Commas inside ``<...>`` or quotes do not split.
    Raises :class:`IdentityHeaderError` on the first malformed value.
    """
    if isinstance(values, str):
        items = [values]
    else:
        try:
            items = list(values)
        except TypeError as e:
            raise IdentityHeaderError("Identity header values must be text") from e
    out: list[IdentityHeader] = []
    for item in items:
        prepared = _prepare(item, max_bytes)
        for piece in _split_outside(prepared, ","):
            if piece.strip():
                out.append(parse_identity(piece, max_bytes=max_bytes))
    return out


def split_identity_values(value: str, *, max_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> list[str]:
    """Split one header string into its comma-separated values (without parsing them)."""
    prepared = _prepare(value, max_bytes)
    return [p.strip() for p in _split_outside(prepared, ",") if p.strip()]


def _fmt_param_value(v: str) -> str:
    if _PTOKEN_RE.fullmatch(v) and v:
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_identity(h: IdentityHeader) -> str:
    """Format an :class:`IdentityHeader` as a header field value (without the header name):
    ``token;info=<uri>[;alg=..][;ppt=..][;other params]``."""
    out = [h.token, f";info=<{h.info}>"]
    if h.alg is not None:
        out.append(f";alg={_fmt_param_value(h.alg)}")
    if h.ppt is not None:
        out.append(f";ppt={_fmt_param_value(h.ppt)}")
    for name, v in h.params:
        out.append(f";{name}" if v is None else f";{name}={_fmt_param_value(v)}")
    return "".join(out)
