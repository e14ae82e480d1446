"""SIP traffic: messages (parsed by the core), framing, and captures (pcap, pcapng, text, JSONL).

Re-exports the SIP message API of :mod:`shakenkit.core.sip_message` (:func:`parse_sip`,
:class:`SipMessage`, ...) so ``from shakenkit.sip import parse_sip`` reads as before, and owns
the capture readers and :func:`verify_records` (``capture``).

May import: :mod:`shakenkit.errors`, :mod:`shakenkit.certs`, :mod:`shakenkit.repository`,
:mod:`shakenkit.core` (docs/architecture.md).
"""

from ..core.sip_message import (
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_MESSAGE_BYTES,
    SipFramer,
    SipMessage,
    SipParseError,
    addr_uri,
    datagram_message,
    is_invite,
    is_start_line,
    malformed_message_verdict,
    parse_sip,
    uri_tn,
)
from .capture import (
    CallRecord,
    CaptureError,
    ScanResult,
    judged_at,
    read_records,
    sniff_file,
    sniff_format,
    verify_records,
)

__all__ = [
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "CallRecord",
    "CaptureError",
    "ScanResult",
    "SipFramer",
    "SipMessage",
    "SipParseError",
    "addr_uri",
    "datagram_message",
    "is_invite",
    "is_start_line",
    "judged_at",
    "malformed_message_verdict",
    "parse_sip",
    "read_records",
    "sniff_file",
    "sniff_format",
    "uri_tn",
    "verify_records",
]
