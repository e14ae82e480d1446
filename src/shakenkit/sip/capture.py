"""Calls as they arrive: read SIP INVITEs from captures and files, and verify them.

Formats, sniffed by their first bytes (never by file name):

* **pcap** (magic ``a1b2c3d4``, ``d4c3b2a1``, ``a1b23c4d``, ``4d3cb2a1``) and **pcapng**
  (``0a0d0d0a``), optionally gzip-compressed. Read with scapy's ``RawPcapReader`` /
  ``RawPcapNgReader``; frames are decoded with scapy's layers: Ethernet (with VLAN tags), Linux
  cooked capture (SLL and SLL2), BSD loopback, raw IP; IPv4 and IPv6 (fragments reassembled);
  UDP, and TCP with stream reassembly (:class:`~shakenkit.sip.SipFramer`, by Content-Length), so
  an INVITE split over several segments, or several messages in one segment, are both read.
  SIP is recognised on any port by its start line; only ``INVITE`` requests are yielded
  (responses, other requests and ICMP-quoted copies are skipped).
* **SIP text**: messages one after another. A new message starts at a request or status line
  after a blank line, or right after the previous message's ``Content-Length`` body.
* **JSON Lines**: one object a line with ``identity`` (a header value or a list of them),
  ``orig``, ``dest`` and optional ``time`` (Unix seconds or ISO 8601) and ``call_id``.

Everything streams: memory stays bounded whatever the file length (TCP streams, IP fragments
and messages are capped and expire).

:func:`verify_records` runs a :class:`~shakenkit.Verifier` over the records. Captured calls are
checked after the fact, so freshness is judged at the capture time of the packet (or the record's
``time``, or the message's ``Date``), unless an explicit ``now`` is given.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import io
import json
import math
import os
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Literal

from ..core.sip_message import (
    DEFAULT_MAX_MESSAGE_BYTES,
    SipMessage,
    SipParseError,
    malformed_message_verdict,
    parse_sip,
)
from .framing import SipFramer, content_length, datagram_message, is_invite, is_start_line

if TYPE_CHECKING:
    from ..core.verdict import Verdict
    from ..core.verifier import Verifier

__all__ = [
    "CallRecord",
    "CaptureError",
    "ScanResult",
    "read_records",
    "sniff_file",
    "sniff_format",
    "verify_records",
]

Format = Literal["pcap", "pcapng", "sip", "jsonl"]

PCAP_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_GZIP_MAGIC = b"\x1f\x8b"
# LINKTYPE_* values (tcpdump.org link-layer header types) this module decodes.
SUPPORTED_LINKTYPES = {
    0: "NULL (BSD loopback)",
    1: "Ethernet",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    108: "OpenBSD loopback",
    113: "Linux cooked capture (SLL)",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked capture v2 (SLL2)",
}
MAX_TCP_STREAMS = 4096
MAX_FRAGMENTED_DATAGRAMS = 256
STREAM_IDLE_SECONDS = 120.0
FRAGMENT_TIMEOUT_SECONDS = 30.0
_MAX_OOO_SEGMENTS = 64


class CaptureError(Exception):
    """A file cannot be read or is in no format this module knows (one human sentence)."""


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


# -- sniffing and opening ---------------------------------------------------------------------


def sniff_format(head: bytes) -> Format | None:
    """The format of a file from its first bytes, or None when unknown."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if text[:1] == b"{":
        return "jsonl"
    # SIP text: a start line opens the file, or one follows a few lines of comments.
    lines = text.split(b"\n")
    for line in lines[:-1] if len(lines) > 1 else lines:
        if is_start_line(line.rstrip(b"\r")):
            return "sip"
    return None


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with its first bytes (already read for sniffing) put back."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def _no_progress(n: int) -> None:
    pass


def _rewound(f: Any, n: int) -> tuple[bytes, Any]:
    """Read the first ``n`` bytes of ``f`` and return them with a stream positioned at 0."""
    head = f.read(n) or b""
    if f.seekable():
        f.seek(0)
        return head, f
    return head, io.BufferedReader(_Prefixed(head, f))


def sniff_file(path: str | os.PathLike[str]) -> Format | None:
    """The format of the file at ``path`` (looking inside gzip), None for an empty file.
    Raises :class:`CaptureError` when it cannot be read or its format is unknown."""
    name = os.fspath(path)
    if os.path.isdir(name):
        raise CaptureError(f"cannot read {name}: is a directory")
    try:
        with open(name, "rb") as f:
            head = f.read(4096)
            if head[:2] == _GZIP_MAGIC:
                f.seek(0)
                with gzip.GzipFile(fileobj=f, mode="rb") as g:
                    head = g.read(4096)
    except (OSError, EOFError) as e:
        raise CaptureError(f"cannot read {name}: {getattr(e, 'strerror', None) or e}") from e
    fmt = sniff_format(head)
    if fmt is None and head.strip():
        raise CaptureError(f"{name}: unknown format (not pcap, pcapng, SIP messages or JSON Lines)")
    return fmt


def read_records(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    invites_only: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Iterator[CallRecord]:
    """Read the calls in a file (a path, ``-`` for stdin, or a binary file object), whatever its
    format (sniffed; gzip-compressed files too). Raises :class:`CaptureError` when the file
    cannot be opened or its format is unknown. A capture that breaks off mid-way ends the
    iteration quietly, keeping what was read (as tshark does). With ``invites_only`` (the
    default) only INVITE requests are yielded from SIP inputs. ``progress`` is called now and
    then with the number of frames or lines read so far."""
    owned: list[Any] = []
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        if name == "-":
            import sys

            name, f = "<stdin>", sys.stdin.buffer
        else:
            if os.path.isdir(name):
                raise CaptureError(f"cannot read {name}: is a directory")
            try:
                f = open(name, "rb")  # noqa: SIM115 - closed in the finally clause below
            except OSError as e:
                raise CaptureError(f"cannot read {name}: {e.strerror or e}") from e
            owned.append(f)
    else:
        name, f = str(getattr(source, "name", "<stream>")), source
    try:
        try:
            head, f = _rewound(f, 4096)
            if head[:2] == _GZIP_MAGIC:
                f = gzip.GzipFile(fileobj=f, mode="rb")
                owned.append(f)
                head, f = _rewound(f, 4096)
        except (OSError, EOFError) as e:
            raise CaptureError(f"cannot read {name}: {e}") from e
        fmt = sniff_format(head)
        if fmt is None:
            if not head.strip():
                return  # an empty file holds no calls
            raise CaptureError(
                f"{name}: unknown format (not pcap, pcapng, SIP messages or JSON Lines)"
            )
        tick = progress or _no_progress
        if fmt in ("pcap", "pcapng"):
            yield from _read_capture(name, f, fmt, max_message_bytes, invites_only, tick)
        else:
            reader = (
                _read_sip_text(name, f, max_message_bytes, invites_only, tick)
                if fmt == "sip"
                else _read_jsonl(name, f, max_message_bytes, tick)
            )
            try:
                yield from reader
            except (EOFError, zlib.error, gzip.BadGzipFile) as e:
                # A compressed text file that breaks off mid-stream (what was read is kept).
                raise CaptureError(f"cannot read {name}: compressed data ends early ({e})") from e
    finally:
        for o in reversed(owned):
            o.close()


# -- captures ---------------------------------------------------------------------------------


def _sip_record(
    name: str,
    data: bytes,
    *,
    frame: int | None = None,
    line: int | None = None,
    ts: float | None = None,
    transport: str | None = None,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> CallRecord:
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


@dataclass(slots=True)
class _TcpStream:
    framer: SipFramer
    next_seq: int | None = None
    ooo: dict[int, bytes] = field(default_factory=dict)
    last_time: float = 0.0
    last_frame: int = 0


@dataclass(slots=True)
class _Datagram:
    parts: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None
    first_time: float = 0.0
    size: int = 0


class _Scapy:
    """scapy's reader and layer classes, imported on first use (importing scapy costs ~0.2 s).

    scapy's own annotations are partial, so the classes are held as ``Any`` here: this class is
    the typed boundary between shakenkit and scapy.
    """

    _instance: _Scapy | None = None

    def __init__(self) -> None:
        from scapy.config import conf
        from scapy.layers import l2 as _l2  # noqa: F401 - registers the link-layer types
        from scapy.layers.inet import IP, TCP, UDP
        from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv46, _IPv6ExtHdr
        from scapy.packet import NoPayload
        from scapy.utils import RawPcapNgReader, RawPcapReader

        self.IP: Any = IP
        self.IPv6: Any = IPv6
        self.IPv6ExtHdr: Any = _IPv6ExtHdr
        self.IPv6ExtHdrFragment: Any = IPv6ExtHdrFragment
        self.TCP: Any = TCP
        self.UDP: Any = UDP
        self.NoPayload: Any = NoPayload
        self._readers: dict[str, Any] = {"pcap": RawPcapReader, "pcapng": RawPcapNgReader}
        num2layer: Any = conf.l2types.num2layer
        self.link: dict[int, Any] = {
            lt: num2layer[lt] for lt in SUPPORTED_LINKTYPES if lt in num2layer
        }
        for raw in (12, 14, 101):
            self.link[raw] = IPv46

    @classmethod
    def get(cls) -> _Scapy:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def open_reader(self, f: Any, fmt: str) -> Any:
        """scapy's raw reader for ``f`` (positioned at the file's start)."""
        return self._readers[fmt](f)


class _Decoder:
    """Per-capture state: TCP streams and IP fragments, both bounded and expiring."""

    def __init__(self, name: str, max_bytes: int, invites_only: bool) -> None:
        self.L = _Scapy.get()
        self.name = name
        self.max_bytes = max_bytes
        self.invites_only = invites_only
        self.streams: OrderedDict[tuple[Any, ...], _TcpStream] = OrderedDict()
        self.fragments: OrderedDict[tuple[Any, ...], _Datagram] = OrderedDict()
        self.holding: set[tuple[Any, ...]] = set()  # streams holding part of a message
        self.last_sweep = 0.0

    @property
    def busy(self) -> bool:
        """True while a TCP stream holds part of a message or an IP datagram is incomplete:
        then every frame must be decoded, not only those that look like SIP."""
        return bool(self.fragments) or bool(self.holding)

    def frame(self, linktype: int, data: bytes, frame: int, ts: float) -> list[CallRecord]:
        cls = self.L.link.get(linktype)
        if cls is None:
            return []
        try:
            return self._network(cls(data), frame, ts)
        except Exception:  # scapy may raise on truncated or odd frames: skip the frame
            return []

    def _network(self, pkt: Any, frame: int, ts: float) -> list[CallRecord]:
        L = self.L
        layer = pkt
        for _ in range(8):  # link layer, VLAN tags ... down to the first IP header
            if layer is None or isinstance(layer, L.NoPayload):
                return []
            t = type(layer)
            if t is L.IP or t is L.IPv6:
                break
            layer = layer.payload
        else:
            return []
        if type(layer) is L.IP:
            if layer.flags.MF or layer.frag:
                whole = self._reassemble(
                    ("4", layer.src, layer.dst, layer.id, layer.proto),
                    layer.frag * 8,
                    bool(layer.flags.MF),
                    bytes(layer.payload),
                    ts,
                )
                if whole is None:
                    return []
                return self._transport_bytes(layer.proto, layer.src, layer.dst, whole, frame, ts)
            return self._transport(layer.payload, layer.src, layer.dst, frame, ts)
        src, dst = layer.src, layer.dst
        nxt = layer.payload
        for _ in range(8):  # IPv6 extension headers
            if type(nxt) is L.IPv6ExtHdrFragment:
                whole = self._reassemble(
                    ("6", src, dst, nxt.id), nxt.offset * 8, bool(nxt.m), bytes(nxt.payload), ts
                )
                if whole is None:
                    return []
                return self._transport_bytes(nxt.nh, src, dst, whole, frame, ts)
            if isinstance(nxt, L.IPv6ExtHdr):
                nxt = nxt.payload
                continue
            break
        return self._transport(nxt, src, dst, frame, ts)

    def _transport_bytes(
        self, proto: int, src: str, dst: str, data: bytes, frame: int, ts: float
    ) -> list[CallRecord]:
        L = self.L
        try:
            if proto == 17:
                return self._transport(L.UDP(data), src, dst, frame, ts)
            if proto == 6:
                return self._transport(L.TCP(data), src, dst, frame, ts)
        except Exception:  # a malformed reassembled datagram
            return []
        return []

    def _transport(self, seg: Any, src: str, dst: str, frame: int, ts: float) -> list[CallRecord]:
        L = self.L
        if type(seg) is L.UDP:
            msg = datagram_message(bytes(seg.payload))
            if msg is None or (self.invites_only and not is_invite(msg)):
                return []
            return [self._record(msg, frame, ts, "udp")]
        if type(seg) is L.TCP:
            return self._tcp((src, seg.sport, dst, seg.dport), seg, frame, ts)
        return []

    def _record(self, msg: bytes, frame: int, ts: float, transport: str) -> CallRecord:
        return _sip_record(
            self.name, msg, frame=frame, ts=ts, transport=transport, max_bytes=self.max_bytes
        )

    def _tcp(self, key: tuple[Any, ...], seg: Any, frame: int, ts: float) -> list[CallRecord]:
        flags = int(seg.flags)
        payload = bytes(seg.payload)
        st = self.streams.get(key)
        if st is None:
            if not payload:
                return []
            st = self.streams[key] = _TcpStream(SipFramer(self.max_bytes))
            if len(self.streams) > MAX_TCP_STREAMS:
                old, _ = self.streams.popitem(last=False)
                self.holding.discard(old)
        else:
            self.streams.move_to_end(key)
        st.last_time, st.last_frame = ts, frame
        seq = int(seg.seq)
        if flags & 0x02:  # SYN takes one sequence number
            seq = (seq + 1) & 0xFFFFFFFF
        msgs: list[bytes] = []
        if payload:
            msgs.extend(self._segment(st, seq, payload))
        if flags & 0x05:  # FIN or RST: the stream ends
            msgs.extend(st.framer.flush())
            self.streams.pop(key, None)
        if st.framer.pending and key in self.streams:
            self.holding.add(key)
        else:
            self.holding.discard(key)
        return [
            self._record(m, frame, ts, "tcp") for m in msgs if not self.invites_only or is_invite(m)
        ]

    def _segment(self, st: _TcpStream, seq: int, data: bytes) -> list[bytes]:
        if st.next_seq is None:
            st.next_seq = seq
        ahead = (seq - st.next_seq) & 0xFFFFFFFF
        out: list[bytes] = []
        if ahead == 0:
            out.extend(self._feed(st, data))
        elif ahead < 1 << 31:
            if not st.framer.pending:
                # Nothing is waiting: the gap held no part of a message we hold; resynchronize.
                st.ooo.clear()
                st.next_seq = seq
                out.extend(self._feed(st, data))
            elif len(st.ooo) < _MAX_OOO_SEGMENTS:
                st.ooo[seq] = data  # out of order: wait for the gap to fill
            else:  # the gap never filled: give up on the held message
                st.framer = SipFramer(self.max_bytes)
                st.ooo.clear()
                st.next_seq = seq
                out.extend(self._feed(st, data))
        else:
            behind = (1 << 32) - ahead  # retransmission, possibly with new bytes at the end
            if behind < len(data):
                out.extend(self._feed(st, data[behind:]))
        return out

    def _feed(self, st: _TcpStream, data: bytes) -> list[bytes]:
        out = st.framer.feed(data)
        assert st.next_seq is not None
        st.next_seq = (st.next_seq + len(data)) & 0xFFFFFFFF
        while st.ooo:
            for s in list(st.ooo):
                ahead = (s - st.next_seq) & 0xFFFFFFFF
                if ahead == 0 or ahead >= 1 << 31:
                    d = st.ooo.pop(s)
                    behind = 0 if ahead == 0 else (1 << 32) - ahead
                    if behind < len(d):
                        out.extend(st.framer.feed(d[behind:]))
                        st.next_seq = (st.next_seq + len(d) - behind) & 0xFFFFFFFF
                    break
            else:
                break
        return out

    def _reassemble(
        self, key: tuple[Any, ...], offset: int, more: bool, data: bytes, ts: float
    ) -> bytes | None:
        dg = self.fragments.get(key)
        if dg is None:
            dg = self.fragments[key] = _Datagram(first_time=ts)
            if len(self.fragments) > MAX_FRAGMENTED_DATAGRAMS:
                self.fragments.popitem(last=False)
        if offset + len(data) > 65_535 or dg.size + len(data) > 2 * 65_535:
            self.fragments.pop(key, None)
            return None
        dg.parts[offset] = data
        dg.size += len(data)
        if not more:
            dg.total = offset + len(data)
        if dg.total is None:
            return None
        buf = bytearray()
        for off in sorted(dg.parts):
            if off > len(buf):
                return None  # a hole: wait for more fragments
            piece = dg.parts[off]
            buf[off : off + len(piece)] = piece
        if len(buf) < dg.total:
            return None
        self.fragments.pop(key, None)
        return bytes(buf[: dg.total])

    def sweep(self, ts: float) -> list[CallRecord]:
        """Expire idle TCP streams (flushing a held message) and stale fragments."""
        out: list[CallRecord] = []
        for key in [k for k, s in self.streams.items() if ts - s.last_time > STREAM_IDLE_SECONDS]:
            st = self.streams.pop(key)
            self.holding.discard(key)
            out.extend(self._flush(st))
        for key in [
            k for k, d in self.fragments.items() if ts - d.first_time > FRAGMENT_TIMEOUT_SECONDS
        ]:
            self.fragments.pop(key)
        return out

    def finish(self) -> list[CallRecord]:
        """End of capture: flush messages whose headers arrived but whose body did not."""
        out: list[CallRecord] = []
        for st in self.streams.values():
            out.extend(self._flush(st))
        self.streams.clear()
        self.holding.clear()
        self.fragments.clear()
        return out

    def _flush(self, st: _TcpStream) -> list[CallRecord]:
        return [
            self._record(m, st.last_frame, st.last_time, "tcp")
            for m in st.framer.flush()
            if not self.invites_only or is_invite(m)
        ]


def _read_capture(
    name: str, f: Any, fmt: Format, max_bytes: int, invites_only: bool, tick: Callable[[int], None]
) -> Iterator[CallRecord]:
    try:
        reader = _Scapy.get().open_reader(f, fmt)
    except Exception as e:  # scapy raises Scapy_Exception and friends for bad headers
        raise CaptureError(f"{name}: not a readable {fmt} file ({e})") from e
    dec = _Decoder(name, max_bytes, invites_only)
    frame = 0
    linktype = getattr(reader, "linktype", 1)
    nano = bool(getattr(reader, "nano", False))
    while True:
        try:
            data, meta = reader._read_packet()
        except EOFError:
            break
        except Exception:  # a corrupt block: stop like tshark does, keep what was read
            break
        frame += 1
        if not frame % 4096:
            tick(frame)
        if fmt == "pcapng":
            lt = meta.linktype
            ts: float | None = (
                ((meta.tshigh << 32) | meta.tslow) / meta.tsresol
                if meta.tshigh is not None and meta.tsresol
                else None
            )
        else:
            lt = linktype
            ts = meta.sec + meta.usec / (1e9 if nano else 1e6)
        ts = _plausible_time(ts)
        if lt not in SUPPORTED_LINKTYPES:
            continue
        t = ts if ts is not None else 0.0
        # Decoding a frame with scapy costs ~0.1 ms: decode only what can hold SIP (or a piece
        # of it: a TCP segment continuing a held message, an IP fragment).
        if b"SIP/2.0" in data or b"INVITE" in data or dec.busy or _ip_fragment(lt, data):
            for rec in dec.frame(lt, data, frame, t):
                yield rec if ts is not None else _untimed(rec)
        if t - dec.last_sweep > 10.0:
            dec.last_sweep = t
            yield from dec.sweep(t)
    yield from dec.finish()


# Where the IP header starts for each link type (Ethernet: after the EtherType, VLAN tags
# aside). Only used to spot IP fragments cheaply; scapy decodes the frame.
_IP_OFFSET = {0: 4, 108: 4, 12: 0, 14: 0, 101: 0, 228: 0, 229: 0, 113: 16, 276: 20}


def _ip_fragment(linktype: int, data: bytes) -> bool:
    """Is this frame an IPv4 fragment or an IPv6 packet with a Fragment header first?"""
    if linktype == 1:
        off = 14
        while data[off - 2 : off] in (b"\x81\x00", b"\x88\xa8") and off < 30:  # 802.1Q/ad
            off += 4
    else:
        off = _IP_OFFSET.get(linktype, -1)
        if off < 0:
            return False
    if len(data) < off + 8:
        return False
    version = data[off] >> 4
    if version == 4:
        return bool(int.from_bytes(data[off + 6 : off + 8], "big") & 0x3FFF)  # MF or offset
    return version == 6 and data[off + 6] == 44  # Next Header: Fragment (RFC 8200 §4.5)


def _untimed(rec: CallRecord) -> CallRecord:
    from dataclasses import replace

    return replace(rec, time=None)


# -- SIP text files ---------------------------------------------------------------------------


def _lines(f: Any, limit: int) -> Iterator[bytes]:
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


def _read_sip_text(
    name: str, f: Any, max_bytes: int, invites_only: bool, tick: Callable[[int], None]
) -> Iterator[CallRecord]:
    cur: _TextMessage | None = None

    def emit(m: _TextMessage) -> Iterator[CallRecord]:
        if invites_only and not is_invite(m.parts[0]):
            return
        if m.oversize:
            err = SipParseError(f"message is over the {max_bytes}-byte limit", line=m.line)
            yield CallRecord(name, line=m.line, error=err)
            return
        yield _sip_record(name, b"".join(m.parts), line=m.line, max_bytes=max_bytes)

    for line_no, raw in enumerate(_lines(f, max_bytes), start=1):
        if not line_no % 4096:
            tick(line_no)
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


# -- JSON Lines -------------------------------------------------------------------------------


def _plausible_time(t: float | None) -> float | None:
    """A timestamp usable as a verification time (finite, 1970..9999), else None."""
    return t if t is not None and math.isfinite(t) and 0 <= t <= _MAX_TIME else None


_MAX_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def _time_value(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("time is not a number")
    if isinstance(v, int | float):
        t = float(v)
    elif isinstance(v, str):
        s = v.strip()
        try:
            t = float(s)
        except ValueError:
            d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=_dt.timezone.utc)
            t = d.timestamp()
    else:
        raise ValueError("time is not a number or ISO 8601 string")
    if _plausible_time(t) is None:
        raise ValueError(f"time {v!r} is not a Unix time between 1970 and 9999")
    return t


def _number_value(v: Any, what: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise ValueError(f"{what} is not a string")


def _jsonl_record(name: str, line_no: int, raw: bytes) -> CallRecord:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return CallRecord(name, line=line_no, invalid=f"not valid JSON ({str(e)[:80]})")
    if not isinstance(obj, dict):
        return CallRecord(name, line=line_no, invalid="not a JSON object")
    try:
        ident = obj.get("identity")
        if ident is None:
            values: tuple[str, ...] = ()
        elif isinstance(ident, str):
            values = (ident,) if ident.strip() else ()
        elif isinstance(ident, list) and all(isinstance(x, str) for x in ident):
            values = tuple(x for x in ident if x.strip())
        else:
            raise ValueError("identity is not a string or a list of strings")
        call_id = obj.get("call_id")
        return CallRecord(
            name,
            line=line_no,
            time=_time_value(obj.get("time")),
            identity=values,
            orig=_number_value(obj.get("orig"), "orig"),
            dest=_number_value(obj.get("dest"), "dest"),
            call_id=None if call_id is None else str(call_id),
        )
    except (ValueError, OverflowError) as e:
        return CallRecord(name, line=line_no, invalid=str(e)[:120])


def _read_jsonl(
    name: str, f: Any, max_bytes: int, tick: Callable[[int], None]
) -> Iterator[CallRecord]:
    for line_no, raw in enumerate(_lines(f, max_bytes), start=1):
        if not line_no % 4096:
            tick(line_no)
        if len(raw) > max_bytes:
            yield CallRecord(name, line=line_no, invalid=f"line is over {max_bytes} bytes")
        elif raw.strip():
            yield _jsonl_record(name, line_no, raw)


# -- verification -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The verdict of one record's call (or of a call without an Identity header).

    ``header`` is 0 when the call carried Identity headers (each one's outcome is in
    ``verdict.headers``), None for a call without one or a message that could not be parsed;
    ``verified_at`` the time freshness was judged at.
    """

    record: CallRecord
    verdict: Verdict
    header: int | None
    verified_at: float

    def to_dict(self) -> dict[str, Any]:
        """The verdict's JSON fields plus where it came from (``source``, ``frame`` or ``line``,
        ``call_id``, ``time``, ``verified_at``, ``transport``, ``calling``, ``called``)."""
        try:
            out: dict[str, Any] = json.loads(self.verdict.model_dump_json())
        except ValueError:  # text pydantic cannot encode (a lone surrogate in a claim)
            out = self.verdict.model_dump()
        r = self.record
        out["source"] = r.source
        if r.frame is not None:
            out["frame"] = r.frame
            out["transport"] = r.transport
        else:
            out["line"] = r.line
        out["call_id"] = r.call_id
        out["header"] = self.header
        out["time"] = r.time
        out["verified_at"] = self.verified_at
        out["calling"] = r.orig
        out["called"] = r.dest
        return out


def judged_at(record: CallRecord, now: float | None = None) -> float:
    """The time a record's freshness is judged at: ``now`` when given, else the capture time or
    the record's ``time``, else the message's Date header, else the current time."""
    if now is not None:
        return now
    if record.time is not None:
        return record.time
    if record.message is not None and record.message.date is not None:
        return float(record.message.date)
    return time.time()


def verify_records(
    verifier: Verifier,
    records: Iterable[CallRecord],
    *,
    now: float | None = None,
) -> Iterator[ScanResult]:
    """Verify each record: one :class:`ScanResult` per call, the call's verdict with one
    :class:`~shakenkit.HeaderResult` per Identity header in ``verdict.headers`` (a
    No-TN-Validation result for a call without any; a 438 result for an INVITE that cannot be
    parsed; a forwarded call's ``div`` PASSporTs linked, RFC 8946). Records marked ``invalid``
    (unusable JSON Lines) are skipped: check ``record.invalid`` on the input side if you need
    to count them."""
    for rec in records:
        if rec.invalid is not None:
            continue
        t = judged_at(rec, now)
        if rec.error is not None:
            yield ScanResult(rec, malformed_message_verdict(rec.error), None, t)
        elif rec.message is not None:
            v = verifier.verify_sip(rec.message, now=t)
            yield ScanResult(rec, v, 0 if rec.message.identity else None, t)
        elif not rec.identity:
            yield ScanResult(rec, verifier.verify(None, now=t), None, t)
        else:
            v = verifier.verify(list(rec.identity), orig=rec.orig, dest=rec.dest, now=t)
            yield ScanResult(rec, v, 0, t)
