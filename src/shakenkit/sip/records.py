"""What the input readers yield: :class:`CallRecord`, and how they fail or warn.

Shared by the format readers (``pcap``/``packets`` for captures, ``text`` for SIP text files,
``jsonl`` for JSON Lines) and by :mod:`shakenkit.sip.capture`, which picks the reader.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ..core.sip_message import DEFAULT_MAX_MESSAGE_BYTES, SipMessage, SipParseError, parse_sip

__all__ = [
    "CallRecord",
    "CaptureError",
    "CaptureWarning",
    "Progress",
    "Warn",
    "plausible_time",
    "sip_record",
    "warn_default",
]

Progress = Callable[[int, int], None]
"""``progress(items, nbytes)``: frames or lines read so far, and bytes of the input read."""

Warn = Callable[[str], None]
"""Receives one warning sentence (the file name first)."""


class CaptureError(Exception):
    """A file cannot be read or is in no format this module knows (one human sentence)."""


class CaptureWarning(UserWarning):
    """A file was read only in part: it is truncated or corrupt at some offset (the message
    names the file and the byte offset), or some of its frames were cut short when captured.
    What was read before is kept; a partial message is never verified."""


def warn_default(message: str) -> None:
    """The default warning sink: :func:`warnings.warn` with :class:`CaptureWarning` (printed
    on stderr by Python's default filters), attributed to the first caller outside this
    package (the code iterating over the records)."""
    here = os.path.dirname(__file__)
    level = 2
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, CaptureWarning, stacklevel=level)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call read from a file.

    ``frame`` is the 1-based frame number in a capture (for a message reassembled from several
    TCP segments, the frame that completed it), ``line`` the 1-based line in a SIP text or JSON
    Lines file. ``time`` is the capture timestamp or the record's ``time`` (Unix seconds).
    SIP inputs give ``message`` (or ``error`` when the INVITE cannot be parsed); JSON Lines give
    ``identity``/``orig``/``dest`` directly. ``invalid`` explains a JSON Lines record that could
    not be used.
    """

    source: str
    frame: int | None = None
    line: int | None = None
    time: float | None = None
    message: SipMessage | None = None
    error: SipParseError | None = None
    identity: tuple[str, ...] = ()
    orig: str | None = None
    dest: str | None = None
    call_id: str | None = None
    transport: str | None = None
    invalid: str | None = None

    @property
    def location(self) -> str:
        """``source:frame N`` or ``source:line N``."""
        if self.frame is not None:
            return f"{self.source}:frame {self.frame}"
        if self.line is not None:
            return f"{self.source}:line {self.line}"
        return self.source


def sip_record(
    name: str,
    data: bytes,
    *,
    frame: int | None = None,
    line: int | None = None,
    ts: float | None = None,
    transport: str | None = None,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> CallRecord:
    """The record of one complete SIP message: parsed, or with the parse error."""
    try:
        msg = parse_sip(data, max_bytes=max_bytes)
    except SipParseError as e:
        return CallRecord(name, frame, line, ts, error=e, transport=transport)
    return CallRecord(
        name,
        frame,
        line,
        ts,
        message=msg,
        identity=msg.identity,
        orig=msg.calling_tn,
        dest=msg.called_tn,
        call_id=msg.call_id,
        transport=transport,
    )


_MAX_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def plausible_time(t: float | None) -> float | None:
    """A timestamp usable as a verification time (finite, 1970..9999), else None."""
    return t if t is not None and math.isfinite(t) and 0 <= t <= _MAX_TIME else None
