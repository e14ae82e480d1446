"""SIP requests: the few parts a verifier needs (RFC 3261; RFC 8224 §4.1, §6.2, §8.3).

:func:`parse_sip` is a pure function over text or bytes. It reads the request line, the header
fields (names case-insensitive, compact forms such as ``f``, ``t``, ``i``, ``y``; folded lines
unfolded, RFC 3261 §7.3.1), and keeps the body. From the headers it takes what verification
needs (standards digest §1.3, §1.6, §5.1, §10 items 19-20):

* every ``Identity`` header, one value per header field line, never split on commas (an ``info``
  URI may hold one; standards digest §1.1);
* the **calling number**: the first telephone number among the ``P-Asserted-Identity`` URIs,
  else the one in ``From`` (SHAKEN: PAI wins; ATIS-1000074);
* the **called number**: the one in ``To``, else the one in the Request-URI (retargeting,
  number portability);
* ``Date`` as Unix seconds (RFC 3261 §20.17, an RFC 1123 date), ``Call-ID``, ``Diversion``
  (RFC 5806) and ``History-Info`` (RFC 7044) values.

A telephone number is read from a ``tel:`` URI or from the user part of a ``sip:``/``sips:`` URI
when it is numeric (an optional ``+``, visual separators; ``user=phone`` is not required) and
canonicalized with :func:`shakenkit.core.tn.canonicalize_tn` (RFC 8224 §8.3).

A message that cannot be parsed raises :class:`SipParseError`, naming the line. Input is bounded:
``max_bytes`` (64 KiB by default) and ``max_headers`` (256).

Framing (where a message ends in a datagram or a TCP stream) is :mod:`shakenkit.sip.framing`.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import re
from dataclasses import dataclass
from urllib.parse import unquote

from ..errors import ShakenError
from .identity import _split_outside
from .tn import canonicalize_tn
from .verdict import Verdict

__all__ = [
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "SipMessage",
    "SipParseError",
    "addr_uri",
    "malformed_message_verdict",
    "parse_sip",
    "uri_tn",
]

DEFAULT_MAX_MESSAGE_BYTES = 65_536
DEFAULT_MAX_HEADERS = 256

# RFC 3261 §7.3.3 and the IANA SIP header registry: compact form -> full name (lower case).
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"  # RFC 3261 §25.1 token
_NAME_RE = re.compile(_TOKEN)
_REQUEST_LINE_RE = re.compile(rf"({_TOKEN})[ \t]+(\S+)[ \t]+([Ss][Ii][Pp]/\S+)[ \t]*")
_STATUS_LINE_RE = re.compile(r"[Ss][Ii][Pp]/\d+\.\d+[ \t]+\d{3}\b.*")
_URI_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_HEAD_END_RE = re.compile(rb"\r?\n\r?\n")
_LINE_SPLIT_RE = re.compile(r"\r?\n")


class SipParseError(ShakenError):
    """The SIP message cannot be parsed (RFC 3261 §7).

    ``line`` is the 1-based line number of the offending line (None when the problem is not on
    one line, e.g. the size limit). The code is **438** (Invalid Identity Header): a message that
    cannot be read cannot carry a valid Identity header, and :meth:`Verifier.verify_sip` reports it
    as a 438 verdict. (A SIP stack answering the request itself sends 400 Bad Request, RFC 3261
    §21.4.1; that is the stack's business, not the verifier's.)
    """

    sip_code = 438
    check = "sip_message"

    def __init__(self, detail: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {detail}" if line is not None else detail)
        self.line = line


@dataclass(frozen=True, slots=True)
class SipMessage:
    """A parsed SIP request: what :meth:`Verifier.verify_sip` needs, and the rest kept.

    ``headers`` holds every header field in received order as ``(name, value)``: the name in
    lower case with compact forms expanded (``f`` -> ``from``), the value unfolded and stripped.
    ``identity`` holds the Identity header values, one per header field line.
    ``calling_tn``/``called_tn`` are canonical TNs (RFC 8224 §8.3) or None; ``calling_from`` and
    ``called_from`` name the header they came from. ``date`` is the Date header as Unix
    seconds (None when absent or unreadable).
    """

    method: str
    request_uri: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    identity: tuple[str, ...]
    from_uri: str | None
    to_uri: str | None
    pai_uris: tuple[str, ...]
    calling_tn: str | None
    calling_from: str | None
    called_tn: str | None
    called_from: str | None
    call_id: str | None
    date: int | None
    diversion: tuple[str, ...]
    history_info: tuple[str, ...]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case, compact form accepted), or None."""
        key = _canonical_name(name)
        return next((v for n, v in self.headers if n == key), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``, one per header field line, in received order."""
        key = _canonical_name(name)
        return [v for n, v in self.headers if n == key]

    def verification_numbers(self) -> tuple[str | None, str | None]:
        """``(orig, dest)`` as :meth:`Verifier.verify_sip` passes them to ``Verifier.verify``.

        Each is the canonical TN when the message holds one; otherwise the URI (or raw header
        value) it would have come from, so that the PASSporT comparison fails with 438 (the
        numbers do not match) instead of being skipped (standards digest §5.3 step 10).
        """
        orig = self.calling_tn or (self.pai_uris[0] if self.pai_uris else None) or self.from_uri
        if orig is None:
            orig = self.header("from")
        dest = self.called_tn or self.to_uri or self.header("to")
        return orig, dest


def _canonical_name(name: str) -> str:
    low = name.strip().lower()
    return COMPACT_FORMS.get(low, low)


def _split_list(value: str) -> list[str]:
    """Split a list-valued header (RFC 3261 §7.3.1) on commas outside quotes and ``<...>``."""
    return [p.strip() for p in _split_outside(value, ",", strict=False) if p.strip()]


def addr_uri(value: str) -> str | None:
    """The URI of a name-addr / addr-spec header value (From, To, P-Asserted-Identity ...).

    ``"Alice" <sip:+12155551212@example.com;user=phone>;tag=1`` -> the URI in angle brackets;
    without brackets, the addr-spec ends at the first ``;`` (header parameters, RFC 3261 §20.10).
    """
    v = value.strip()
    in_quote = False
    i = 0
    while i < len(v):
        c = v[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif c == "<":
            end = v.find(">", i + 1)
            inner = v[i + 1 : end] if end > 0 else v[i + 1 :]
            return inner.strip() or None
        i += 1
    if in_quote:
        return None
    spec = v.split(";", 1)[0].strip()
    return spec if _URI_SCHEME_RE.match(spec) else None


def uri_tn(uri: str) -> str | None:
    """The canonical TN a URI carries, or None (RFC 8224 §8.3 step 1, standards digest §1.6).

    ``tel:`` URIs, and ``sip:``/``sips:`` URIs whose user part is a number (an optional ``+``,
    visual separators, percent-escapes; ``user=phone`` or not). URI parameters (``;npdi``,
    ``;rn=``, ``;phone-context=``, ``;verstat=``) and the host are ignored.
    """
    m = _URI_SCHEME_RE.match(uri)
    if m is None:
        return None
    scheme = uri[: m.end() - 1].lower()
    rest = uri[m.end() :]
    if scheme == "tel":
        number = rest.split(";", 1)[0]
    elif scheme in ("sip", "sips"):
        at = rest.find("@")
        if at <= 0:
            return None  # no user part: the URI names a host, not a number
        user = rest[:at].split(":", 1)[0]  # drop a (deprecated) password
        number = unquote(user).split(";", 1)[0]
    else:
        return None
    if not number or "@" in number:
        return None
    return canonicalize_tn(number)


def _parse_date(value: str) -> int | None:
    """RFC 3261 §20.17 SIP-date (RFC 1123 form, always GMT) -> Unix seconds; None if unreadable."""
    try:
        d = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if not isinstance(d, _dt.datetime):  # older Pythons returned None for garbage
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    try:
        return int(d.timestamp())
    except (OverflowError, ValueError, OSError):
        return None


def _to_bytes(data: str | bytes | bytearray | memoryview) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8", "replace")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise SipParseError("a SIP message must be text or bytes")


def parse_sip(
    data: str | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_headers: int = DEFAULT_MAX_HEADERS,
) -> SipMessage:
    """Parse one SIP request (RFC 3261 §7). Raises :class:`SipParseError` naming the line.

    Liberal where RFC 3261 allows or the field needs it: CRLF or LF line endings, blank lines
    before the request line (§7.5), header names in any case and compact forms, whitespace
    before the colon, folded lines. Strict where a reader could be misled: the request line
    (``METHOD Request-URI SIP/2.0``), a colon on every header line, a numeric Content-Length,
    From and To present (§8.1.1), and the size and header-count limits.
    """
    if isinstance(data, str | bytes | bytearray) and len(data) > max_bytes:
        raise SipParseError(f"message is {len(data)} bytes, over the {max_bytes}-byte limit")
    raw = _to_bytes(data)
    if len(raw) > max_bytes:
        raise SipParseError(f"message is {len(raw)} bytes, over the {max_bytes}-byte limit")
    # RFC 3261 §7.5: ignore CRLFs before the start line.
    pos = 0
    first_line = 1
    while pos < len(raw) and raw[pos] in (0x0D, 0x0A):
        if raw[pos] == 0x0A:
            first_line += 1
        pos += 1
    if pos >= len(raw):
        raise SipParseError("empty message")
    m = _HEAD_END_RE.search(raw, pos)
    head = raw[pos : m.start()] if m else raw[pos:]
    body = raw[m.end() :] if m else b""
    lines = _LINE_SPLIT_RE.split(head.decode("utf-8", "replace"))
    start = lines[0].rstrip("\r")
    method, request_uri = _request_line(start, first_line)
    headers: list[tuple[str, str]] = []
    names_at: list[int] = []
    for offset, text in enumerate(lines[1:], start=1):
        line_no = first_line + offset
        text = text.rstrip("\r")
        if text[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("continuation line before any header field", line=line_no)
            name, value = headers[-1]
            # RFC 3261 §7.3.1: a fold is one SP. A PASSporT token holds no whitespace, so a fold
            # inside an Identity token (seen when long headers are wrapped) is joined tight.
            sep = "" if name == "identity" and ";" not in value else " "
            headers[-1] = (name, (value + sep + text.strip()).strip())
            continue
        name, colon, value = text.partition(":")
        name = name.rstrip(" \t")
        if not colon:
            raise SipParseError(f"header line without a colon: {text[:60]!r}", line=line_no)
        if not _NAME_RE.fullmatch(name):
            raise SipParseError(f"invalid header name {name[:40]!r}", line=line_no)
        if len(headers) >= max_headers:
            raise SipParseError(f"more than {max_headers} header fields", line=line_no)
        headers.append((_canonical_name(name), value.strip()))
        names_at.append(line_no)
    return _build(method, request_uri, headers, names_at, body, first_line)


def _request_line(start: str, line_no: int) -> tuple[str, str]:
    m = _REQUEST_LINE_RE.fullmatch(start)
    if m is None:
        if _STATUS_LINE_RE.fullmatch(start):
            raise SipParseError("a response (status line), not a request", line=line_no)
        raise SipParseError(
            f"not a SIP request line (METHOD Request-URI SIP/2.0): {start[:60]!r}", line=line_no
        )
    method, uri, version = m.group(1), m.group(2), m.group(3)
    if version.upper() != "SIP/2.0":
        raise SipParseError(f"unsupported SIP version {version[:20]!r}", line=line_no)
    if not _URI_SCHEME_RE.match(uri):
        raise SipParseError(f"Request-URI {uri[:60]!r} is not an absolute URI", line=line_no)
    return method, uri


def _build(
    method: str,
    request_uri: str,
    headers: list[tuple[str, str]],
    names_at: list[int],
    body: bytes,
    first_line: int,
) -> SipMessage:
    def first(name: str) -> tuple[str, int] | None:
        for (n, v), at in zip(headers, names_at, strict=True):
            if n == name:
                return v, at
        return None

    cl = first("content-length")
    if cl is not None and not (cl[0].isascii() and cl[0].isdigit()):
        raise SipParseError(f"Content-Length {cl[0][:20]!r} is not a number", line=cl[1])
    frm = first("from")
    if frm is None:
        raise SipParseError("no From header (RFC 3261 §8.1.1.3)", line=first_line)
    to = first("to")
    if to is None:
        raise SipParseError("no To header (RFC 3261 §8.1.1.2)", line=first_line)
    from_uri = addr_uri(frm[0])
    to_uri = addr_uri(to[0])
    pai_uris = tuple(
        u
        for n, v in headers
        if n == "p-asserted-identity"
        for item in _split_list(v)
        if (u := addr_uri(item)) is not None
    )
    # Calling number: SHAKEN signs the PAI TN when there is one, else From (ATIS-1000074;
    # standards digest §1.3, §5.1, §10 item 19).
    calling_tn: str | None = None
    calling_from: str | None = None
    for u in pai_uris:
        calling_tn = uri_tn(u)
        if calling_tn is not None:
            calling_from = "P-Asserted-Identity"
            break
    if calling_tn is None and from_uri is not None:
        calling_tn = uri_tn(from_uri)
        calling_from = "From" if calling_tn is not None else None
    # Called number: To, else the Request-URI (standards digest §10 item 20).
    called_tn = uri_tn(to_uri) if to_uri is not None else None
    called_from: str | None = "To" if called_tn is not None else None
    if called_tn is None:
        called_tn = uri_tn(request_uri)
        called_from = "Request-URI" if called_tn is not None else None
    date_v = first("date")
    call_id = first("call-id")
    return SipMessage(
        method=method,
        request_uri=request_uri,
        headers=tuple(headers),
        body=body,
        identity=tuple(v for n, v in headers if n == "identity" and v),
        from_uri=from_uri,
        to_uri=to_uri,
        pai_uris=pai_uris,
        calling_tn=calling_tn,
        calling_from=calling_from,
        called_tn=called_tn,
        called_from=called_from,
        call_id=call_id[0] if call_id else None,
        date=_parse_date(date_v[0]) if date_v else None,
        diversion=tuple(x for n, v in headers if n == "diversion" for x in _split_list(v)),
        history_info=tuple(x for n, v in headers if n == "history-info" for x in _split_list(v)),
    )


def malformed_message_verdict(error: SipParseError) -> Verdict:
    """The verdict for a SIP message that cannot be parsed: 438, TN-Validation-Failed,
    ``caller_id`` "unverified" (the call could not be read, which is no evidence of forgery)."""
    return Verdict.failure(438, error.check, error.detail, spoofed=False)
