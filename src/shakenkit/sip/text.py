"""SIP text files: messages one after another, as trace tools export them.

A request or status line starts a new message when it follows a blank line, or when the
previous message's body has reached its ``Content-Length``, or when the previous message has
no ``Content-Length``. Lines are read with a limit (a line longer than the message limit is
cut, the rest skipped), so memory stays bounded whatever the file holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core.sip_message import SipParseError
from .framing import content_length, is_invite, is_start_line
from .records import CallRecord, Progress, sip_record

__all__ = ["lines", "read_sip_text"]


def lines(f: Any, limit: int) -> Iterator[bytes]:
    """The lines of ``f`` (with their endings); a line longer than ``limit`` comes back as its
    first ``limit + 1`` bytes, the rest skipped (memory stays bounded)."""
    while True:
        raw = f.readline(limit + 1)
        if not raw:
            return
        if len(raw) > limit and not raw.endswith(b"\n"):
            while True:
                rest = f.readline(limit + 1)
                if not rest or rest.endswith(b"\n"):
                    break
        yield raw


class _TextMessage:
    """A message being collected from a SIP text file."""

    def __init__(self, first: bytes, line: int) -> None:
        self.parts = [first]
        self.line = line
        self.size = len(first)
        self.in_body = False
        self.content_length: int | None = None
        self.body = 0
        self.blank_in_body = False
        self.oversize = False

    def ends_before(self, line: bytes) -> bool:
        """Does a start line here begin a new message? Yes unless we are inside a body whose
        Content-Length is not reached yet and no blank line separates the two."""
        return (
            not self.in_body
            or self.oversize
            or self.content_length is None
            or self.body >= self.content_length
            or self.blank_in_body
        )

    def body_ends_inside(self, raw: bytes) -> int:
        """Where in ``raw`` this message's Content-Length body ends, when a SIP start line
        follows there on the same line; else 0."""
        if not self.in_body or self.content_length is None or self.oversize:
            return 0
        cut = self.content_length - self.body
        line = raw.rstrip(b"\r\n")
        if 0 < cut < len(line) and not is_start_line(line) and is_start_line(line[cut:]):
            return cut
        return 0

    def add(self, raw: bytes, stripped: bytes, limit: int) -> None:
        self.size += len(raw)
        if self.size > limit:
            self.oversize = True
            del self.parts[1:]
        elif not self.oversize:
            self.parts.append(raw)
        if not self.in_body:
            if not stripped:
                self.in_body = True
            elif self.content_length is None:
                self.content_length = content_length(stripped)
        else:
            self.body += len(raw)
            self.blank_in_body = not stripped


def read_sip_text(
    name: str, f: Any, max_bytes: int, invites_only: bool, tick: Progress
) -> Iterator[CallRecord]:
    cur: _TextMessage | None = None

    def emit(m: _TextMessage) -> Iterator[CallRecord]:
        if invites_only and not is_invite(m.parts[0]):
            return
        if m.oversize:
            err = SipParseError(f"message is over the {max_bytes}-byte limit", line=m.line)
            yield CallRecord(name, line=m.line, error=err)
            return
        yield sip_record(name, b"".join(m.parts), line=m.line, max_bytes=max_bytes)

    nbytes = 0
    for line_no, raw in enumerate(lines(f, max_bytes), start=1):
        nbytes += len(raw)
        if not line_no % 4096:
            tick(line_no, nbytes)
        if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # UTF-8 byte order mark
        pieces = [raw]
        if cur is not None and (cut := cur.body_ends_inside(raw)):
            # A body without a final CRLF, the next message right after its last byte (a
            # raw TCP stream dump): split the line where Content-Length says.
            pieces = [raw[:cut], raw[cut:]]
        for piece in pieces:
            stripped = piece.rstrip(b"\r\n")
            if is_start_line(stripped) and (cur is None or cur.ends_before(stripped)):
                if cur is not None:
                    yield from emit(cur)
                cur = _TextMessage(piece, line_no)
            elif cur is not None:
                cur.add(piece, stripped, max_bytes)
            # else: text outside any message (comments, separators) is skipped
    if cur is not None:
        yield from emit(cur)
