"""SIP framing (RFC 3261 §18.3): where one message ends in a UDP datagram or a TCP byte stream.

:class:`SipFramer` splits a byte stream (SIP over TCP) into messages by ``Content-Length``;
:func:`datagram_message` finds the message in a datagram. Pure functions over bytes, used by the
capture readers and the command line.
"""

from __future__ import annotations

import re

from ..core.sip_message import _HEAD_END_RE, DEFAULT_MAX_MESSAGE_BYTES

__all__ = [
    "SipFramer",
    "content_length",
    "datagram_message",
    "is_invite",
    "is_start_line",
]


# A start line as bytes (framing): request line or status line.
_START_LINE_B = re.compile(
    rb"(?:[A-Za-z0-9\-.!%*_+`'~]+[ \t]+\S+[ \t]+SIP/2\.0|SIP/2\.0[ \t]+\d{3}(?:[ \t].*)?)[ \t]*\r?",
    re.IGNORECASE,
)


_INVITE_B = re.compile(rb"[\r\n]*INVITE[ \t]+[A-Za-z][A-Za-z0-9+.\-]*:\S*[ \t]+SIP/2\.0[ \t]*\r?\n")

_CONTENT_LENGTH_B = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE
)


def is_start_line(line: bytes) -> bool:
    """True when ``line`` (without its LF) is a SIP request line or status line."""
    return _START_LINE_B.fullmatch(line) is not None


def is_invite(data: bytes) -> bool:
    """True when ``data`` begins (after optional CRLFs) with an ``INVITE ... SIP/2.0`` line."""
    return _INVITE_B.match(data) is not None


def content_length(head: bytes) -> int | None:
    """The Content-Length (or ``l``) of a header block, or None when absent."""
    m = _CONTENT_LENGTH_B.search(head)
    return int(m.group(1)) if m else None


def datagram_message(payload: bytes) -> bytes | None:
    """The SIP message in a UDP datagram (RFC 3261 §18.3: one per datagram), or None when the
    payload is not SIP (keep-alive CRLFs, STUN, RTP ...)."""
    i = 0
    while i < len(payload) and payload[i] in (0x0D, 0x0A):
        i += 1
    data = payload[i:]
    nl = data.find(b"\n")
    if nl < 0 or not is_start_line(data[:nl]):
        return None
    m = _HEAD_END_RE.search(data)
    if m is not None:
        cl = content_length(data[: m.start()])
        if cl is not None and m.end() + cl < len(data):
            data = data[: m.end() + cl]
    return data


class SipFramer:
    """Split a byte stream (SIP over TCP) into messages (RFC 3261 §18.3).

    A message ends after its header block and ``Content-Length`` body bytes. Keep-alive CRLFs
    (RFC 5626 §3.5.1) are skipped, and bytes before a start line (a capture that began in the
    middle of a message) are discarded. Memory is bounded by ``max_bytes``: a message that grows
    past it is dropped (counted in :attr:`dropped`).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.dropped = 0
        self._buf = bytearray()
        self._skip = 0  # body bytes of a dropped message still to come

    @property
    def pending(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buf)

    def held(self) -> bytes:
        """The bytes held for an incomplete message (a copy)."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add stream bytes; return the messages they complete."""
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            data = data[n:]
        self._buf += data
        out: list[bytes] = []
        while True:
            msg = self._next()
            if msg is None:
                return out
            out.append(msg)

    def flush(self) -> list[bytes]:
        """End of stream: return a message whose header block is complete but whose body is
        short (the headers are what verification reads), and forget the rest."""
        buf = bytes(self._buf)
        self._buf.clear()
        self._skip = 0
        nl = buf.find(b"\n")
        if nl > 0 and _HEAD_END_RE.search(buf) is not None and is_start_line(buf[:nl]):
            return [buf]
        return []

    def _next(self) -> bytes | None:
        buf = self._buf
        while True:
            # Skip keep-alive CRLFs and lines that do not start a message (one pass).
            pos, n = 0, len(buf)
            while True:
                while pos < n and buf[pos] in (0x0D, 0x0A):
                    pos += 1
                if pos >= n:
                    buf.clear()
                    return None
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    del buf[:pos]
                    if len(buf) > self.max_bytes:
                        self.dropped += 1
                        buf.clear()
                    return None
                if is_start_line(bytes(buf[pos:nl])):
                    break
                pos = nl + 1
            if pos:
                del buf[:pos]
            m = _HEAD_END_RE.search(buf)
            if m is None:
                if len(buf) > self.max_bytes:
                    self._drop_message()
                return None
            total = m.end() + (content_length(bytes(buf[: m.start()])) or 0)
            if total > self.max_bytes:
                # Too big to hold: skip exactly this message (its length is known).
                self.dropped += 1
                self._skip = max(0, total - len(buf))
                del buf[:total]
                continue
            if len(buf) < total:
                return None
            msg = bytes(buf[:total])
            del buf[:total]
            return msg

    def _drop_message(self) -> None:
        """Discard the oversized message at the front; keep from the next start line on."""
        self.dropped += 1
        buf = self._buf
        nl = buf.find(b"\n")
        while nl >= 0:
            nxt = buf.find(b"\n", nl + 1)
            line = bytes(buf[nl + 1 : nxt if nxt >= 0 else len(buf)])
            if nxt >= 0 and is_start_line(line):
                del buf[: nl + 1]
                return
            nl = nxt
        buf.clear()
