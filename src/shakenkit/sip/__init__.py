"""SIP traffic: messages, framing, and captures (pcap, pcapng, SIP text, JSON Lines).

Owns framing (``framing``: where a message ends in a datagram or a TCP stream), the input
readers, one module a format (``pcap`` for pcap/pcapng files, ``packets`` for link, IP, UDP and
TCP decoding, ``text`` for SIP text files, ``jsonl`` for JSON Lines; ``records`` for what they
yield), and ``capture``: :func:`read_records`, which picks the reader, and
:func:`verify_records`. The SIP request parser itself belongs to the
core (:mod:`shakenkit.core.sip_message`), because :meth:`Verifier.verify_sip` is core API; it is
re-exported here, so ``from shakenkit.sip import parse_sip`` reads as before.

May import: :mod:`shakenkit.errors`, :mod:`shakenkit.certs`, :mod:`shakenkit.repository`,
:mod:`shakenkit.core` (docs/architecture.md).
"""

from ..core.sip_message import (
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_MESSAGE_BYTES,
    SipMessage,
    SipParseError,
    addr_uri,
    malformed_message_verdict,
    parse_sip,
    uri_tn,
)
from .capture import (
    CallRecord,
    CaptureError,
    CaptureWarning,
    ScanResult,
    judged_at,
    read_records,
    sniff_file,
    sniff_format,
    verify_records,
)
from .framing import SipFramer, datagram_message, is_invite, is_start_line

__all__ = [
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "CallRecord",
    "CaptureError",
    "CaptureWarning",
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
