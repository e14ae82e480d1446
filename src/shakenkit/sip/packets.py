"""Captured frames down to SIP messages: link layer, IP, UDP and TCP, decoded by hand.

:class:`PacketDecoder` takes the frames of one capture (bytes and a link type) and returns the
SIP INVITEs they complete as :class:`~shakenkit.sip.records.CallRecord`:

* **link types** (tcpdump.org LINKTYPE_* values): Ethernet (1; 802.1Q, 802.1ad and QinQ tags),
  Linux cooked capture SLL (113) and SLL2 (276), BSD loopback (0, 108), raw IP (101, 12, 14:
  IPv4 or IPv6 by version; 228 IPv4; 229 IPv6);
* **IPv4** (RFC 791) and **IPv6** (RFC 8200: Hop-by-Hop, Routing, Destination Options,
  Mobility, HIP, Shim6 and AH headers skipped), Ethernet padding trimmed by the IP length;
  **fragments reassembled** (IPv4, and the IPv6 Fragment header, RFC 8200 §4.5);
* **UDP** (one SIP message a datagram, RFC 3261 §18.3), and **TCP** (RFC 9293) with stream
  reassembly: segments in sequence order (retransmissions and overlaps trimmed, out-of-order
  segments held, sequence numbers wrap), split into messages by Content-Length
  (:class:`~shakenkit.sip.framing.SipFramer`).

Every frame is hostile: each length is checked against the bytes present before it is used,
and a frame that does not decode is skipped, never an exception. Memory is bounded: streams,
the streams holding part of a message, out-of-order bytes and IP datagrams being reassembled
are all capped (the constants below) and expire. A frame cut short when it was captured (the
capture's snapshot length) never yields a partial message: messages wholly inside the part
that was captured are read, the rest is dropped with one warning.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from ..core.sip_message import DEFAULT_MAX_MESSAGE_BYTES
from .framing import SipFramer, datagram_message, is_invite, is_start_line
from .records import CallRecord, Warn, sip_record, warn_default

__all__ = [
    "FRAGMENT_TIMEOUT_SECONDS",
    "MAX_FRAGMENTED_DATAGRAMS",
    "MAX_HOLDING_STREAMS",
    "MAX_TCP_STREAMS",
    "STREAM_IDLE_SECONDS",
    "SUPPORTED_LINKTYPES",
    "PacketDecoder",
    "probe",
    "tcp_invite",
]

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
"""TCP streams followed at once (least recently used dropped)."""
MAX_HOLDING_STREAMS = 256
"""Streams holding part of a message at once (each at most two message limits of bytes: the
message so far and out-of-order segments); the oldest gives up its held bytes."""
MAX_FRAGMENTED_DATAGRAMS = 256
"""IP datagrams being reassembled at once (each at most 128 KiB)."""
STREAM_IDLE_SECONDS = 120.0
FRAGMENT_TIMEOUT_SECONDS = 30.0
_MAX_OOO_SEGMENTS = 64

_ETH_IP = {0x0800: 4, 0x86DD: 6}
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
# IPv6 extension headers skipped on the way to the transport (RFC 8200 §4; RFC 7045):
# Hop-by-Hop 0, Routing 43, Destination Options 60, Mobility 135, HIP 139, Shim6 140
# ((length + 1) * 8 bytes); AH 51 ((length + 2) * 4 bytes, RFC 4302 §2.2).
_IPV6_EXT = frozenset((0, 43, 60, 135, 139, 140))
_U16 = struct.Struct("!H").unpack_from
_U32 = struct.Struct("!I").unpack_from
_TCP_HEAD = struct.Struct("!HHI").unpack_from
Key = tuple[bytes, int, bytes, int]


def ip_offset(linktype: int, data: bytes) -> tuple[int, int]:
    """Where the IP header starts in a frame, and the IP version the link layer announces
    (0: take it from the header). ``(-1, 0)`` when the frame carries no IP."""
    n = len(data)
    if linktype == 1:  # Ethernet II: EtherType after the MACs, 802.1Q/ad tags before it
        if n < 14:
            return -1, 0
        et = (data[12] << 8) | data[13]
        off = 14
        for _ in range(3):
            if et not in _VLAN_TPIDS:
                break
            if n < off + 4:
                return -1, 0
            et = (data[off + 2] << 8) | data[off + 3]
            off += 4
        v = _ETH_IP.get(et, -1)
        return (off, v) if v > 0 else (-1, 0)
    if linktype == 113:  # SLL: protocol type at 14 (an EtherType)
        if n < 16:
            return -1, 0
        v = _ETH_IP.get((data[14] << 8) | data[15], -1)
        return (16, v) if v > 0 else (-1, 0)
    if linktype == 276:  # SLL2: protocol type first, 20-byte header
        if n < 20:
            return -1, 0
        v = _ETH_IP.get((data[0] << 8) | data[1], -1)
        return (20, v) if v > 0 else (-1, 0)
    if linktype in (0, 108):  # loopback: a 4-byte address family, then IP
        return 4, 0
    if linktype in (12, 14, 101):
        return 0, 0
    if linktype == 228:
        return 0, 4
    if linktype == 229:
        return 0, 6
    return -1, 0


def tcp_invite(data: bytes, ip: int, end: int) -> bool:
    """Does the IPv4 packet at ``data[ip:end]``, a TCP segment, carry a payload that starts
    with ``INVITE`` (after keep-alive CRLFs)? Such a segment may hold an INVITE whose request
    line is cut before ``SIP/2.0``, so it must be decoded although it holds no ``SIP/2.0``."""
    p = ip + (data[ip] & 0x0F) * 4
    if p + 20 > end:
        return False
    p += (data[p + 12] >> 4) * 4
    while p < end and data[p] in (0x0D, 0x0A):
        p += 1
    return data.startswith(b"INVITE", p)


def probe(linktype: int, data: bytes, start: int, end: int) -> int:
    """A cheap look at the frame in ``data[start:end]``, which holds no ``SIP/2.0``: 1 when it
    is an IP fragment (IPv4 MF or offset; IPv6 with a Fragment header first), 2 when it is a
    TCP segment starting with ``INVITE``, else 0 (nothing to decode)."""
    off, _ = ip_offset(linktype, data[start : min(end, start + 64)])
    if off < 0:
        return 0
    p = start + off
    if end < p + 20:
        return 0
    version = data[p] >> 4
    if version == 4:
        if data[p + 6] & 0x3F or data[p + 7]:  # MF or a fragment offset
            return 1
        return 2 if data[p + 9] == 6 and tcp_invite(data, p, end) else 0
    if version == 6 and end >= p + 40:
        nh, q = data[p + 6], p + 40
        for _ in range(8):  # extension headers before a Fragment header or TCP
            if nh == 44:
                return 1
            if (nh not in _IPV6_EXT and nh != 51) or q + 2 > end:
                break
            nh, q = data[q], q + ((data[q + 1] + 2) * 4 if nh == 51 else (data[q + 1] + 1) * 8)
        if nh == 6 and q + 20 <= end:
            q += (data[q + 12] >> 4) * 4
            while q < end and data[q] in (0x0D, 0x0A):
                q += 1
            return 2 if data.startswith(b"INVITE", q) else 0
    return 0


@dataclass(slots=True)
class _TcpStream:
    framer: SipFramer
    next_seq: int | None = None
    ooo: dict[int, bytes] = field(default_factory=dict)
    ooo_bytes: int = 0
    last_time: float = 0.0
    last_frame: int = 0


@dataclass(slots=True)
class _Datagram:
    parts: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None
    first_time: float = 0.0
    size: int = 0


class PacketDecoder:
    """Per-capture state: TCP streams and IP fragments, bounded and expiring.

    :meth:`frame` takes one frame. ``hit`` says whether the frame may start SIP (it holds
    ``SIP/2.0``, or it is a TCP segment starting with ``INVITE``); a frame without is only
    used to complete a fragmented datagram or a message a stream holds (:attr:`busy`).
    """

    def __init__(
        self,
        name: str,
        max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        invites_only: bool = True,
        warn: Warn = warn_default,
    ) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.invites_only = invites_only
        self.warn = warn
        self.streams: OrderedDict[Key, _TcpStream] = OrderedDict()
        self.holding: dict[Key, None] = {}  # streams holding part of a message, oldest first
        self.fragments: OrderedDict[tuple[object, ...], _Datagram] = OrderedDict()
        self.last_sweep = 0.0
        self.cut_frames = 0  # frames holding SIP that were cut short when captured

    @property
    def busy(self) -> bool:
        """True while a TCP stream holds part of a message or an IP datagram is incomplete:
        then frames without a SIP marker must be decoded too."""
        return bool(self.fragments) or bool(self.holding)

    # -- frames ------------------------------------------------------------------------------

    def frame(
        self, linktype: int, data: bytes, frame: int, ts: float | None, hit: bool = True
    ) -> list[CallRecord]:
        """The records a frame completes (usually none)."""
        t = ts if ts is not None else 0.0
        out: list[CallRecord] = []
        if t - self.last_sweep > 10.0:
            self.last_sweep = t
            out.extend(self.sweep(t))
        off, version = ip_offset(linktype, data)
        if off < 0 or len(data) < off + 20:
            return out
        v = data[off] >> 4
        if version and v != version:
            return out
        if v == 4:
            out.extend(self._ipv4(data, off, frame, ts, hit))
        elif v == 6:
            out.extend(self._ipv6(data, off, frame, ts, hit))
        return out

    def _ipv4(
        self, data: bytes, off: int, frame: int, ts: float | None, hit: bool
    ) -> list[CallRecord]:
        ihl = (data[off] & 0x0F) * 4
        (total,) = _U16(data, off + 2)
        if ihl < 20 or total < ihl or len(data) < off + ihl:
            return []
        end = off + total
        cut = end > len(data)  # the frame was cut short when captured
        (flags,) = _U16(data, off + 6)
        proto = data[off + 9]
        src, dst = data[off + 12 : off + 16], data[off + 16 : off + 20]
        payload = data[off + ihl : end]
        if flags & 0x3FFF:  # MF or a fragment offset: a fragment (RFC 791 §3.2)
            (ident,) = _U16(data, off + 4)
            key = (4, src, dst, ident, proto)
            if cut:
                self.fragments.pop(key, None)
                return []
            whole = self._reassemble(key, (flags & 0x1FFF) * 8, bool(flags & 0x2000), payload, ts)
            if whole is None:
                return []
            return self._transport(proto, src, dst, whole, False, frame, ts, True)
        return self._transport(proto, src, dst, payload, cut, frame, ts, hit)

    def _ipv6(
        self, data: bytes, off: int, frame: int, ts: float | None, hit: bool
    ) -> list[CallRecord]:
        if len(data) < off + 40:
            return []
        (plen,) = _U16(data, off + 4)
        nh = data[off + 6]
        src, dst = data[off + 8 : off + 24], data[off + 24 : off + 40]
        end = off + 40 + plen if plen else len(data)  # 0: a jumbogram (RFC 2675)
        cut = end > len(data)
        end = min(end, len(data))
        p = off + 40
        for _ in range(8):
            if nh in _IPV6_EXT or nh == 51:
                if p + 2 > end:
                    return []
                size = (data[p + 1] + 2) * 4 if nh == 51 else (data[p + 1] + 1) * 8
                nh = data[p]
                p += size
            elif nh == 44:  # Fragment header (RFC 8200 §4.5)
                if p + 8 > end:
                    return []
                (fo,) = _U16(data, p + 2)
                (ident,) = _U32(data, p + 4)
                nh = data[p]
                p += 8
                if fo & 0xFFF9 == 0:  # offset 0 and M clear: an atomic fragment (RFC 6946)
                    continue
                key = (6, src, dst, ident)
                if cut:
                    self.fragments.pop(key, None)
                    return []
                whole = self._reassemble(key, fo & 0xFFF8, bool(fo & 1), data[p:end], ts)
                if whole is None:
                    return []
                return self._transport(nh, src, dst, whole, False, frame, ts, True)
            else:
                break
        else:
            return []
        if p > end:
            return []
        return self._transport(nh, src, dst, data[p:end], cut, frame, ts, hit)

    def _transport(
        self,
        proto: int,
        src: bytes,
        dst: bytes,
        seg: bytes,
        cut: bool,
        frame: int,
        ts: float | None,
        hit: bool,
    ) -> list[CallRecord]:
        if proto == 17:
            if not hit or len(seg) < 8:
                return []
            (ulen,) = _U16(seg, 4)
            if ulen < 8:
                return []
            if ulen > len(seg):  # the datagram is cut short: no partial message is read
                if cut:
                    self._cut(frame, seg[8:])
                return []
            payload = seg[8:ulen]
            if self.invites_only and not payload.lstrip(b"\r\n").startswith(b"INVITE"):
                return []  # a response or another request (most SIP frames): not parsed
            msg = datagram_message(payload)
            if msg is None or (self.invites_only and not is_invite(msg)):
                return []
            return [self._record(msg, frame, ts, "udp")]
        if proto == 6:
            if len(seg) < 20:
                return []
            doff = (seg[12] >> 4) * 4
            if doff < 20 or doff > len(seg):
                return []
            sport, dport, seq = _TCP_HEAD(seg)
            key = (src, sport, dst, dport)
            return self._tcp(key, seg[13], seq, seg[doff:], cut, frame, ts, hit)
        return []

    def _cut(self, frame: int, payload: bytes, held: bool = False) -> None:
        """A frame cut short at capture time: warn once per capture if it held SIP (or
        continued a message a stream ``held``)."""
        nl = payload.find(b"\n")
        head = payload[: nl if nl >= 0 else len(payload)].rstrip(b"\r")
        if not held and b"SIP/2.0" not in payload and not is_start_line(head):
            return
        self.cut_frames += 1
        if self.cut_frames == 1:
            self.warn(
                f"{self.name}: frame {frame} holds a SIP message cut short when it was captured "
                "(snapshot length): messages in cut frames are not verified"
            )

    def _record(self, msg: bytes, frame: int, ts: float | None, transport: str) -> CallRecord:
        return sip_record(
            self.name, msg, frame=frame, ts=ts, transport=transport, max_bytes=self.max_bytes
        )

    # -- TCP ---------------------------------------------------------------------------------

    def _tcp(
        self,
        key: Key,
        flags: int,
        seq: int,
        payload: bytes,
        cut: bool,
        frame: int,
        ts: float | None,
        hit: bool,
    ) -> list[CallRecord]:
        st = self.streams.get(key)
        if st is None:
            if not payload or not hit:
                return []
            st = self.streams[key] = _TcpStream(SipFramer(self.max_bytes))
            if len(self.streams) > MAX_TCP_STREAMS:
                old, _ = self.streams.popitem(last=False)
                self.holding.pop(old, None)
        elif not hit and key not in self.holding:
            return []  # nothing held here: this segment holds no SIP to add
        else:
            self.streams.move_to_end(key)
        st.last_time, st.last_frame = (ts if ts is not None else 0.0), frame
        if flags & 0x02:  # SYN takes one sequence number
            seq = (seq + 1) & 0xFFFFFFFF
        msgs: list[bytes] = []
        held = bool(st.framer.pending)
        if payload:
            msgs.extend(self._segment(st, seq, payload))
        if cut:
            # The rest of this segment was not captured: what is held now is partial.
            self._cut(frame, payload, held or bool(st.framer.pending))
            self._reset(st)
        if flags & 0x05:  # FIN or RST: the stream ends
            msgs.extend(st.framer.flush())
            self.streams.pop(key, None)
            self.holding.pop(key, None)
        elif st.framer.pending or st.ooo:
            if key not in self.holding:
                self.holding[key] = None
                if len(self.holding) > MAX_HOLDING_STREAMS:
                    old = next(iter(self.holding))
                    self.holding.pop(old)
                    if (o := self.streams.get(old)) is not None:
                        self._reset(o)
        else:
            self.holding.pop(key, None)
        return [
            self._record(m, frame, ts, "tcp") for m in msgs if not self.invites_only or is_invite(m)
        ]

    def _reset(self, st: _TcpStream) -> None:
        """Forget what a stream holds and resynchronize on its next segment."""
        st.framer = SipFramer(self.max_bytes)
        st.ooo.clear()
        st.ooo_bytes = 0
        st.next_seq = None

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
                st.ooo_bytes = 0
                st.next_seq = seq
                out.extend(self._feed(st, data))
            elif len(st.ooo) < _MAX_OOO_SEGMENTS and st.ooo_bytes + len(data) <= self.max_bytes:
                if seq not in st.ooo:
                    st.ooo[seq] = data  # out of order: wait for the gap to fill
                    st.ooo_bytes += len(data)
            else:  # the gap never filled: give up on the held message
                self._reset(st)
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
                    st.ooo_bytes -= len(d)
                    behind = 0 if ahead == 0 else (1 << 32) - ahead
                    if behind < len(d):
                        out.extend(st.framer.feed(d[behind:]))
                        st.next_seq = (st.next_seq + len(d) - behind) & 0xFFFFFFFF
                    break
            else:
                break
        return out

    # -- IP fragments ------------------------------------------------------------------------

    def _reassemble(
        self, key: tuple[object, ...], offset: int, more: bool, data: bytes, ts: float | None
    ) -> bytes | None:
        dg = self.fragments.get(key)
        if dg is None:
            dg = self.fragments[key] = _Datagram(first_time=ts if ts is not None else 0.0)
            if len(self.fragments) > MAX_FRAGMENTED_DATAGRAMS:
                self.fragments.popitem(last=False)
        if offset + len(data) > 65_535 or dg.size + len(data) > 2 * 65_535:
            self.fragments.pop(key, None)
            return None
        old = dg.parts.get(offset)
        dg.parts[offset] = data
        dg.size += len(data) - (len(old) if old is not None else 0)
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

    # -- time and the end --------------------------------------------------------------------

    def sweep(self, ts: float) -> list[CallRecord]:
        """Expire idle TCP streams (a message whose headers arrived before the stream went
        idle is still read, as at FIN) and stale fragments."""
        out: list[CallRecord] = []
        idle = [k for k, s in self.streams.items() if ts - s.last_time > STREAM_IDLE_SECONDS]
        for key in idle:
            st = self.streams.pop(key)
            self.holding.pop(key, None)
            out.extend(
                self._record(m, st.last_frame, st.last_time, "tcp")
                for m in st.framer.flush()
                if not self.invites_only or is_invite(m)
            )
        stale = [
            k for k, d in self.fragments.items() if ts - d.first_time > FRAGMENT_TIMEOUT_SECONDS
        ]
        for fkey in stale:
            self.fragments.pop(fkey)
        return out

    def finish(self) -> int:
        """End of the capture: forget the streams and fragments; return how many streams held
        part of an INVITE (it was cut by the end of the capture, and is not verified)."""
        partial = 0
        for key in self.holding:
            st = self.streams.get(key)
            if st is not None and is_invite(st.framer.held()):
                partial += 1
        self.streams.clear()
        self.holding.clear()
        self.fragments.clear()
        return partial
